package resources_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// TestAccNode_placementByID: placement named by managed object IDs, as the vsphere provider's
// users often write it, creates the VM and plans nothing afterwards (no replacement because
// vSphere reports names).
func TestAccNode_placementByID(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	v := l.VSphere()
	dc := acctest.MOID(t, "/"+v.Datacenter)
	ds := acctest.MOID(t, "/"+v.Datacenter+"/datastore/"+v.Datastore)
	pool := acctest.MOID(t, v.ResourcePool)
	name := "tf-node-by-id"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name          = %q
  datacenter    = %q
  resource_pool = %q
  datastore     = %q
  ova_path      = %q
}
`, name, dc, pool, ds, acctest.OVA(t, lab.KindNode, 40)),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_node.app", "datastore", ds),
				resource.TestMatchResourceAttr("hipchatdc_node.app", "datacenter", regexp.MustCompile(`^datacenter-`)),
			),
		}},
	})
}
