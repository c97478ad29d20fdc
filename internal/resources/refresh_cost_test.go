package resources_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/provider"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/resources"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

// TestAccRefreshCost counts what refreshing the three resources costs: the goal is one
// property-collector round trip per VM and one SSH connection running one command per guest.
func TestAccRefreshCost(t *testing.T) {
	// Not parallel: it counts the whole process's SSH connections and commands, vSphere round trips and refreshes.
	l := acctest.Lab(t)
	ca, err := tlstest.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{DNSNames: []string{publicName}})
	if err != nil {
		t.Fatal(err)
	}
	nodeAddr := acctest.LabAddress(t, l, false, 244)
	// The three resources' configurations, each written for a test of its own: one provider
	// block for all.
	providerBlock := acctest.ProviderConfigFor(l)
	cfg := strings.Replace(nodeGuestConfig(l, false, "tf-cost-node", nodeAddr, "hipchat-cost-1.example.com", ""),
		`ova_path     = ""`, fmt.Sprintf("ova_path     = %q", acctest.OVA(t, lab.KindNode, 40)), 1) +
		strings.TrimPrefix(datastoreConfig(t, l, dsOpts{name: "tf-cost-data", address: acctest.LabAddress(t, l, false, 245)}), providerBlock) +
		strings.TrimPrefix(proxyConfig(t, l, proxyOpts{name: "tf-cost-proxy", address: acctest.LabAddress(t, l, false, 246), cert: leaf, nodes: []string{nodeAddr}}), providerBlock)

	var rt0, reads0 int64
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{
			{
				// Creating: each resource configures its guest over one connection (a second
				// once the guest has moved to its new address) and reads it back over that
				// same connection, not a new one.
				PreConfig: guest.ResetStats,
				Config:    cfg,
				Check: func(*terraform.State) error {
					g := guest.Stats()
					t.Logf("creating 3 resources: %d SSH connections, %d read and %d changing commands", g.Connections, g.ReadCommands, g.ChangeCommands)
					if g.Connections != 6 {
						return fmt.Errorf("creating 3 resources opened %d SSH connections, want 6: one to configure each guest and one after it moves to its new address, none to read it back", g.Connections)
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					guest.ResetStats()
					rt0, reads0 = provider.RoundTrips(), resources.Reads()
				},
				Config:           cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: func(*terraform.State) error {
					reads, rt, g := resources.Reads()-reads0, provider.RoundTrips()-rt0, guest.Stats()
					t.Logf("no-op steps refreshed %d resources: %d vSphere round trips (%.2f per read), %d SSH connections and %d commands (%.2f and %.2f per read), %d changing commands",
						reads, rt, float64(rt)/float64(reads), g.Connections, g.Commands(), float64(g.Connections)/float64(reads), float64(g.Commands())/float64(reads), g.ChangeCommands)
					switch {
					case reads == 0 || reads%3 != 0:
						return fmt.Errorf("%d reads for 3 resources", reads)
					case rt != reads:
						return fmt.Errorf("%d vSphere round trips for %d reads, want one per read", rt, reads)
					case g.Connections != reads || g.ReadCommands != reads || g.ChangeCommands != 0:
						return fmt.Errorf("%d SSH connections, %d read and %d changing commands for %d reads, want one connection with one read command each", g.Connections, g.ReadCommands, g.ChangeCommands, reads)
					}
					return nil
				},
			},
		},
	})
}
