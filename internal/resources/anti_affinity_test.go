package resources_test

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
)

// antiAffinityConfig is a hipchatdc_anti_affinity_rule "apart" over two VMs, with extra lines.
func antiAffinityConfig(t *testing.T, name, cluster, a, b, extra string) string {
	return acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_anti_affinity_rule" "apart" {
  name                = %q
  compute_cluster_id  = %q
  virtual_machine_ids = [%q, %q]
%s
}
`, name, cluster, a, b, extra)
}

// checkRule: the cluster's configurationEx holds the rule, enabled, over exactly the VMs.
func checkRule(t *testing.T, cluster, name string, vms ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		rule, ok := acctest.AntiAffinityRule(t, cluster, name)
		if !ok {
			return fmt.Errorf("cluster %s has no anti-affinity rule %q", cluster, name)
		}
		var got []string
		for _, vm := range rule.Vm {
			got = append(got, vm.Value)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(vms))
		if !slices.Equal(got, want) || rule.Enabled == nil || !*rule.Enabled {
			return fmt.Errorf("rule %q in %s: VMs %v, enabled %v; want %v, enabled", name, cluster, got, rule.Enabled, want)
		}
		return nil
	}
}

// checkApart: the VMs run on different ESXi hosts (runtime.host in vcsim).
func checkApart(t *testing.T, a, b string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if ha, hb := acctest.VMHost(t, a), acctest.VMHost(t, b); ha == hb {
			return fmt.Errorf("VMs %s and %s both run on %s", a, b, ha)
		}
		return nil
	}
}

// TestAccAntiAffinityRule_drs: in a DRS cluster, two VMs on one host get the rule and are moved
// apart by the apply; a vMotion onto one host afterwards shows as drift at refresh and the next
// apply moves them apart again; a rule deleted in vSphere is drift and made again; the rule
// imports; destroy removes it.
func TestAccAntiAffinityRule_drs(t *testing.T) {
	t.Parallel()
	v := acctest.Lab(t).VSphere()
	h0, h1 := v.Cluster+"_H0", v.Cluster+"_H1"
	a, b := acctest.BareVM(t, "tf-aa-node", h0), acctest.BareVM(t, "tf-aa-data", h0)
	const rule = "tf-aa-drs"
	config := antiAffinityConfig(t, rule, v.Cluster, a, b, "")
	res := "hipchatdc_anti_affinity_rule.apart"
	shared := regexp.MustCompile(fmt.Sprintf(`^VM "tf-aa-node" \(%s\) and VM "tf-aa-data" \(%s\) all run on ESXi host %q$`, a, b, h0))
	var w planWarnings
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: w.factories(),
		CheckDestroy: func(*terraform.State) error {
			if _, ok := acctest.AntiAffinityRule(t, v.Cluster, rule); ok {
				return fmt.Errorf("rule %q still in %s after destroy", rule, v.Cluster)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkRule(t, v.Cluster, rule, a, b), checkApart(t, a, b),
					// The plan says what the apply will do, and the apply what it did.
					w.expectWarning("virtual_machine_ids", "the apply moves them apart", fmt.Sprintf("moves VM %q", "tf-aa-data")),
					w.expectApply("virtual_machine_ids", "VM moved to another ESXi host", fmt.Sprintf(`VM "tf-aa-data" (%s) ran on ESXi host %q`, b, h0), fmt.Sprintf("moved it to host %q", h1)),
					// The first VM keeps its host; the second is the one moved.
					resource.TestCheckResourceAttr(res, "hosts."+a, h0),
					resource.TestCheckResourceAttr(res, "hosts."+b, h1),
					resource.TestCheckResourceAttr(res, "drs_enabled", "true"),
					resource.TestCheckResourceAttr(res, "drift.#", "0"),
				),
			},
			{
				// A vMotion behind Terraform's back puts the data stores next to the node.
				PreConfig:          func() { acctest.MoveVM(t, b, h0) },
				RefreshState:       true,
				ExpectNonEmptyPlan: true,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "drift.#", "1"),
					resource.TestMatchResourceAttr(res, "drift.0", shared),
				),
			},
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(checkApart(t, a, b), resource.TestCheckResourceAttr(res, "drift.#", "0")),
			},
			{
				// The rule deleted in vSphere is drift, and the apply makes it again.
				PreConfig: func() { acctest.RemoveClusterRule(t, v.Cluster, rule) },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: checkRule(t, v.Cluster, rule, a, b),
			},
			{
				// Imported with the cluster written as the configuration has it, the state is
				// the same, compute_cluster_id and datacenter too ...
				ResourceName:      res,
				ImportState:       true,
				ImportStateIdFunc: func(*terraform.State) (string, error) { return v.Cluster + ":" + rule, nil },
				ImportStateVerify: true,
			},
			{
				// ... and the plan that imports it (an import block) changes nothing.
				ResourceName:      res,
				ImportState:       true,
				ImportStateKind:   resource.ImportBlockWithID,
				ImportStateIdFunc: func(*terraform.State) (string, error) { return v.Cluster + ":" + rule, nil },
				ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
			{
				// The same cluster written another way (inventory path, with its datacenter)
				// only updates the state: the rule is not made again.
				Config: antiAffinityConfig(t, rule, v.ClusterPath, a, b, fmt.Sprintf("  datacenter = %q", v.Datacenter)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkRule(t, v.Cluster, rule, a, b),
					resource.TestCheckResourceAttr(res, "compute_cluster_id", v.ClusterPath),
					resource.TestCheckResourceAttr(res, "datacenter", v.Datacenter),
				),
			},
		},
	})
}

// TestAccAntiAffinityRule_noDRS: a cluster that does not exist fails the plan on
// compute_cluster_id. In a cluster without DRS no rule can be made. The plan fails
// when the VMs share a host (naming both and the host), enforce = false accepts that with a
// warning and makes no rule, and with the VMs apart a later vMotion onto one host fails the
// next plan.
func TestAccAntiAffinityRule_noDRS(t *testing.T) {
	t.Parallel()
	v := acctest.Lab(t).VSphere()
	h0, h1 := v.NoDRSCluster+"_H0", v.NoDRSCluster+"_H1"
	a, b := acctest.BareVM(t, "tf-aa-nodrs-node", h0), acctest.BareVM(t, "tf-aa-nodrs-data", h0)
	const rule = "tf-aa-nodrs"
	res := "hipchatdc_anti_affinity_rule.apart"
	sharedErr := regexp.MustCompile(fmt.Sprintf(`(?s)Error: VMs share an ESXi host.*%s`, acctest.Wrapped(
		fmt.Sprintf(`VM "tf-aa-nodrs-node" (%s) and VM "tf-aa-nodrs-data" (%s) all run on ESXi host %q; the small-scale guide uses "one VMWare host for the Hipchat node, another VMWare host for all three data stores"`, a, b, h0))))
	noRule := func(*terraform.State) error {
		if rules := acctest.ClusterRules(t, v.NoDRSCluster); len(rules) != 0 {
			return fmt.Errorf("cluster %s without DRS has %d rules", v.NoDRSCluster, len(rules))
		}
		return nil
	}
	var w planWarnings
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: w.factories(),
		Steps: []resource.TestStep{
			{
				Config: antiAffinityConfig(t, rule, "DC0_C9", a, b, ""), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Error: Cluster not found.*` + acctest.Wrapped(fmt.Sprintf(`compute_cluster_id "DC0_C9" not found in datacenter %q; available: %s, %s, %s`,
					v.Datacenter, v.Cluster, v.SlowCluster, v.NoDRSCluster))),
			},
			{Config: antiAffinityConfig(t, rule, v.NoDRSCluster, a, b, ""), ExpectError: sharedErr},
			{
				Config: antiAffinityConfig(t, rule, v.NoDRSCluster, a, b, "  enforce = false"),
				Check: resource.ComposeAggregateTestCheckFunc(noRule,
					// The plan says no rule can be made and that the shared host is accepted.
					w.expectWarning("compute_cluster_id", "DRS is off: no anti-affinity rule is made", "falls back to comparing the hosts"),
					w.expectWarning("enforce", "VMs share an ESXi host", "Accepted because enforce = false"),
					resource.TestCheckResourceAttr(res, "drs_enabled", "false"),
					resource.TestCheckResourceAttr(res, "hosts."+a, h0),
					resource.TestCheckResourceAttr(res, "hosts."+b, h0),
					resource.TestCheckResourceAttr(res, "drift.#", "0"),
				),
			},
			{
				PreConfig: func() { acctest.MoveVM(t, b, h1) },
				Config:    antiAffinityConfig(t, rule, v.NoDRSCluster, a, b, ""),
				Check:     resource.ComposeAggregateTestCheckFunc(noRule, resource.TestCheckResourceAttr(res, "hosts."+b, h1)),
			},
			{
				// Without DRS the provider moves nothing: the vMotion back fails the plan.
				PreConfig:   func() { acctest.MoveVM(t, b, h0) },
				Config:      antiAffinityConfig(t, rule, v.NoDRSCluster, a, b, ""),
				ExpectError: sharedErr,
			},
		},
	})
}

