package resources_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// wiredConfig is a data stores VM (name-data, at host dsHost of the lab's network) and a node
// (name-node, at nodeHost) pointed at it, the node given nodePassword for Postgres (the data
// stores have the right one).
func wiredConfig(t *testing.T, l *lab.Lab, name string, nodeHost, dsHost int, nodePassword string) string {
	v := l.VSphere()
	ds := datastoreConfig(t, l, dsOpts{name: name + "-data", address: acctest.LabAddress(t, l, false, dsHost)})
	return ds + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name         = "%s-node"
  datacenter   = %q
  cluster      = %q
  datastore    = %q
  network      = %q
  ova_path     = %q
  hostname     = "hipchat-wired-1.example.com"
  ipv4_address = %q
  ipv4_netmask = 24
  ipv4_gateway = %q

  data_stores {
    postgres_host     = hipchatdc_datastore_node.data.postgres_host
    postgres_database = hipchatdc_datastore_node.data.postgres_database
    postgres_user     = hipchatdc_datastore_node.data.postgres_user
    postgres_password = %q
    redis_host        = hipchatdc_datastore_node.data.redis_host
    redis_password    = "redis-secret-1"
    nfs_export        = hipchatdc_datastore_node.data.nfs_export
    public_url        = "https://chat.example.test"
  }
}
`, name, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, lab.KindNode, 40), acctest.LabAddress(t, l, false, nodeHost), acctest.Gateway(l, false), nodePassword)
}

func TestAccNode_wiredToItsDataStores(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	ids := map[string]string{}
	recordIDs := func(s *terraform.State) error {
		for _, r := range []string{"hipchatdc_node.app", "hipchatdc_datastore_node.data"} {
			ids[r] = s.RootModule().Resources[r].Primary.ID
		}
		return nil
	}
	sameIDs := func(s *terraform.State) error {
		for r, id := range ids {
			if got := s.RootModule().Resources[r].Primary.ID; got != id {
				return fmt.Errorf("%s was replaced: %s, was %s", r, got, id)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeTestCheckFunc(checkNoVM(t, "tf-wired-node"), checkNoVM(t, "tf-wired-data")),
		Steps: []resource.TestStep{
			{
				Config: wiredConfig(t, l, "tf-wired", 212, 211, "pg-secret-1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					recordIDs,
					resource.TestCheckResourceAttr("hipchatdc_node.app", "drift.#", "0"),
					func(*terraform.State) error {
						// The node reaches Postgres, Redis and NFS with what it was given.
						out := acctest.GuestExec(t, l, "tf-wired-node", "hipchat datacenter selfcheck")
						for _, want := range []string{"postgres: OK", "redis: OK", "nfs: OK"} {
							if !strings.Contains(out, want) {
								return fmt.Errorf("self-check on the node:\n%s", out)
							}
						}
						if got := acctest.GuestExec(t, l, "tf-wired-node", "stat -c '%a %U' /hipchat/config/site.json /hipchat/config/datacenter.json"); got != "600 root\n600 root" {
							return fmt.Errorf("config files: %q", got)
						}
						return nil
					},
				),
			},
			{
				// A wrong Postgres password: the apply fails with the self-check's own words.
				Config:      wiredConfig(t, l, "tf-wired", 212, 211, "not-the-password"),
				ExpectError: regexp.MustCompile(`(?s)self-check failed.*postgres: FAILED.*password authentication failed`),
			},
			{
				// Corrected, the next apply converges in place: no VM replaced.
				Config: wiredConfig(t, l, "tf-wired", 212, 211, "pg-secret-1"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(sameIDs,
					resource.TestCheckResourceAttr("hipchatdc_node.app", "drift.#", "0")),
			},
		},
	})
}

// TestAccNode_wiringRejectedAtPlan: what is known of data_stores at plan time is checked then,
// before an OVA is imported.
func TestAccNode_wiringRejectedAtPlan(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	for _, c := range []struct{ from, to, want string }{
		{`postgres_user     = hipchatdc_datastore_node.data.postgres_user`, `postgres_user     = "postgres"`, `(?s)Invalid database user.*postgres_user.*superuser`},
		{"postgres_user     = hipchatdc_datastore_node.data.postgres_user\n    postgres_password = \"pg-secret-1\"", "postgres_user     = hipchatdc_datastore_node.data.postgres_user", `(?s)Missing data_stores.postgres_password`},
		{`public_url        = "https://chat.example.test"`, `public_url        = "chat.example.test"`, `(?s)Invalid public_url.*https://chat.example.com`},
	} {
		cfg := strings.Replace(wiredConfig(t, l, "tf-wiring-bad", 224, 223, "pg-secret-1"), c.from, c.to, 1)
		if cfg == wiredConfig(t, l, "tf-wiring-bad", 224, 223, "pg-secret-1") {
			t.Fatalf("%q not in the configuration", c.from)
		}
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps:                    []resource.TestStep{{Config: cfg, PlanOnly: true, ExpectError: regexp.MustCompile(c.want)}},
		})
	}
	if _, ok := acctest.VM(t, "tf-wiring-bad-node"); ok {
		t.Fatal("a VM was created for a rejected plan")
	}
}

