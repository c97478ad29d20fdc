package provider_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
)

// TestAccProvider_settingsKnownOnlyAtApply: a vsphere_server that comes from another resource is
// unknown at plan time. The plan must neither fail nor panic; the provider connects during apply
// and the VM is created.
func TestAccProvider_settingsKnownOnlyAtApply(t *testing.T) {
	v := acctest.Lab(t).VSphere()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy: func(*terraform.State) error {
			if _, ok := acctest.VM(t, "tf-provider-check"); ok {
				return fmt.Errorf("VM left after destroy")
			}
			return nil
		},
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
resource "terraform_data" "vcenter" {
  input = %q
}

provider "hipchatdc" {
  vsphere_server = terraform_data.vcenter.output
  user           = %q
  password       = %q
  ca_file        = %q
}
`, v.Server, v.User, v.Password, v.CAFile) + aNode(t),
			Check: func(*terraform.State) error {
				if _, ok := acctest.VM(t, "tf-provider-check"); !ok {
					return fmt.Errorf("no VM created once the server was known")
				}
				return nil
			},
		}},
	})
}