// TestAccAntiAffinityRule_nameTaken: a rule of the same name made outside Terraform fails the
// plan on name, in a cluster without DRS as in one with it, and is left as it was: destroying
// the resource would otherwise remove someone else's rule.
func TestAccAntiAffinityRule_nameTaken(t *testing.T) {
	// Not parallel: it adds a rule to the cluster without DRS, where TestAccAntiAffinityRule_noDRS
	// expects none.
	v := acctest.Lab(t).VSphere()
	const rule = "tf-aa-taken"
	var steps []resource.TestStep
	for _, cluster := range []string{v.NoDRSCluster, v.Cluster} {
		a := acctest.BareVM(t, "tf-aa-taken-node-"+cluster, cluster+"_H0")
		b := acctest.BareVM(t, "tf-aa-taken-data-"+cluster, cluster+"_H1")
		acctest.AddClusterRule(t, cluster, rule, a, b)
		t.Cleanup(func() { acctest.RemoveClusterRule(t, cluster, rule) })
		steps = append(steps, resource.TestStep{
			Config: antiAffinityConfig(t, rule, cluster, a, b, ""),
			ExpectError: regexp.MustCompile(`(?s)Error: Rule exists already.*with hipchatdc_anti_affinity_rule.apart.*` +
				acctest.Wrapped(fmt.Sprintf(`name = %q: cluster %q has a rule of this name already (made outside this configuration). Choose another name, or take it over with `+
					"`terraform import <address> %s:%s`.", rule, cluster, cluster, rule))),
		})
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: acctest.Factories(), Steps: steps})
	for _, cluster := range []string{v.NoDRSCluster, v.Cluster} {
		if _, ok := acctest.AntiAffinityRule(t, cluster, rule); !ok {
			t.Errorf("the rule %q made outside Terraform is gone from cluster %s", rule, cluster)
		}
	}
}

