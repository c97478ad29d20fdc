package resources_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	"golang.org/x/crypto/ssh"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// restoredNodeConfig is a Hipchat node wired to the data stores at dsAddr (the values a
// module would give it).
func restoredNodeConfig(t *testing.T, l *lab.Lab) string {
	v := l.VSphere()
	return fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name         = "tf-restore-node"
  datacenter   = %q
  cluster      = %q
  datastore    = %q
  network      = %q
  ova_path     = %q
  hostname     = "hipchat-restore-1.example.com"
  ipv4_address = %q
  ipv4_netmask = 24
  ipv4_gateway = %q

  data_stores {
    postgres_host     = hipchatdc_datastore_node.data.postgres_host
    postgres_database = hipchatdc_datastore_node.data.postgres_database
    postgres_user     = hipchatdc_datastore_node.data.postgres_user
    postgres_password = "pg-secret-1"
    redis_host        = hipchatdc_datastore_node.data.redis_host
    redis_password    = "redis-secret-1"
    nfs_export        = hipchatdc_datastore_node.data.nfs_export
    public_url        = "https://chat.example.test"
  }
}
`, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, lab.KindNode, 40), acctest.LabAddress(t, l, false, 112), acctest.Gateway(l, false))
}

func psqlAs(addr, sql string) string {
	return fmt.Sprintf("PGPASSWORD=pg-secret-1 psql -X -q -tA -h %s -U hipchat_user -d hipchat_postgres -c %q", addr, sql)
}

// TestAccDatastoreNode_restore: data written into a data stores VM (a row, a key, a file) is
// backed up by hipchatdc_backup to a backup host, the VM destroyed, and a new one created with restore_from
// naming the backup on that host (over SSH, its host key pinned) has it all back, with
// owners; a node wired to it passes its self-check. Changing restore_from afterwards neither
// replaces the VM nor restores again.
func TestAccDatastoreNode_restore(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name, addr := "tf-restore-data", acctest.LabAddress(t, l, false, 111)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The backup host: another guest with sshd, where the backups are kept.
	backupHost, err := l.StartGuestVM(ctx, "tf-restore-backups", lab.KindDebian)
	if err != nil {
		t.Fatal(err)
	}
	// The backup program logs in to the backup host with a key of its own.
	key := acctest.NewPrivateKey(t, "")
	signer, err := ssh.ParsePrivateKey([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := backupHost.Exec(ctx, "printf '%s\\n' '"+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))+"' >>/root/.ssh/authorized_keys && mkdir -p /srv/backups"); err != nil {
		t.Fatalf("backup host: %v: %s", err, out)
	}
	// The backup to restore from: the one the backup made, under a name known before it runs.
	dir := "/srv/backups/latest"
	ds := func(extra string) string {
		return datastoreConfig(t, l, dsOpts{name: name, address: addr, extra: extra})
	}
	withRestore := ds(fmt.Sprintf(`  restore_from = {
    path        = %q
    host        = %q
    user        = "root"
    private_key = file(%q)
    host_key    = %q
  }`, dir, backupHost.Address(), l.SSH().PrivateKeyFile, backupHost.HostKey()))
	var firstID string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeTestCheckFunc(checkNoVM(t, name), checkNoVM(t, "tf-restore-node")),
		Steps: []resource.TestStep{
			{
				// Data stores in use: a table with a row, owned by the Hipchat user; a key; a
				// file a node wrote (uid 1000).
				Config: ds(""),
				Check: func(s *terraform.State) error {
					firstID = s.RootModule().Resources["hipchatdc_datastore_node.data"].Primary.ID
					acctest.GuestExec(t, l, name, psqlAs(addr, "CREATE TABLE rooms (name text); INSERT INTO rooms VALUES ('restored-room')"))
					acctest.GuestExec(t, l, name, "redis-cli -h 127.0.0.1 -a redis-secret-1 --no-auth-warning SET restore:key kept-value")
					acctest.GuestExec(t, l, name, "install -d -o 1000 -g 1000 /srv/hipchat-nfs/uploads && printf 'file-from-the-node' > /srv/hipchat-nfs/uploads/a.txt && chown 1000:1000 /srv/hipchat-nfs/uploads/a.txt && chmod 0640 /srv/hipchat-nfs/uploads/a.txt")
					return nil
				},
			},
			{
				// A backup of them to the backup host (the create runs one).
				Config: ds("") + fmt.Sprintf(`
