package resources_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

type dsOpts struct {
	name, kind, address string
	database, user      string
	nfsDisk, cpus       int
	redisPort           int
	install             bool
	extra               string
}

func datastoreConfig(t *testing.T, l *lab.Lab, o dsOpts) string {
	v := l.VSphere()
	if o.kind == "" {
		o.kind = lab.KindDebian
	}
	if o.database == "" {
		o.database = "hipchat_postgres"
	}
	if o.user == "" {
		o.user = "hipchat_user"
	}
	if o.nfsDisk == 0 {
		o.nfsDisk = 40
	}
	if o.cpus == 0 {
		o.cpus = 8
	}
	if o.redisPort == 0 {
		o.redisPort = 6379
	}
	return acctest.ProviderConfigFor(l) + fmt.Sprintf(`
resource "hipchatdc_datastore_node" "data" {
  name              = %q
  datacenter        = %q
  cluster           = %q
  datastore         = %q
  network           = %q
  ova_path          = %q
  num_cpus          = %d
  disk_size         = 60
  nfs_disk_size     = %d
  hostname          = "%s.example.com"
  ipv4_address      = %q
  ipv4_netmask      = 24
  ipv4_gateway      = %q
  ntp_servers       = ["time1.example.com"]
  install_packages  = %t
  nfs_server        = "ganesha"
  redis_port        = %d
  redis_password    = "redis-secret-1"
  postgres_database = %q
  postgres_user     = %q
  postgres_password = "pg-secret-1"
%s
}
`, o.name, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, o.kind, 60), o.cpus, o.nfsDisk, o.name, o.address,
		acctest.Gateway(l, false), o.install, o.redisPort, o.database, o.user, o.extra)
}

