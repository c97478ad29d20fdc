package resources_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// TestAccNode_placementKindMismatch: a placement that names the wrong kind of vSphere object
// for the endpoint fails the plan on the attribute to change, saying what the endpoint is and
// what to do, and nothing reaches vSphere: a cluster, or a datacenter other than
// ha-datacenter, against a standalone ESXi host; ha-datacenter against a vCenter; an ESXi host
// given as cluster and a cluster given as host; no placement at all (as for an ESXi host) on a
// vCenter with several clusters.
func TestAccNode_placementKindMismatch(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	v, esx := l.VSphere(), l.StandaloneESXi()[0]
	name := "tf-wrong-kind"
	node := func(provider, placement string) string {
		return provider + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name     = %q
  ova_path = %q
%s
}
`, name, acctest.OVA(t, lab.KindNode, 40), placement)
	}
	onESXi, onVCenter := acctest.ESXiProviderConfig(l, 0, ""), acctest.ProviderConfig(t)
	const summary = `Placement does not fit the vSphere endpoint.*`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{
			{
				Config:   node(onESXi, fmt.Sprintf("  cluster = %q", v.Cluster)),
				PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)` + summary + `with hipchatdc_node.app.*cluster = ` + regexp.QuoteMeta(fmt.Sprintf("%q", v.Cluster)) + `.*` +
					acctest.Wrapped(fmt.Sprintf("vsphere_server %q is VMware ESX", esx.Server)) + `.*` + acctest.Wrapped("a standalone ESXi host without a vCenter, which has no clusters: remove cluster")),
			},
			{
				Config:   node(onESXi, fmt.Sprintf("  datacenter = %q", v.Datacenter)),
				PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)` + summary + acctest.Wrapped(fmt.Sprintf(`datacenter = %q:`, v.Datacenter)) + `.*` +
					acctest.Wrapped(`whose only datacenter is "ha-datacenter": remove datacenter`)),
			},
			{
				Config:   node(onVCenter, `  datacenter = "ha-datacenter"`),
				PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)` + summary + acctest.Wrapped(`datacenter = "ha-datacenter" is the datacenter of a standalone ESXi host, but`) + `.*` +
					acctest.Wrapped(fmt.Sprintf("a vCenter Server: name one of its datacenters (%s)", v.Datacenter))),
			},
			{
				Config:      node(onVCenter, fmt.Sprintf("  datacenter = %q\n  cluster = %q", v.Datacenter, v.Host)),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)` + summary + acctest.Wrapped(fmt.Sprintf(`cluster = %q names the ESXi host %q, not a cluster: set host = %q instead`, v.Host, v.Host, v.Host))),
			},
			{
				Config:      node(onVCenter, fmt.Sprintf("  datacenter = %q\n  host = %q", v.Datacenter, v.Cluster)),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)` + summary + acctest.Wrapped(fmt.Sprintf(`host = %q names the cluster %q, not an ESXi host: set cluster = %q instead`, v.Cluster, v.Cluster, v.Cluster))),
			},
			{
				// A configuration written for a standalone ESXi host (no placement) on a vCenter.
				Config:   node(onVCenter, ""),
				PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)` + summary + `with hipchatdc_node.app.*` + acctest.Wrapped("no cluster, host or resource_pool is set, and") + `.*` +
					acctest.Wrapped(fmt.Sprintf("a vCenter Server with several places to run a VM: set cluster (%s, %s, %s), host or resource_pool", v.Cluster, v.SlowCluster, v.NoDRSCluster))),
			},
		},
	})
	assertNoUpload(t, name)
	for i := range l.StandaloneESXi() {
		if n := l.VMsMadeOnESXi(i, name); n != 0 {
			t.Errorf("ESXi %d created %d VM(s) called %q: the import went as far as vSphere before being refused", i+1, n, name)
		}
	}
}