resource "hipchatdc_backup" "b" {
  host                    = hipchatdc_datastore_node.data.ipv4_address
  postgres_database       = hipchatdc_datastore_node.data.postgres_database
  nfs_export_path         = hipchatdc_datastore_node.data.nfs_export_path
  schedule                = "0 3 * * *"
  retention               = 2
  destination_path        = "/srv/backups"
  destination_host        = %q
  destination_private_key = %q
  destination_host_key    = %q
}
`, backupHost.Address(), key, backupHost.HostKey()),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_backup.b", "last_backup_ok", "true"),
					func(s *terraform.State) error {
						last := s.RootModule().Resources["hipchatdc_backup.b"].Primary.Attributes["last_backup"]
						if out, err := backupHost.Exec(context.Background(), "ln -sfn /srv/backups/"+last+" "+dir); err != nil || last == "" {
							return fmt.Errorf("last_backup %q: %w: %s", last, err, out)
						}
						return nil
					},
				),
			},
			{
				// The data stores VM is lost.
				Config: acctest.ProviderConfigFor(l),
				Check:  checkNoVM(t, name),
			},
			{
				// Back from the backup, with a node pointed at it.
				Config: withRestore + restoredNodeConfig(t, l),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "drift.#", "0"),
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "restore_from.path", dir),
					func(s *terraform.State) error {
						if id := s.RootModule().Resources["hipchatdc_datastore_node.data"].Primary.ID; id == firstID {
							return fmt.Errorf("the data stores VM is the first one (%s)", id)
						}
						for cmd, want := range map[string]string{
							psqlAs(addr, "SELECT name FROM rooms"):                                                                                    "restored-room",
							psqlAs(addr, "SELECT tableowner FROM pg_tables WHERE tablename = 'rooms'"):                                                "hipchat_user",
							"redis-cli -h 127.0.0.1 -a redis-secret-1 --no-auth-warning GET restore:key":                                              "kept-value",
							"cat /srv/hipchat-nfs/uploads/a.txt":                                                                                      "file-from-the-node",
							"stat -c '%u:%g %a' /srv/hipchat-nfs/uploads/a.txt /srv/hipchat-nfs/uploads /srv/hipchat-nfs":                             "1000:1000 640\n1000:1000 755\n0:0 777",
							"cut -d' ' -f1 /var/lib/hipchatdc/restore/restored; test -e /var/lib/hipchatdc/restore/stage || echo staged-copy-removed": backupHost.Address() + ":" + dir + "\nstaged-copy-removed",
						} {
							if got := acctest.GuestExec(t, l, name, cmd); got != want {
								return fmt.Errorf("on the restored data stores: %s:\n%q, want %q", cmd, got, want)
							}
						}
						out := acctest.GuestExec(t, l, "tf-restore-node", "hipchat datacenter selfcheck")
						for _, want := range []string{"postgres: OK", "redis: OK", "nfs: OK"} {
							if !strings.Contains(out, want) {
								return fmt.Errorf("self-check on the node:\n%s", out)
							}
						}
						return nil
					},
				),
			},
			{
				// restore_from matters only at create: another value (even one that does not
				// exist) is recorded in place, and nothing is restored again.
				Config: strings.Replace(withRestore, dir, "/nonexistent/hipchatdc-20260101T000000Z", 1) + restoredNodeConfig(t, l),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					acctest.GuestExec(t, l, name, psqlAs(addr, "INSERT INTO rooms VALUES ('written-after')"))
					if got := acctest.GuestExec(t, l, name, psqlAs(addr, "SELECT count(*) FROM rooms")); got != "2" {
						return fmt.Errorf("rooms has %s rows after the update, want the restored one and the new one", got)
					}
					return nil
				},
			},
		},
	})
}

// fakeBackup writes a backup directory in the contract's layout whose files are not real
// data: the refusals below happen before anything reads them as data.
func fakeBackup(t *testing.T, complete bool) string {
	dir := filepath.Join(t.TempDir(), "hipchatdc-20261130T130000Z")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"postgres.dump":      "PGDMP\x01\x0f\x00\x04\x08\x01",
		"postgres-roles.sql": "CREATE ROLE hipchat_user;\n",
		"redis.rdb":          "REDIS0010",
		"nfs.tar.gz":         "",
	}
	var sums strings.Builder
	for _, n := range []string{"nfs.tar.gz", "postgres-roles.sql", "postgres.dump", "redis.rdb"} {
		data := []byte(files[n])
		if n == "nfs.tar.gz" {
			out, err := exec.Command("sh", "-c", "mkdir -p "+dir+"/x && tar -C "+dir+"/x -czf - . && rmdir "+dir+"/x").Output()
			if err != nil {
				t.Fatal(err)
			}
			data = out
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	if complete {
		if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestAccDatastoreNode_restoreRefused: a missing, incomplete or corrupt backup is refused
// naming restore_from and the file, at plan time when the path is known then, else first
// thing at create; no VM is made either way.
func TestAccDatastoreNode_restoreRefused(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name, addr := "tf-restore-bad", acctest.LabAddress(t, l, false, 113)
	corrupt := fakeBackup(t, true)
	if err := os.WriteFile(filepath.Join(corrupt, "redis.rdb"), []byte("REDIS0011"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "hipchatdc-20261130T140000Z")
	for _, c := range []struct {
		name, dir, want string
	}{
		{"missing backup", missing, `(?s)Backup refused.*` + acctest.Wrapped(`restore_from.path = "`+missing+`": backup `+missing+`: the backup directory does not exist`)},
		{"incomplete backup", fakeBackup(t, false), `(?s)Backup refused.*` + acctest.Wrapped(`SHA256SUMS: missing: the backup is incomplete`)},
		{"corrupt file", corrupt, `(?s)Backup refused.*` + acctest.Wrapped(`: redis.rdb: checksum mismatch`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := datastoreConfig(t, l, dsOpts{name: name, address: addr, extra: fmt.Sprintf("  restore_from = { path = %q }", c.dir)})
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.Factories(),
				Steps:                    []resource.TestStep{{Config: cfg, PlanOnly: true, ExpectError: regexp.MustCompile(c.want)}},
			})
		})
	}
	t.Run("known only at apply", func(t *testing.T) {
		// The path comes from another resource: unknown at plan, checked at apply before the
		// VM is made (by the apply's own plan of the resource, or the create's check).
		cfg := datastoreConfig(t, l, dsOpts{name: name, address: addr, extra: "  restore_from = { path = terraform_data.backup.output }"}) +
			fmt.Sprintf("\nresource \"terraform_data\" \"backup\" {\n  input = %q\n}\n", corrupt)
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps: []resource.TestStep{{Config: cfg,
				ExpectError: regexp.MustCompile(`(?s)Backup refused.*` + acctest.Wrapped(`redis.rdb: checksum mismatch`) + `.*` + acctest.Wrapped("Nothing was created"))}},
		})
	})
	remote := func(host, hostKey string) string {
		return datastoreConfig(t, l, dsOpts{name: name, address: addr, extra: fmt.Sprintf(`  restore_from = {
    path        = "/tmp/backups/hipchatdc-20261130T120000Z"
    host        = %q
    private_key = file(%q)
    host_key    = %q
  }`, host, l.SSH().PrivateKeyFile, hostKey)})
	}
	t.Run("backup host down", func(t *testing.T) {
		// Nothing answers at the backup host: the plan warns, and the create fails before it
		// makes the VM (the plan cannot tell a host down for a moment from one gone).
		down := acctest.LabAddress(t, l, false, 115)
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps: []resource.TestStep{{Config: remote(down, randomHostKey(t)),
				ExpectError: regexp.MustCompile(`(?s)Cannot read the backup.*` + acctest.Wrapped(`cannot reach the backup host restore_from.host = "`+down+`"`) + `.*` + acctest.Wrapped("Nothing was created"))}},
		})
	})
	t.Run("backup host key mismatch", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		g, err := l.StartGuestVM(ctx, "tf-restore-wrongkey", lab.KindDebian)
		if err != nil {
			t.Fatal(err)
		}
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps: []resource.TestStep{{Config: remote(g.Address(), randomHostKey(t)), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Backup host key does not match.*` + acctest.Wrapped("Nothing was created"))}},
		})
	})
	if _, ok := acctest.VM(t, name); ok {
		t.Fatal("a VM was created for a refused backup")
	}
}

