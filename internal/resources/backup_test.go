package resources_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"golang.org/x/crypto/ssh"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// backupConfig is a data-stores VM and, when backup is not "", a hipchatdc_backup of it with
// the given extra arguments.
func backupConfig(t *testing.T, l *lab.Lab, name, addr, backup string) string {
	cfg := datastoreConfig(t, l, dsOpts{name: name, address: addr})
	if backup == "" {
		return cfg
	}
	return cfg + `
resource "hipchatdc_backup" "b" {
  host              = hipchatdc_datastore_node.data.ipv4_address
  postgres_database = hipchatdc_datastore_node.data.postgres_database
  nfs_export_path   = hipchatdc_datastore_node.data.nfs_export_path
  schedule          = "0 3 * * *"
` + backup + `
}
`
}

// backupDirs lists the guest's own complete backups (hipchatdc-<its host name>-<time>, with
// SHA256SUMS) under dir on the guest, oldest first.
func backupDirs(t *testing.T, l *lab.Lab, vm, dir string) []string {
	out := acctest.GuestExec(t, l, vm, `cd `+dir+` && for d in hipchatdc-"$(uname -n)"-*; do [ -f "$d/SHA256SUMS" ] && echo "$d"; done | sort`)
	return strings.Fields(out)
}

// destinationListing is every path under dir on the guest with the checksum of every file:
// equal listings mean no backup was removed or changed and no directory was left behind.
func destinationListing(t *testing.T, l *lab.Lab, vm, dir string) string {
	return acctest.GuestExec(t, l, vm, `cd `+dir+` && find . | sort && find . -type f -exec sha256sum {} + | sort`)
}

// checkBackupContents verifies, on the guest that holds it, the newest backup under dir as an
// operator would before trusting it: the checksums, the dump listed and holding the row, the
// archive holding the file, the snapshot holding the key, the configuration files, and no file
// readable by anyone but root.
func checkBackupContents(t *testing.T, l *lab.Lab, vm, dir string) error {
	dirs := backupDirs(t, l, vm, dir)
	if len(dirs) == 0 {
		return fmt.Errorf("no complete backup under %s on %s", dir, vm)
	}
	b := dir + "/" + dirs[len(dirs)-1]
	for _, c := range []struct{ cmd, want string }{
		{`cd ` + b + ` && sha256sum -c --quiet SHA256SUMS && echo verified`, "verified"},
		{`cd ` + b + ` && cut -c67- SHA256SUMS | grep -c -E '^(postgres\.dump|postgres-roles\.sql|redis\.rdb|nfs\.tar\.gz|config/datastore/etc/redis/redis\.conf)$'`, "5"},
		{`pg_restore --list ` + b + `/postgres.dump | grep -c 'TABLE DATA public backup_probe'`, "1"},
		{`pg_restore --data-only --table=backup_probe --file=- ` + b + `/postgres.dump | grep -c 'row-from-the-test'`, "1"},
		{`grep -c 'CREATE ROLE hipchat_user' ` + b + `/postgres-roles.sql`, "1"},
		{`tar -tzf ` + b + `/nfs.tar.gz | grep -c -x './probe/file.txt'`, "1"},
		{`tar -xzOf ` + b + `/nfs.tar.gz ./probe/file.txt`, "file-from-the-test"},
		{`grep -c -a 'backup-probe-key' ` + b + `/redis.rdb`, "1"},
		{`find ` + b + ` -perm /077 | wc -l`, "0"},
	} {
		if got := acctest.GuestExec(t, l, vm, c.cmd); got != c.want {
			return fmt.Errorf("%s on %s: got %q, want %q", c.cmd, vm, got, c.want)
		}
	}
	return nil
}