// TestAccAntiAffinityRule_standaloneESXi: against a standalone ESXi host, which has no
// clusters, the plan fails on compute_cluster_id, saying so and pointing at the module for
// standalone hosts; with the provider's connection known only at apply, the apply does.
func TestAccAntiAffinityRule_standaloneESXi(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	esx := l.StandaloneESXi()[0]
	const rule = `
resource "hipchatdc_anti_affinity_rule" "apart" {
  name                = "tf-aa-esxi"
  compute_cluster_id  = "C0"
  virtual_machine_ids = ["vm-1", "vm-2"]
}
`
	// vsphere_server known only at apply: nothing can be asked of the host at plan time.
	unknown := fmt.Sprintf(`
resource "terraform_data" "esxi" {
  input = %q
}

provider "hipchatdc" {
  vsphere_server = terraform_data.esxi.output
  user           = %q
  password       = %q
  ca_file        = %q
}
`, esx.Server, esx.User, esx.Password, esx.CAFile)
	noCluster := regexp.MustCompile(`(?s)Error: Placement does not fit the vSphere endpoint.*with hipchatdc_anti_affinity_rule.apart.*` +
		acctest.Wrapped(fmt.Sprintf(`compute_cluster_id = "C0": vsphere_server %q is VMware ESX`, esx.Server)) + `.*` +
		acctest.Wrapped("a standalone ESXi host without a vCenter, which has no clusters and so no DRS rules") + `.*` +
		acctest.Wrapped("as modules/small-scale-standalone-esxi does"))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{
			{Config: acctest.ESXiProviderConfig(l, 0, "") + rule, PlanOnly: true, ExpectError: noCluster},
			{Config: unknown + rule, ExpectError: noCluster},
		},
	})
}