// parallelConfig is a node wired to data stores at dsAddr by values known at plan time (as the
// module wires it), so that Terraform creates it at the same time as the data stores VM of
// guest kind dsKind ("" for none) there; the hosts are the addresses' last bytes on the lab's
// network.
// extra goes into the node's block.
func parallelConfig(t *testing.T, l *lab.Lab, name string, nodeHost, dsHost int, dsKind, extra string) string {
	dsAddr := acctest.LabAddress(t, l, false, dsHost)
	v := l.VSphere()
	cfg := acctest.ProviderConfigFor(l)
	if dsKind != "" {
		cfg = datastoreConfig(t, l, dsOpts{name: name + "-data", kind: dsKind, address: dsAddr})
	}
	return cfg + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name         = "%s-node"
  datacenter   = %q
  cluster      = %q
  datastore    = %q
  network      = %q
  ova_path     = %q
  hostname     = "%s-node.example.com"
  ipv4_address = %q
  ipv4_netmask = 24
  ipv4_gateway = %q

  data_stores {
    postgres_host     = %q
    postgres_database = "hipchat_postgres"
    postgres_user     = "hipchat_user"
    postgres_password = "pg-secret-1"
    redis_host        = %q
    redis_password    = "redis-secret-1"
    nfs_export        = "%s:/srv/hipchat-nfs"
    public_url        = "https://chat.example.test"
  }
%s
}
`, name, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, lab.KindNode, 40), name,
		acctest.LabAddress(t, l, false, nodeHost), acctest.Gateway(l, false), dsAddr, dsAddr, dsAddr, extra)
}

// TestAccNode_waitsForDataStoresThatComeUpLate creates the node and its data stores VM at the
// same time, the data stores' guest booting late: the node gets to its data_stores step first,
// waits for Postgres, Redis and NFS to answer from it, and is wired. (Without the wait its
// self-check runs against data stores that are not there yet, and the apply fails.)
func TestAccNode_waitsForDataStoresThatComeUpLate(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	l.SetVMBootDelay("tf-late-data", 15*time.Second)
	t.Cleanup(func() { l.SetVMBootDelay("tf-late-data", 0) })
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeTestCheckFunc(checkNoVM(t, "tf-late-node"), checkNoVM(t, "tf-late-data")),
		Steps: []resource.TestStep{{
			Config: parallelConfig(t, l, "tf-late", 214, 213, lab.KindDebian, ""),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_node.app", "drift.#", "0"),
				func(*terraform.State) error {
					out := acctest.GuestExec(t, l, "tf-late-node", "hipchat datacenter selfcheck")
					for _, want := range []string{"postgres: OK", "redis: OK", "nfs: OK"} {
						if !strings.Contains(out, want) {
							return fmt.Errorf("self-check on the node:\n%s", out)
						}
					}
					return nil
				},
			),
		}},
	})
}

// TestAccNode_dataStoresNeverAnswer: nothing answers at the data stores' address. The node's
// create waits until its create timeout and fails naming data_stores and what did not answer;
// the new VM is destroyed again (a tainted node would block a create_before_destroy replacement
// with its name and address), so nothing is left in vSphere or in the state, and once the data
// stores exist the next apply creates the cluster with nothing to clear by hand.
func TestAccNode_dataStoresNeverAnswer(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	dsAddr := acctest.LabAddress(t, l, false, 215)
	timeouts := "  timeouts {\n    create = \"90s\"\n  }"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeTestCheckFunc(checkNoVM(t, "tf-silent-node"), checkNoVM(t, "tf-silent-data")),
		Steps: []resource.TestStep{
			{
				Config: parallelConfig(t, l, "tf-silent", 218, 215, "", timeouts),
				// Terraform wraps the message: words are separated by any space.
				ExpectError: regexp.MustCompile(`(?s)data stores do not answer.*data_stores: after waiting.*postgres\s+at\s+` +
					regexp.QuoteMeta(dsAddr) + `:5432:.*redis\s+at.*nfs\s+at.*destroyed\s+again`),
			},
			{
				PreConfig: func() {
					// The failed create left no VM behind.
					if n := acctest.VMCount(t, "tf-silent-node"); n != 0 {
						t.Fatalf("%d VMs named tf-silent-node in vSphere after the failed create, want 0", n)
					}
				},
				Config: parallelConfig(t, l, "tf-silent", 218, 215, lab.KindDebian, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					// Nothing in the state: a plain create.
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_node.app", "drift.#", "0"),
					func(*terraform.State) error {
						if n := acctest.VMCount(t, "tf-silent-node"); n != 1 {
							return fmt.Errorf("%d VMs named tf-silent-node in vSphere, want 1", n)
						}
						return nil
					},
				),
			},
		},
	})
}

// TestAccNode_stopsWaitingForDataStoresThatFailed: the data stores VM created in the same apply
// fails (its guest lacks the packages and install_packages is off). Terraform lets the node's
// create go on, and the node stops waiting for those data stores as soon as they failed, with an
// error naming them, instead of at its create timeout.
func TestAccNode_stopsWaitingForDataStoresThatFailed(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	dsAddr := acctest.LabAddress(t, l, false, 219)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeTestCheckFunc(checkNoVM(t, "tf-failds-node"), checkNoVM(t, "tf-failds-data")),
		Steps: []resource.TestStep{{
			Config: parallelConfig(t, l, "tf-failds", 220, 219, lab.KindDebianBare, "  timeouts {\n    create = \"10m\"\n  }"),
			ExpectError: regexp.MustCompile(`(?s)Packages missing on the data stores node.*data stores failed.*not\s+waiting\s+for\s+the\s+data\s+stores\s+at\s+` +
				regexp.QuoteMeta(dsAddr) + `|(?s)data stores failed.*not\s+waiting\s+for\s+the\s+data\s+stores\s+at\s+` + regexp.QuoteMeta(dsAddr) + `.*Packages missing`),
		}},
	})
}

// TestAccNode_passwordChangeWithItsDataStores changes the Postgres and Redis passwords of the
// data stores and of the node in one apply. Wired from values known at plan time, Terraform
// updates both at once; the data stores' ports stay open throughout, so only the data stores'
// update in progress tells the node to wait: without that, its self-check tries the new
// passwords before the data stores have them and the apply fails until it is run again.
func TestAccNode_passwordChangeWithItsDataStores(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	first := parallelConfig(t, l, "tf-pwchg", 222, 221, lab.KindDebian, "")
	second := strings.NewReplacer("pg-secret-1", "pg-secret-2", "redis-secret-1", "redis-secret-2").Replace(first)
	selfCheck := func(*terraform.State) error {
		out := acctest.GuestExec(t, l, "tf-pwchg-node", "hipchat datacenter selfcheck")
		for _, want := range []string{"postgres: OK", "redis: OK", "nfs: OK"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("self-check on the node:\n%s", out)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             resource.ComposeTestCheckFunc(checkNoVM(t, "tf-pwchg-node"), checkNoVM(t, "tf-pwchg-data")),
		Steps: []resource.TestStep{
			{Config: first, Check: selfCheck},
			{
				Config: second,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionUpdate),
				}},
				// Passes on the first apply, with the node on the new passwords.
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_node.app", "drift.#", "0"),
					resource.TestCheckResourceAttr("hipchatdc_datastore_node.data", "drift.#", "0"),
					selfCheck,
				),
			},
		},
	})
}