// TestAccDatastoreNode_restoreRefusedOnTheGuest: a dump that passes the provider's checks
// (a custom-format header, a matching checksum) but that pg_restore cannot list is refused on
// the guest after the copy, before any data store is configured: the VM is in the state,
// tainted, with no Redis, Postgres database or export of the provider's on it, and the next
// apply replaces it.
func TestAccDatastoreNode_restoreRefusedOnTheGuest(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name, addr := "tf-restore-half", acctest.LabAddress(t, l, false, 114)
	cfg := datastoreConfig(t, l, dsOpts{name: name, address: addr, extra: fmt.Sprintf("  restore_from = { path = %q }", fakeBackup(t, true))})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)Cannot restore the data stores.*` + acctest.Wrapped("postgres.dump: pg_restore cannot list it") + `.*` + acctest.Wrapped("No data store was configured")),
			},
			{
				PreConfig: func() {
					// Nothing of the data stores is configured: Redis has not the provider's
					// file, Postgres no Hipchat database, no export; the copy is there, root's.
					got := acctest.GuestExec(t, l, name, "grep -qs '^requirepass' /etc/redis/redis.conf && echo redis || echo no-redis; "+
						"runuser -u postgres -- psql -X -tAc \"SELECT 1 FROM pg_database WHERE datname = 'hipchat_postgres'\" 2>/dev/null | grep -q 1 && echo database || echo no-database; "+
						"grep -qs hipchat-nfs /etc/ganesha/ganesha.conf && echo export || echo no-export; stat -c %a /var/lib/hipchatdc/restore/stage")
					if got != "no-redis\nno-database\nno-export\n700" {
						t.Errorf("the guest after the refused restore:\n%s", got)
					}
				},
				// The next apply takes over: it replaces the tainted VM (and, the backup being
				// the same, is refused the same way).
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ExpectError: regexp.MustCompile(`(?s)Cannot restore the data stores.*` + acctest.Wrapped("postgres.dump: pg_restore cannot list it")),
			},
		},
	})
}

// randomHostKey is a host key in authorized_keys format that no host has.
func randomHostKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