func TestAccDatastoreNode_servesTheNode(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-ds"
	addr := acctest.LabAddress(t, l, false, 205)
	// A bound for two guests' boots, which take longer while other tests run beside this one.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A Hipchat node's point of view: another guest on the lab network.
	client, err := l.StartGuestVM(ctx, "tf-ds-client", lab.KindNode)
	if err != nil {
		t.Fatal(err)
	}
	// Another guest on the same network, outside allowed_cidr: the guest firewall shuts it out.
	outsider, err := l.StartGuestVM(ctx, "tf-ds-outsider", lab.KindDebian)
	if err != nil {
		t.Fatal(err)
	}
	fromNode := func(cmd string) (string, error) {
		out, err := client.Exec(context.Background(), cmd)
		return strings.TrimSpace(string(out)), err
	}
	cfg := datastoreConfig(t, l, dsOpts{name: name, address: addr, extra: `  allowed_cidr = "` + client.Address() + `/32"`})
	ports := func(from *lab.Guest, want string) error {
		for _, port := range []int{22, 6379, 5432, 2049} {
			if got := acctest.Probe(t, from, addr, port); got != want {
				return fmt.Errorf("port %d of the data-store VM from %s: %s, want %s", port, from.Address(), got, want)
			}
		}
		return nil
	}
	// The lab's Postgres is not the guide's 9.5 nor its Redis the guide's 3.2: the create says
	// so once for each, later runs do not.
	var w planWarnings
	var ssh guest.Tally
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.CountSSH(&ssh, w.factories()),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					w.countAnywhere("postgres_version", 1),
					w.countAnywhere("redis_version", 1),
					func(*terraform.State) error {
						// Given by the apply that created the node, naming both versions.
						for _, g := range w.everywhere() {
							if strings.Contains(g, `"postgres_version"`) && (!strings.HasPrefix(g, "apply: ") || !regexp.MustCompile(`runs Postgres \d+\.\d+[^;]*; the small-scale guide names 9\.5`).MatchString(g)) {
								return fmt.Errorf("the create's Postgres version warning: %q", g)
							}
							if strings.Contains(g, `"redis_version"`) && (!strings.HasPrefix(g, "apply: ") || !regexp.MustCompile(`runs Redis \d+\.\d+\.\d+; the small-scale guide names 3\.2\.`).MatchString(g)) {
								return fmt.Errorf("the create's Redis version warning: %q", g)
							}
						}
						return nil
					},
					func(s *terraform.State) error {
						// The version in the state is the one the guest's redis-server says it is.
						want := acctest.GuestExec(t, l, name, `redis-server --version | sed -n 's/.* v=\([^ ]*\) .*/\1/p'`)
						if got := s.RootModule().Resources["hipchatdc_datastore_node.data"].Primary.Attributes["redis_version"]; want == "" || got != want {
							return fmt.Errorf("redis_version = %q, redis-server --version on the guest says %q", got, want)
						}
						return nil
					},
					// The data-store VM is in UTC and uses the configured NTP server, as the guide
					// asks of the Postgres instance (the lab's guest starts in Europe/Berlin).
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "timezone", "UTC"),
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "ntp_servers.#", "1"),
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "ntp_servers.0", "time1.example.com"),
					func(*terraform.State) error {
						for cmd, want := range map[string]string{
							"date +%Z":          "UTC",
							"cat /etc/timezone": "Etc/UTC",
							"sed -n 's/^NTP=//p' /etc/systemd/timesyncd.conf": "time1.example.com",
						} {
							if got := acctest.GuestExec(t, l, name, cmd); got != want {
								return fmt.Errorf("on the data-store guest, %s says %q, want %q", cmd, got, want)
							}
						}
						return nil
					},
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "redis_host", addr),
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "nfs_export", addr+":/srv/hipchat-nfs"),
					resource.TestMatchResourceAttr("hipchatdc_datastore_node.data", "postgres_version", regexp.MustCompile(`^\d+\.\d+`)),
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "drift.#", "0"),
					func(*terraform.State) error {
						// Redis with the password works, without it NOAUTH.
						if out, err := fromNode(fmt.Sprintf(`REDISCLI_AUTH=redis-secret-1 redis-cli -h %s -p 6379 SET hipchat ok && REDISCLI_AUTH=redis-secret-1 redis-cli -h %s GET hipchat`, addr, addr)); err != nil || !strings.HasSuffix(out, "ok") {
							return fmt.Errorf("redis with password: %q %w", out, err)
						}
						if out, _ := fromNode(fmt.Sprintf(`redis-cli -h %s GET hipchat`, addr)); !strings.Contains(out, "NOAUTH") {
							return fmt.Errorf("redis without password answered %q, want NOAUTH", out)
						}
						// Postgres as the user: UTF8, 1000 connections, not a superuser, can create.
						psql := fmt.Sprintf(`PGPASSWORD=pg-secret-1 psql -X -A -t -h %s -U hipchat_user -d hipchat_postgres -c `, addr)
						for q, want := range map[string]string{
							"'SHOW server_encoding'": "UTF8",
							"'SHOW max_connections'": "1000",
							"'SHOW timezone'":        "UTC",
							"'SELECT rolsuper FROM pg_roles WHERE rolname = current_user'": "f",
							"'CREATE TABLE IF NOT EXISTS rooms (id int); SELECT 1'":        "1",
						} {
							if out, err := fromNode(psql + q); err != nil || !strings.HasSuffix(out, want) {
								return fmt.Errorf("psql %s: %q %w, want %s", q, out, err, want)
							}
						}
						// NFS v4: the node writes a file anonymously and reads it back.
						if out, err := fromNode(fmt.Sprintf(`echo shared > /tmp/probe && nfs-cp /tmp/probe 'nfs://%s/srv/hipchat-nfs/probe?version=4' && nfs-cp 'nfs://%s/srv/hipchat-nfs/probe?version=4' /tmp/back && cat /tmp/back`, addr, addr)); err != nil || !strings.HasSuffix(out, "\nshared") {
							return fmt.Errorf("nfs: %q %w", out, err)
						}
						return nil
					},
					// The guest firewall: the node reaches SSH, Redis, Postgres and NFS; a guest
					// outside allowed_cidr reaches none of them (the provider, on the host, got
					// in over SSH for this apply's read-back and does for every step below).
					func(*terraform.State) error {
						return errors.Join(ports(client, "open"), ports(outsider, "refused"))
					},
				),
			},
			{
				// Re-apply: nothing planned, nothing changed, nothing restarted.
				// Nor is the version warning said again: it is not news.
				PreConfig: func() {
					ssh.Reset()
					w.reset()
				},
				Config:           cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: resource.ComposeAggregateTestCheckFunc(noChangingCommands(&ssh),
					w.countAnywhere("postgres_version", 0), w.countAnywhere("redis_version", 0)),
			},
			{
				// Someone changes max_connections and a Redis persistence setting by hand:
				// the plan shows it, and apply restores the guide's values.
				PreConfig: func() {
					acctest.GuestExec(t, l, name, `REDISCLI_AUTH=redis-secret-1 redis-cli CONFIG SET appendfsync always >/dev/null && runuser -u postgres -- psql -X -q -c "ALTER SYSTEM SET max_connections = 500" && pg_ctlcluster $(ls /usr/lib/postgresql | sort -V | tail -1) main restart`)
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					if got := acctest.GuestExec(t, l, name, `runuser -u postgres -- psql -X -A -t -c "SHOW max_connections"`); got != "1000" {
						return fmt.Errorf("max_connections %s after apply", got)
					}
					if got := acctest.GuestExec(t, l, name, `REDISCLI_AUTH=redis-secret-1 redis-cli CONFIG GET appendfsync | tail -1`); got != "everysec" {
						return fmt.Errorf("appendfsync %s after apply", got)
					}
					return nil
				},
			},
			{
				// Someone moves the Postgres instance out of UTC with ALTER SYSTEM, and the
				// Hipchat user's sessions with ALTER ROLE: the files stay the provider's, the
				// running server's timezone and the role's setting show it, and apply sets both
				// back.
				PreConfig: func() {
					acctest.GuestExec(t, l, name, `runuser -u postgres -- psql -X -q -c "ALTER SYSTEM SET timezone = 'Europe/Berlin'" -c "SELECT pg_reload_conf()" -c "ALTER ROLE hipchat_user IN DATABASE hipchat_postgres SET timezone = 'America/New_York'"`)
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionUpdate),
					driftBefore{"hipchatdc_datastore_node.data", `postgres: timezone is "Europe/Berlin" (set in /var/lib/postgresql/`},
					driftBefore{"hipchatdc_datastore_node.data", `postgres: role hipchat_user in database hipchat_postgres sets timezone "America/New_York" for the sessions of hipchat_user in hipchat_postgres`},
				}},
				Check: func(*terraform.State) error {
					q := fmt.Sprintf(`PGPASSWORD=pg-secret-1 psql -X -A -t -h %s -U hipchat_user -d hipchat_postgres -c 'SHOW timezone'`, addr)
					if out, err := fromNode(q); err != nil || out != "UTC" {
						return fmt.Errorf("SHOW timezone from the node after apply: %q %w, want UTC", out, err)
					}
					return nil
				},
			},
			{
				// A firewall rule deleted by hand: the node is shut out of Redis, the plan says
				// which rule is missing, and the apply puts it back.
				PreConfig: func() {
					acctest.GuestExec(t, l, name, `nft -a list chain inet hipchatdc input | sed -n 's/.*comment "Redis" # handle \([0-9]*\)$/\1/p' | xargs -I{} nft delete rule inet hipchatdc input handle {}`)
					if got := acctest.Probe(t, client, addr, 6379); got != "refused" {
						t.Errorf("Redis from the node with its rule deleted: %s", got)
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionUpdate),
					driftBefore{"hipchatdc_datastore_node.data", "firewall: the loaded table lacks `tcp dport 6379 ip saddr " + client.Address() + ` accept comment "Redis"` + "`"},
				}},
				Check: func(*terraform.State) error { return ports(client, "open") },
			},
			// Import reads back the VM, its identity, Redis (with its password), the NFS export,
			// Postgres's one database and its owner, and whether the guest firewall is on; the
			// Postgres password cannot be read, nor is allowed_cidr (the network of ipv4_address
			// is assumed).
			importVerify("hipchatdc_datastore_node.data", "postgres_password", "allowed_cidr"),
		},
	})
}