// runBackup runs the backup program on the guest as cron does, and checks its outcome. A run
// takes several seconds on a loaded machine: the bound is generous, nothing waits for it.
func runBackup(t *testing.T, l *lab.Lab, vm string, wantOK bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g, err := l.WaitGuest(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Exec(ctx, "/etc/hipchatdc/backup/run")
	if (err == nil) != wantOK {
		t.Fatalf("backup run on %s: %v (want success %t): %s", vm, err, wantOK, out)
	}
}

func TestAccBackup_localAndRemote(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-bk"
	addr := acctest.LabAddress(t, l, false, 110)
	dest := "/var/backups/hipchatdc"
	on := func(cmd string) string { return acctest.GuestExec(t, l, name, cmd) }
	local := fmt.Sprintf("  retention = 2\n  destination_path = %q", dest)
	local3 := fmt.Sprintf("  retention = 3\n  destination_path = %q", dest)
	// The lock the backup program takes, and the file where the run holding it says since when.
	const lock, running = "/run/hipchatdc-backup.lock", "/run/hipchatdc-backup.running"

	// The remote destination: another guest on the lab network, reached with a key of its own
	// and its host key pinned.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	remote, err := l.StartGuestVM(ctx, "tf-bk-remote", lab.KindDebian)
	if err != nil {
		t.Fatal(err)
	}
	key := acctest.NewPrivateKey(t, "")
	signer, err := ssh.ParsePrivateKey([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Exec(ctx, "printf '%s\\n' '"+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))+"' >>/root/.ssh/authorized_keys && mkdir -p /srv/backups"); err != nil {
		t.Fatal(err)
	}
	// The remote guest also stands in for the node whose configuration files each apply
	// copies into the backups (a debian guest has the node's /etc/network/interfaces).
	remoteCfg := fmt.Sprintf("  retention = 2\n  destination_path = \"/srv/backups\"\n  destination_host = %q\n  destination_private_key = %q\n  destination_host_key = %q\n  node_host = %q",
		remote.Address(), key, remote.HostKey(), remote.Address())
	onRemote := func(cmd string) string {
		out, err := remote.Exec(context.Background(), cmd)
		if err != nil {
			t.Fatalf("remote guest: %s: %v: %s", cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	var before []string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{Config: backupConfig(t, l, name, addr, "")},
			{
				// Real data through the data-stores guest: a row, a key, a file on the share.
				PreConfig: func() {
					on(`runuser -u postgres -- psql -X -q -d hipchat_postgres -c "CREATE TABLE backup_probe (v text); INSERT INTO backup_probe VALUES ('row-from-the-test')"`)
					on(`REDISCLI_AUTH=redis-secret-1 redis-cli SET backup-probe-key value >/dev/null`)
					on(`mkdir -p /srv/hipchat-nfs/probe && echo file-from-the-test >/srv/hipchat-nfs/probe/file.txt && mkdir -p ` + dest)
				},
				Config: backupConfig(t, l, name, addr, local),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_backup.b", "last_backup_ok", "true"),
					resource.TestCheckResourceAttr("hipchatdc_backup.b", "last_backup_error", ""),
					resource.TestCheckResourceAttr("hipchatdc_backup.b", "drift.#", "0"),
					func(s *terraform.State) error {
						// Named after the VM: retention counts only its own.
						if got, want := s.RootModule().Resources["hipchatdc_backup.b"].Primary.Attributes["last_backup"], `^hipchatdc-`+regexp.QuoteMeta(on("uname -n"))+`-\d{8}T\d{6}Z$`; !regexp.MustCompile(want).MatchString(got) {
							return fmt.Errorf("last_backup = %q, want a match of %s", got, want)
						}
						if got := on(`grep -c '^0 3 \* \* \* root /etc/hipchatdc/backup/run' /etc/cron.d/hipchatdc-backup`); got != "1" {
							return fmt.Errorf("cron line: %s", got)
						}
						if got := on(`kill -0 "$(cat /run/crond.pid)" && echo running`); got != "running" {
							return fmt.Errorf("cron: %s", got)
						}
						if got, want := s.RootModule().Resources["hipchatdc_backup.b"].Primary.Attributes["last_backup"], backupDirs(t, l, name, dest); len(want) != 1 || got != want[0] {
							return fmt.Errorf("last_backup = %q, the destination has %v", got, want)
						}
						return checkBackupContents(t, l, name, dest)
					},
				),
			},
			{
				// Two more runs, as cron starts them: retention keeps the newest two of this VM's
				// and leaves alone the older backups of another deployment sharing the
				// destination, and a directory of the old unprefixed name.
				PreConfig: func() {
					on(`cd ` + dest + ` && for d in hipchatdc-other-data-20200101T000000Z hipchatdc-20200101T000000Z; do mkdir -m 0700 $d && echo other >$d/postgres.dump && (cd $d && sha256sum postgres.dump >SHA256SUMS); done`)
					before = backupDirs(t, l, name, dest)
					runBackup(t, l, name, true)
					runBackup(t, l, name, true)
				},
				Config: backupConfig(t, l, name, addr, local),
				Check: func(*terraform.State) error {
					after := backupDirs(t, l, name, dest)
					if len(after) != 2 || len(before) != 1 || after[0] <= before[0] {
						return fmt.Errorf("retention 2: before the runs %v, after %v", before, after)
					}
					if got := on(`cd ` + dest + ` && ls -d hipchatdc-other-data-20200101T000000Z hipchatdc-20200101T000000Z | wc -l`); got != "2" {
						return fmt.Errorf("retention removed backups that are not this VM's: %s", on(`ls `+dest))
					}
					return nil
				},
			},
			{
				// A run that fails with the destination there (the database refuses
				// connections, so pg_dump fails after the run made its directory): the earlier
				// backups, this VM's and the other deployment's, are untouched and nothing of
				// the failed run is left. The plan shows the failure; the apply runs a backup,
				// which succeeds again.
				PreConfig: func() {
					listing := destinationListing(t, l, name, dest)
					on(`runuser -u postgres -- psql -X -q -d postgres -c "ALTER DATABASE hipchat_postgres ALLOW_CONNECTIONS false"`)
					runBackup(t, l, name, false)
					on(`runuser -u postgres -- psql -X -q -d postgres -c "ALTER DATABASE hipchat_postgres ALLOW_CONNECTIONS true"`)
					if got := destinationListing(t, l, name, dest); got != listing {
						t.Errorf("the failed run changed the destination:\nbefore:\n%s\nafter:\n%s", listing, got)
					}
				},
				Config: backupConfig(t, l, name, addr, local),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_backup.b", plancheck.ResourceActionUpdate),
					driftContains{"hipchatdc_backup.b", "failed: postgres: "},
				}},
				Check: resource.TestCheckResourceAttr("hipchatdc_backup.b", "last_backup_ok", "true"),
			},
			{
				// The destination goes away (its disk unmounted): the next scheduled run fails,
				// the plan shows it as drift with the reason, and the apply runs a backup, which
				// fails naming the attribute and the reason.
				PreConfig: func() {
					before = backupDirs(t, l, name, dest)
					on(`mv ` + dest + ` ` + dest + `.away`)
					runBackup(t, l, name, false)
				},
				Config: backupConfig(t, l, name, addr, local),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_backup.b", plancheck.ResourceActionUpdate),
					driftContains{"hipchatdc_backup.b", "failed: destination: " + dest + " does not exist or cannot be reached"},
				}},
				ExpectError: regexp.MustCompile(`(?s)Backup failed.*destination_path.*` + acctest.Wrapped("failed: destination: "+dest+" does not exist or cannot be reached")),
			},
			{
				// Nothing was lost: the failed runs deleted no backup. The disk is back, and
				// the next apply makes a backup again.
				PreConfig: func() {
					on(`mv ` + dest + `.away ` + dest)
					if after := backupDirs(t, l, name, dest); strings.Join(after, " ") != strings.Join(before, " ") {
						t.Errorf("backups before the failed runs %v, after %v", before, after)
					}
				},
				Config: backupConfig(t, l, name, addr, local),
				Check:  resource.TestCheckResourceAttr("hipchatdc_backup.b", "last_backup_ok", "true"),
			},
			{
				// A destination without room for a backup (a 4 MiB disk holding two older
				// backups): the run refuses before writing, naming the attribute and the
				// space, and the backups there stay.
				PreConfig: func() {
					on(`mkdir -p /var/backups/small && mount -t tmpfs -o size=4m small /var/backups/small && cp -a ` + dest + `/hipchatdc-* /var/backups/small/`)
					before = backupDirs(t, l, name, "/var/backups/small")
				},
				Config:      backupConfig(t, l, name, addr, "  retention = 1\n  destination_path = \"/var/backups/small\""),
				ExpectError: regexp.MustCompile(`(?s)Backup failed.*destination_path.*` + acctest.Wrapped("failed: destination: /var/backups/small has ") + `\d+` + acctest.Wrapped(" KiB free, a backup needs about")),
			},
			{
				// A run that cannot even make its temporary directory (/tmp read-only) after a
				// successful one: the apply reports this run's failure, not the earlier
				// backup as this run's. Before it: the full disk kept its backups, the failed
				// run deleted nothing, retention = 1 notwithstanding.
				PreConfig: func() {
					if after := backupDirs(t, l, name, "/var/backups/small"); len(before) != 2 || strings.Join(after, " ") != strings.Join(before, " ") {
						t.Errorf("backups on the full destination before the failed run %v, after %v", before, after)
					}
					on(`mount -t tmpfs -o ro,size=1m hipchatdc-test-ro /tmp`)
				},
				Config: backupConfig(t, l, name, addr, local3),
				ExpectError: regexp.MustCompile(`(?s)Backup failed.*` +
					acctest.Wrapped("failed: temporary directory: cannot create one in /tmp")),
			},
			{
				// A run that holds the lock (a scheduled one hanging since 2026-01-01): the
				// provider's run does not wait for it and says since when it runs.
				PreConfig: func() {
					on(`umount /tmp`)
					on(`rm -f ` + running + ` && (setsid bash -c 'exec 9>` + lock + `; flock 9; echo "$$ 2026-01-01T00:00:00Z" >` + running + `; exec sleep 3600' </dev/null >/dev/null 2>&1 & echo $! >/run/test-lock-holder.pid) && ` +
						`i=0; until [ -s ` + running + ` ]; do i=$((i+1)); [ $i -lt 600 ] || { echo "the lock holder did not start"; exit 1; }; sleep 0.1; done`)
				},
				Config: backupConfig(t, l, name, addr, local),
				ExpectError: regexp.MustCompile(`(?s)Cannot run a backup.*` +
					acctest.Wrapped("another backup has been running since 2026-01-01T00:00:00Z")),
			},
			{
				// To another host over SSH with a pinned host key, once the hanging run is gone.
				PreConfig: func() {
					on(`kill "$(cat /run/test-lock-holder.pid)" && i=0; until flock -n ` + lock + ` true; do i=$((i+1)); [ $i -lt 600 ] || { echo "the lock was not released"; exit 1; }; sleep 0.1; done`)
				},
				Config: backupConfig(t, l, name, addr, remoteCfg),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_backup.b", "last_backup_ok", "true"),
					resource.TestCheckResourceAttr("hipchatdc_backup.b", "drift.#", "0"),
					func(*terraform.State) error {
						if got := on(`stat -c %a /etc/hipchatdc/backup/id_destination`); got != "600" {
							return fmt.Errorf("the destination key's mode is %s", got)
						}
						if got := onRemote(`cd /srv/backups/hipchatdc-` + on("uname -n") + `-* && sha256sum -c --quiet SHA256SUMS && pg_restore --list postgres.dump | grep -c 'TABLE DATA public backup_probe'`); got != "1" {
							return fmt.Errorf("remote backup: %q", got)
						}
						if got := onRemote(`cd /srv/backups/hipchatdc-* && cmp config/node/etc/network/interfaces /etc/network/interfaces && grep -c ' config/node/etc/network/interfaces$' SHA256SUMS`); got != "1" {
							return fmt.Errorf("the node's configuration file in the remote backup: %q", got)
						}
						return nil
					},
				),
			},
		},
	})
}

