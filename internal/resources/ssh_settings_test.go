package resources_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// withoutProviderKnownHosts is cfg with the provider's known_hosts_file left to the
// environment (HIPCHATDC_SSH_KNOWN_HOSTS), as a pipeline that exports the lab's env file has it.
func withoutProviderKnownHosts(t *testing.T, l *lab.Lab, cfg string) string {
	t.Helper()
	line := fmt.Sprintf("    known_hosts_file = %q\n", l.SSH().KnownHostsFile)
	if !strings.Contains(cfg, line) {
		t.Fatalf("the provider block has no %q to remove", line)
	}
	return strings.Replace(cfg, line, "", 1)
}

// A resource that sets insecure_ignore_host_key while the environment gives the provider a
// known_hosts file is configured (its own setting replaces the inherited one), where it used
// to fail after the VM was created with "set only one of host_key, known_hosts and
// insecure_ignore_host_key".
func TestAccNodeGuest_resourceHostKeySettingReplacesTheEnvironments(t *testing.T) {
	// Not parallel: it sets the environment.
	l := acctest.Lab(t)
	name := "tf-node-hostkey-env"
	addr := acctest.LabAddress(t, l, false, 170)
	t.Setenv("HIPCHATDC_SSH_KNOWN_HOSTS", l.SSH().KnownHostsFile)
	cfg := withoutProviderKnownHosts(t, l, managedNode(t, l, name, addr, "hipchat-hostkey-1.example.com", ntpA,
		"  ssh {\n    insecure_ignore_host_key = true\n  }"))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_node.app", "hostname", "hipchat-hostkey-1.example.com"),
				func(*terraform.State) error {
					if got := acctest.GuestExec(t, l, name, "hostname"); got != "hipchat-hostkey-1.example.com" {
						return fmt.Errorf("the guest's hostname is %q: it was not configured", got)
					}
					return nil
				},
			),
		}},
	})
}

// Two host-key settings in one block are refused at plan time, naming both and the block, and
// no VM is made; a known_hosts file inherited from the environment that is not there fails the
// apply before the VM is created, naming the variable it came from.
func TestAccNodeGuest_hostKeySettingsRefusedBeforeAnyVM(t *testing.T) {
	// Not parallel: it sets the environment.
	l := acctest.Lab(t)
	name := "tf-node-hostkey-bad"
	addr := acctest.LabAddress(t, l, false, 171)
	both := managedNode(t, l, name, addr, "hipchat-hostkey-2.example.com", ntpA,
		fmt.Sprintf("  ssh {\n    host_key                 = %q\n    insecure_ignore_host_key = true\n  }", l.SSH().PublicKey))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config:      both,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)Conflicting host key settings.*this resource's ssh block sets\s+host_key\s+and\s+insecure_ignore_host_key`),
		}},
	})

	missing := filepath.Join(t.TempDir(), "known_hosts")
	t.Setenv("HIPCHATDC_SSH_KNOWN_HOSTS", missing)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config: withoutProviderKnownHosts(t, l, managedNode(t, l, name, addr, "hipchat-hostkey-2.example.com", ntpA, "")),
			ExpectError: regexp.MustCompile(`(?s)known_hosts_file\s+"` + regexp.QuoteMeta(missing) +
				`"\s+\(from\s+the\s+environment\s+variable\s+HIPCHATDC_SSH_KNOWN_HOSTS\).*Nothing\s+was\s+created`),
		}},
	})
	if n := acctest.VMCount(t, name); n != 0 {
		t.Fatalf("%d VMs named %s: ssh settings that cannot work must be refused before the VM is created", n, name)
	}
}
