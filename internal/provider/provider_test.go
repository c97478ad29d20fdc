package provider_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

func TestMain(m *testing.M) {
	os.Exit(acctest.Main(m, lab.Options{}))
}

// aNode is a resource whose plan makes Terraform configure the provider.
func aNode(t *testing.T) string {
	v := acctest.Lab(t).VSphere()
	return fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name       = "tf-provider-check"
  datacenter = %q
  cluster    = %q
  ova_path   = %q
}
`, v.Datacenter, v.Cluster, acctest.OVA(t, lab.KindNode, 40))
}

func planFails(t *testing.T, providerBlock string, want string) {
	t.Helper()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config:      providerBlock + aNode(t),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(want),
		}},
	})
}

func TestAccProvider_connectionErrorsNameTheAttribute(t *testing.T) {
	v := acctest.Lab(t).VSphere()
	t.Run("unreachable", func(t *testing.T) {
		planFails(t, fmt.Sprintf(`
provider "hipchatdc" {
  vsphere_server = "127.0.0.1:1"
  user           = %q
  password       = %q
  ca_file        = %q
}`, v.User, v.Password, v.CAFile), `(?s)vSphere server unreachable.*vsphere_server`)
	})
	t.Run("wrong password", func(t *testing.T) {
		planFails(t, fmt.Sprintf(`
provider "hipchatdc" {
  vsphere_server = %q
  user           = %q
  password       = "not-the-password"
  ca_file        = %q
}`, v.Server, v.User, v.CAFile), `(?s)vSphere login refused.*password.*check user and password`)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		planFails(t, fmt.Sprintf(`
provider "hipchatdc" {
  vsphere_server = %q
  user           = %q
  password       = %q
}`, v.Server, v.User, v.Password), `(?s)certificate not trusted.*ca_file.*allow_unverified_ssl`)
	})
	t.Run("missing server", func(t *testing.T) {
		t.Setenv("VSPHERE_SERVER", "")
		planFails(t, `provider "hipchatdc" {}`, `(?s)Missing vSphere vsphere_server.*VSPHERE_SERVER`)
	})
}

func TestAccProvider_environmentAndUnverifiedSSL(t *testing.T) {
	v := acctest.Lab(t).VSphere()
	// The vsphere provider's environment variables, and allow_unverified_ssl instead of a CA:
	// the plan succeeds, which needs a login.
	t.Setenv("VSPHERE_SERVER", v.Server)
	t.Setenv("VSPHERE_USER", v.User)
	t.Setenv("VSPHERE_PASSWORD", v.Password)
	t.Setenv("VSPHERE_ALLOW_UNVERIFIED_SSL", "true")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config:             `provider "hipchatdc" {}` + aNode(t),
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
		}},
	})
}

// Two ways to verify host keys in the provider's ssh block are refused at plan time, naming
// both.
func TestAccProvider_conflictingHostKeySettings(t *testing.T) {
	planFails(t, `
provider "hipchatdc" {
  ssh {
    known_hosts_file         = "/etc/ssh/ssh_known_hosts"
    insecure_ignore_host_key = true
  }
}`, `(?s)Conflicting host key settings.*the provider's ssh block sets\s+known_hosts_file\s+and\s+insecure_ignore_host_key`)
}