func TestAccDatastoreNode_rejectedAtPlan(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	addr := acctest.LabAddress(t, l, false, 206)
	for _, c := range []struct {
		o    dsOpts
		want string
	}{
		{dsOpts{database: "hipchat"}, `(?s)postgres_database.*7 characters`},
		{dsOpts{database: "h234567890123456789012345678901"}, `(?s)postgres_database.*31 characters`},
		{dsOpts{database: "1hipchat_db"}, `(?s)postgres_database.*start with a letter`},
		{dsOpts{database: "hipchat db1"}, `(?s)postgres_database.*may only contain`},
		{dsOpts{database: "hipchät_db1"}, `(?s)postgres_database.*may only contain`},
		{dsOpts{user: "postgres"}, `(?s)postgres_user.*superuser`},
		{dsOpts{nfsDisk: 39}, `(?s)nfs_disk_size = 39.*at least 40 GB`},
		{dsOpts{cpus: 4}, `(?s)num_cpus = 4.*data stores node needs at least 8 vCPU`},
		{dsOpts{redisPort: 70000}, `(?s)redis_port.*between 1 and 65535`},
		{dsOpts{extra: `  nfs_device = "/dev/sdb;reboot"`}, `(?s)nfs_device.*must be a /dev/ path`},
		{dsOpts{extra: `  firewall_extra_ports = ["tcp/9100 from 10.0.0.0/24", "sctp/9"]`}, `(?s)Invalid firewall_extra_ports entry.*` + wrapped(`firewall_extra_ports[1]: "sctp/9" is not PROTO/PORT`).String()},
		{dsOpts{extra: `  firewall_ssh_sources = ["192.0.2.0/24", "10.0.0.0/33"]`}, `(?s)Invalid firewall_ssh_sources entry.*` + wrapped(`firewall_ssh_sources[1]: "10.0.0.0/33" is not an IPv4 address or network`).String()},
	} {
		c.o.name, c.o.address = "tf-ds-bad", addr
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps: []resource.TestStep{{
				Config:      datastoreConfig(t, l, c.o),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(c.want),
			}},
		})
	}
	if _, ok := acctest.VM(t, "tf-ds-bad"); ok {
		t.Fatal("a VM was created for a rejected plan")
	}
}

