package resources_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// integrityOVA writes an OVA of the lab's node kind built with o's manifest knobs.
func integrityOVA(t *testing.T, o ovatest.Options) (string, ovatest.Options) {
	o.Name, o.NumCPUs, o.MemoryMB, o.DiskCapacityGiB, o.DataBytes = "hipchat-node", 2, 4096, 40, 1<<20
	o.ExtraConfig = map[string]string{lab.KindKey: lab.KindNode}
	p := filepath.Join(t.TempDir(), "hipchat.ova")
	if err := ovatest.Write(p, o); err != nil {
		t.Fatal(err)
	}
	return p, o
}

// ovaNodeConfig is a VM-only hipchatdc_node whose source is the given lines.
func ovaNodeConfig(t *testing.T, name, source string) string {
	l := acctest.Lab(t)
	return acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name       = %q
  datacenter = %q
  cluster    = %q
  datastore  = %q
  network    = %q
  %s
}
`, name, l.VSphere().Datacenter, l.VSphere().Cluster, l.VSphere().Datastore, l.VSphere().Network, source)
}

// An OVA whose disk is not the one its manifest vouches for is refused by the apply, with the
// file and both digests; vSphere is left without the VM and the state without the resource.
// An ftp:// ova_url is refused by the plan.
func TestAccNode_ovaIntegrity(t *testing.T) {
	t.Parallel()
	name := "tf-node-ova-integrity"
	bad, o := integrityOVA(t, ovatest.Options{Manifest: "SHA256", WrongDigest: ovatest.DiskFileName})
	got, err := ovatest.Digest(o, "SHA256", ovatest.DiskFileName)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("other bytes than " + ovatest.DiskFileName))
	badCfg := ovaNodeConfig(t, name, fmt.Sprintf("ova_path = %q", bad))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config:      ovaNodeConfig(t, name, `ova_url = "ftp://mirror:s3cret@example.com/hipchat.ova"`),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)ova_url.*ova_url = "ftp://example.com/hipchat.ova": only http:// and https://.*scheme "ftp"`),
		}, {
			Config: badCfg,
			ExpectError: regexp.MustCompile(`(?s)with hipchatdc_node.app.*ova_path = .*` + wrapped("file disk1.vmdk does not match the manifest hipchat-node.mf: SHA256 expected "+
				hex.EncodeToString(want[:])+" (from the manifest), got "+got+" (computed over the file as read)").String()),
		}, {
			// Nothing was made: vSphere has no such VM, and the state no resource (the plan
			// creates it, where a tainted one would be replaced).
			PreConfig: func() {
				if _, ok := acctest.VM(t, name); ok {
					t.Errorf("VM %s is in vSphere after the refused import", name)
				}
			},
			Config:             badCfg,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionCreate),
			}},
		}},
	})
}

// A signed OVA imports with the publisher's CA given in ova_ca_file; an OVA without a manifest
// imports with a warning on the attribute that names it.
func TestAccNode_ovaSignedAndUnchecked(t *testing.T) {
	t.Parallel()
	name := "tf-node-ova-signed"
	ca, err := ovatest.NewCA("Test Publisher CA")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.Signer("Test Publisher", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "publisher-ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	signed, _ := integrityOVA(t, ovatest.Options{Manifest: "SHA256", Signer: signer})
	tampered, _ := integrityOVA(t, ovatest.Options{Manifest: "SHA256", Signer: signer, TamperManifest: true})
	plain, _ := integrityOVA(t, ovatest.Options{})
	var w planWarnings
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: w.factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			// A CA file that holds no certificate is refused by the plan.
			Config:      ovaNodeConfig(t, name, fmt.Sprintf("ova_path = %q\n  ova_ca_file = %q", plain, plain)),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)ova_ca_file = .*` + wrapped("no PEM certificate in it").String()),
		}, {
			Config:      ovaNodeConfig(t, name, fmt.Sprintf("ova_path = %q\n  ova_ca_file = %q", tampered, caFile)),
			ExpectError: regexp.MustCompile(`(?s)ova_path = .*` + wrapped(`the signature of the OVA (hipchat-node.cert) is refused: the manifest hipchat-node.mf does not match the signature made by "Test Publisher"`).String()),
		}, {
			Config: ovaNodeConfig(t, name, fmt.Sprintf("ova_path = %q\n  ova_ca_file = %q", signed, caFile)),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_node.app", "ova_ca_file", caFile),
				func(*terraform.State) error {
					if got := w.takeApplies(); len(got) > 0 {
						return fmt.Errorf("a signed OVA with a good manifest imported with warnings %q", got)
					}
					return nil
				},
			),
		}, {
			Config: ovaNodeConfig(t, name, fmt.Sprintf("ova_path = %q", plain)),
			Check:  w.expectApply("ova_path", "OVA not fully verified", "has no manifest (.mf)"),
		}},
	})
}
