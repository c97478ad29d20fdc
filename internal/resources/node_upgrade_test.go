package resources_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// cbdNodeConfig is the data stores VM and a node under create_before_destroy, of the node
// identity slot (VM name, host name and address) and the OVA given.
func cbdNodeConfig(t *testing.T, l *lab.Lab, slot, ova string) string {
	return cbdNodeConfigAt(t, l, slot, slot, ova)
}

// cbdNodeConfigAt is cbdNodeConfig with the address of slot addrSlot.
func cbdNodeConfigAt(t *testing.T, l *lab.Lab, slot, addrSlot, ova string) string {
	v := l.VSphere()
	ds := datastoreConfig(t, l, dsOpts{name: "tf-cbd-data", address: acctest.LabAddress(t, l, false, 118)})
	host := map[string]int{"a": 119, "b": 120}[addrSlot]
	return ds + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name         = "tf-cbd-node-%[1]s"
  datacenter   = %[2]q
  cluster      = %[3]q
  datastore    = %[4]q
  network      = %[5]q
  ova_path     = %[6]q
  hostname     = "hipchat-cbd-%[1]s.example.com"
  ipv4_address = %[7]q
  ipv4_netmask = 24
  ipv4_gateway = %[8]q

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

  lifecycle {
    create_before_destroy = true
  }
}
`, slot, v.Datacenter, v.Cluster, v.Datastore, v.Network, ova, acctest.LabAddress(t, l, false, host), acctest.Gateway(l, false))
}

// nodePage is the node's own page at its address (its HTTP service on port 80).
func nodePage(addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// onlyChange is a plan check: addr has exactly one change (no deposed object of it is planned
// for destruction as well) and it is want.
type onlyChange struct {
	addr string
	want plancheck.ResourceActionType
}

func (c onlyChange) CheckPlan(ctx context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	var got []string
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address == c.addr {
			got = append(got, fmt.Sprintf("%v (deposed %q)", rc.Change.Actions, rc.DeposedKey))
		}
	}
	if len(got) != 1 {
		resp.Error = fmt.Errorf("%s: %d changes planned, want one (%s): %s", c.addr, len(got), c.want, strings.Join(got, ", "))
		return
	}
	var inner plancheck.CheckPlanResponse
	plancheck.ExpectResourceAction(c.addr, c.want).CheckPlan(ctx, req, &inner)
	resp.Error = inner.Error
}

// TestAccNode_createBeforeDestroy is a node upgrade by hand: the node under create_before_destroy
// gets a new OVA and a second identity. Forgetting the new address is refused before anything is
// imported. A release whose self-check fails stops the apply with the
// self-check's words, and its VM is removed again, so that the old node is still the current
// object in the state (not deposed, which the next apply would destroy), still running and
// untouched; so is a release whose OVA cannot be imported, and a new node whose guest never
// gets an address. The next apply, with a good release, replaces it: the new VM first, then the
// old one destroyed.
func TestAccNode_createBeforeDestroy(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	releaseA := acctest.ReleaseOVA(t, "A", false)
	broken := acctest.ReleaseOVA(t, "C-broken", true)
	releaseB := acctest.ReleaseOVA(t, "B", false)
	corrupt, _ := integrityOVA(t, ovatest.Options{Manifest: "SHA256", WrongDigest: ovatest.DiskFileName})
	addrA, addrB := acctest.LabAddress(t, l, false, 119), acctest.LabAddress(t, l, false, 120)
	t.Cleanup(func() { l.SetVMBootDelay("tf-cbd-node-b", 0) })
	var idA string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy: resource.ComposeTestCheckFunc(checkNoVM(t, "tf-cbd-node-a"), checkNoVM(t, "tf-cbd-node-b"),
			checkNoVM(t, "tf-cbd-data")),
		Steps: []resource.TestStep{
			{
				Config: cbdNodeConfig(t, l, "a", releaseA),
				Check: func(s *terraform.State) error {
					idA = s.RootModule().Resources["hipchatdc_node.app"].Primary.ID
					if page, err := nodePage(addrA); err != nil || !strings.Contains(page, "release: A") {
						return fmt.Errorf("node a's page: %q %w", page, err)
					}
					return nil
				},
			},
			{
				// A new VM name but the old node's address: refused before anything is
				// imported, while the old node still answers there.
				Config:      cbdNodeConfigAt(t, l, "b", "a", releaseB),
				ExpectError: regexp.MustCompile(`(?s)Address in use by another VM.*` + regexp.QuoteMeta(addrA) + `.*tf-cbd-node-a`),
			},
			{
				Config:      cbdNodeConfig(t, l, "b", broken),
				ExpectError: regexp.MustCompile(`(?s)self-check failed.*release: FAILED`),
			},
			{
				// A release whose OVA cannot be imported (its disk is not the one its manifest
				// vouches for): refused before a VM exists.
				Config:      cbdNodeConfig(t, l, "b", corrupt),
				ExpectError: regexp.MustCompile(`(?s)ova_path.*does not match the manifest`),
			},
			{
				// A new node that fails for another reason than its self-check: its guest
				// does not boot within the create timeout, so it never gets an address.
				// Its VM is destroyed again as well: kept (tainted), it would be the current
				// object and the next apply would stop at "A VM of this name already exists".
				PreConfig: func() {
					if _, ok := acctest.VM(t, "tf-cbd-node-b"); ok {
						t.Error("the VM of the release whose self-check failed is still in vSphere")
					}
					l.SetVMBootDelay("tf-cbd-node-b", 30*time.Minute)
				},
				Config: strings.Replace(cbdNodeConfig(t, l, "b", releaseB), "  lifecycle {\n    create_before_destroy = true",
					"  timeouts {\n    create = \"180s\"\n  }\n\n  lifecycle {\n    create_before_destroy = true", 1),
				ExpectError: regexp.MustCompile(`(?s)Guest address unknown`),
			},
			{
				PreConfig: func() {
					l.SetVMBootDelay("tf-cbd-node-b", 0)
					if n := acctest.VMCount(t, "tf-cbd-node-b"); n != 0 {
						t.Errorf("%d VMs of the new node whose guest never got an address are in vSphere, want 0", n)
					}
					if page, err := nodePage(addrA); err != nil || !strings.Contains(page, "release: A") {
						t.Errorf("after the failed upgrade, node a's page: %q %v", page, err)
					}
				},
				// The state holds node a as its current object: the failed upgrade is planned
				// again as it was, and nothing destroys node a before a new node has passed.
				Config: cbdNodeConfig(t, l, "b", releaseB),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					onlyChange{"hipchatdc_node.app", plancheck.ResourceActionCreateBeforeDestroy},
					plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionNoop),
				}},
				Check: func(s *terraform.State) error {
					if id := s.RootModule().Resources["hipchatdc_node.app"].Primary.ID; id == idA {
						return fmt.Errorf("node not replaced: %s", id)
					}
					if _, ok := acctest.VM(t, "tf-cbd-node-a"); ok {
						return fmt.Errorf("the old node's VM is still in vSphere")
					}
					if page, err := nodePage(addrB); err != nil || !strings.Contains(page, "release: B") {
						return fmt.Errorf("node b's page: %q %w", page, err)
					}
					return nil
				},
			},
			{
				// Converged.
				Config:   cbdNodeConfig(t, l, "b", releaseB),
				PlanOnly: true,
			},
		},
	})
}