func TestAccDatastoreNode_missingPackages(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-ds-bare"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config:      datastoreConfig(t, l, dsOpts{name: name, kind: lab.KindDebianBare, address: acctest.LabAddress(t, l, false, 207)}),
			ExpectError: regexp.MustCompile(`(?s)install_packages.*redis-server.*postgresql`),
		}, {
			// Nothing half-configured: the guest's /etc overlay holds no Redis, Postgres or
			// NFS file (the network identity, applied first, is all that changed).
			PreConfig: func() {
				g, ok := l.Guest(name)
				if !ok {
					t.Fatal("no guest")
				}
				for _, f := range []string{"redis", "postgresql", "ganesha", "exports"} {
					if _, err := os.Stat(filepath.Join(g.Dir(), "etc", "upper", f)); !os.IsNotExist(err) {
						t.Errorf("/etc/%s was written on a guest missing packages (%v)", f, err)
					}
				}
			},
			Config:      datastoreConfig(t, l, dsOpts{name: name, kind: lab.KindDebianBare, address: acctest.LabAddress(t, l, false, 207)}),
			ExpectError: regexp.MustCompile(`(?s)install_packages.*redis-server`),
		}},
	})
}

// TestAccDatastoreNode_nfsDevice gives the data stores a block device for the NFS volume (a
// loop device standing in for the VM's second disk), by a symbolic link to it, as users name
// disks by a stable link (/dev/disk/by-id/...): the apply formats it (ext4), mounts it above the export and adds
// it to /etc/fstab, and nfs-ganesha exports the directory on it. A volume unmounted by hand
// shows as drift; the apply mounts it again without formatting, so what the nodes wrote on it
// is still there.
func TestAccDatastoreNode_nfsDevice(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	dev := loopDevice(t, 64<<20)
	// The guests see the host's /dev. Named like a /dev/disk/by-path link (not under
	// /dev/disk, which this machine has not got).
	link := "/dev/hipchatdc-lab-pci-0000:03:00.0-scsi-0:0:1:0-" + filepath.Base(dev)
	_ = os.Remove(link) // left by a run that was killed
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(link) })
	other := loopDevice(t, 64<<20)
	name := "tf-ds-volume"
	cfg := datastoreConfig(t, l, dsOpts{name: name, address: acctest.LabAddress(t, l, false, 217), extra: fmt.Sprintf("  nfs_device        = %q\n", link)})
	onGuest := func(cmd string) string { return acctest.GuestExec(t, l, name, cmd) }
	volume := func(*terraform.State) error {
		// The last line: the lab's own stand-in volume (a tmpfs) is mounted on /srv below it.
		if got, want := onGuest("findmnt -n -o SOURCE,FSTYPE --mountpoint /srv | tail -n 1 | tr -s ' '"), dev+" ext4"; got != want {
			return fmt.Errorf("/srv is mounted from %q, want %q", got, want)
		}
		if got := onGuest("awk '$2 == \"/srv\"' /etc/fstab"); !strings.HasPrefix(got, link+"\t/srv\text4\t") {
			return fmt.Errorf("/etc/fstab line for /srv: %q", got)
		}
		// The export directory is on the volume, and nfs-ganesha serves it (over NFS v4, from
		// the guest's own address).
		if got := onGuest("df --output=source /srv/hipchat-nfs | tail -n 1"); got != dev {
			return fmt.Errorf("/srv/hipchat-nfs is on %q, want %s", got, dev)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "nfs_device", link),
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "drift.#", "0"),
					volume,
					func(*terraform.State) error {
						if got := onGuest("blkid -o value -s LABEL " + dev); got != "hipchat-nfs" {
							return fmt.Errorf("%s has label %q, want hipchat-nfs (formatted by the provider)", dev, got)
						}
						addr := acctest.LabAddress(t, l, false, 217)
						out := onGuest(fmt.Sprintf(`echo shared > /tmp/probe && nfs-cp /tmp/probe 'nfs://%s/srv/hipchat-nfs/probe?version=4' >/dev/null && cat /srv/hipchat-nfs/probe`, addr))
						if out != "shared" {
							return fmt.Errorf("a file written over NFS reads %q on the volume", out)
						}
						return nil
					},
				),
			},
			{
				// nfs-ganesha stopped and the volume unmounted by hand: the plan shows it, and
				// the apply mounts the same file system again (the file written over NFS is
				// still there) and starts nfs-ganesha.
				PreConfig: func() {
					onGuest("pkill -x ganesha.nfsd; for i in $(seq 200); do pgrep -x ganesha.nfsd >/dev/null || break; sleep 0.1; done; umount /srv && ! findmnt -n --mountpoint /srv --source " + dev)
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					volume,
					func(*terraform.State) error {
						if got := onGuest("cat /srv/hipchat-nfs/probe"); got != "shared" {
							return fmt.Errorf("after the remount the volume's file reads %q: it was formatted again", got)
						}
						if got := onGuest("pgrep -x ganesha.nfsd >/dev/null && echo running"); got != "running" {
							return fmt.Errorf("nfs-ganesha is not running after the apply")
						}
						return nil
					},
				),
			},
			{
				// The /etc/fstab line removed by hand, the volume still mounted: the apply
				// writes the line again and leaves the mount alone (no second mount on top).
				PreConfig: func() { onGuest("sed -i '\\|/srv|d' /etc/fstab") },
				Config:    cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					volume,
					func(*terraform.State) error {
						if got := onGuest("findmnt -n -o SOURCE --mountpoint /srv | grep -c -x " + dev); got != "1" {
							return fmt.Errorf("%s is mounted %s times on /srv, want once", dev, got)
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
			{
				// Another device for the volume would be mounted over this one, hiding the
				// nodes' files: refused before anything changes.
				Config:      strings.Replace(cfg, link, other, 1),
				ExpectError: regexp.MustCompile(`(?s)/srv has ` + dev + ` mounted: mounting ` + other + ` over it\s+would hide the files`),
			},
			{
				// An export whose parent is a folder in use: the volume would be mounted over
				// /var/lib. Refused too.
				Config:      strings.Replace(cfg, link+"\"\n", other+"\"\n  nfs_export_path = \"/var/lib/hipchat-nfs\"\n", 1),
				ExpectError: regexp.MustCompile(`(?s)/var/lib is not empty: mounting ` + other + ` over it would\s+hide what is in it`),
			},
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					volume,
					func(*terraform.State) error {
						if got := onGuest("blkid -o value -s TYPE " + other + " || true"); got != "" {
							return fmt.Errorf("the refused device was formatted (%s)", got)
						}
						if got := onGuest("cat /srv/hipchat-nfs/probe"); got != "shared" {
							return fmt.Errorf("the volume's file reads %q", got)
						}
						return nil
					},
				),
			},
			// Import reads the volume back too: the device named in /etc/fstab for the mount
			// point, when it is the one mounted there.
			importVerify("hipchatdc_datastore_node.data", "postgres_password"),
		},
	})
}

// loopDevice attaches a sparse file of size bytes as a loop device, detached at the end of the
// test. The lab needs loop devices (the project's machines have them): without them the test
// fails, saying so, rather than passing untested.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Fatalf("the NFS volume test needs loop devices (/dev/loop-control): %v", err)
	}
	img := filepath.Join(t.TempDir(), "nfs-volume.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}