func TestAccBackup_badInput(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	cfg := func(extra string) string {
		if !strings.Contains(extra, "destination_path") {
			extra += "\n  destination_path = \"/var/backups/hipchatdc\""
		}
		return acctest.ProviderConfigFor(l) + `
resource "hipchatdc_backup" "b" {
  host              = "192.0.2.10"
  postgres_database = "hipchat_postgres"
` + extra + `
}
`
	}
	for _, c := range []struct{ extra, want string }{
		{`  schedule = "0 3 * *"`, `(?s)Invalid schedule.*schedule = "0 3 \* \*".*` + acctest.Wrapped(`schedule = "0 3 * *": it has 4 fields, cron takes 5`)},
		{`  schedule = "0 25 * * *"`, `(?s)Invalid schedule.*` + acctest.Wrapped(`schedule = "0 25 * * *": hour "25": 25 is outside 0-23`)},
		{"  schedule = \"@daily\"\n  destination_host = \"backup.example.com\"", `(?s)Missing destination_private_key.*` + acctest.Wrapped(`a remote destination needs destination_private_key`)},
		// A local destination in the share would put every backup, secrets included, on the
		// share and into each next archive of it.
		{"  schedule = \"@daily\"\n  destination_path = \"/srv/hipchat-nfs/backups\"", `(?s)Backup destination inside the data stores.*` + acctest.Wrapped(`destination_path = "/srv/hipchat-nfs/backups" is inside /srv/hipchat-nfs`)},
		{"  schedule = \"@daily\"\n  nfs_export_path = \"/data/share\"\n  destination_path = \"/var/lib/redis/b\"", `(?s)Backup destination inside the data stores.*` + acctest.Wrapped(`destination_path = "/var/lib/redis/b" is inside /var/lib/redis`)},
		// A host that ssh would read as an option.
		{"  schedule = \"@daily\"\n  destination_host = \"-oProxyCommand\"\n  destination_private_key = \"k\"\n  destination_host_key = \"k\"", `(?s)Invalid destination_host.*` + acctest.Wrapped(`destination_host = "-oProxyCommand": a host name or IPv4 address`)},
	} {
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps:                    []resource.TestStep{{Config: cfg(c.extra), PlanOnly: true, ExpectError: regexp.MustCompile(c.want)}},
		})
	}
}

// driftContains checks that the refreshed state the plan starts from has a drift entry
// containing text.
type driftContains struct{ address, text string }

func (d driftContains) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != d.address {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		drift, _ := before["drift"].([]any)
		for _, e := range drift {
			if s, _ := e.(string); strings.Contains(s, d.text) {
				return
			}
		}
		resp.Error = fmt.Errorf("%s: drift before the change is %v; want an entry containing %q", d.address, drift, d.text)
		return
	}
	resp.Error = fmt.Errorf("%s is not in the plan", d.address)
}
