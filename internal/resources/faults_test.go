package resources_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// managedNode is a node from the lab's node OVA whose guest the provider configures.
func managedNode(t *testing.T, l *lab.Lab, name, address, hostname, ntp, extra string) string {
	cfg := nodeGuestConfig(l, false, name, address, hostname, extra)
	for _, r := range [][2]string{
		{`ova_path     = ""`, fmt.Sprintf("ova_path     = %q", acctest.OVA(t, lab.KindNode, 40))},
		{`ntp_servers  = ["time1.example.com", "time2.example.com"]`, "ntp_servers  = " + ntp},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("nodeGuestConfig has no %s to replace", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return cfg
}

const (
	ntpA = `["time1.example.com", "time2.example.com"]`
	ntpB = `["time3.example.com"]`
)

// A create that fails after the VM exists (here: the guest's host key is not the pinned one)
// records the VM with a state Terraform accepts: no value left unknown (the data-store node's
// postgres_version was), and the next apply replaces the tainted VM by itself.
func TestAccDatastoreNode_failedCreateRecordsAKnownState(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-ds-failed-create"
	o := dsOpts{name: name, address: acctest.LabAddress(t, l, false, 240)}
	good := datastoreConfig(t, l, o)
	o.extra = fmt.Sprintf("  ssh {\n    host_key = %q\n  }", l.SSH().PublicKey)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.StrictFactories(t),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config:      datastoreConfig(t, l, o),
			ExpectError: regexp.MustCompile(`(?s)host key.*does not match`),
		}, {
			Config: good,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("hipchatdc_datastore_node.data", plancheck.ResourceActionReplace),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttrSet("hipchatdc_datastore_node.data", "postgres_version"),
				func(*terraform.State) error {
					if n := acctest.VMCount(t, name); n != 1 {
						return fmt.Errorf("%d VMs named %s, want 1", n, name)
					}
					return nil
				},
			),
		}},
	})
}

// An update refused before it changed anything (the pinned host key is wrong) leaves the state
// as the guest really is: the old host name, NTP servers and ssh settings. The next plan with
// the same configuration still shows the change, and the old configuration plans nothing.
func TestAccNodeGuest_refusedUpdateKeepsTheState(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-node-refused-update"
	addr := acctest.LabAddress(t, l, false, 241)
	before := managedNode(t, l, name, addr, "hipchat-refused-1.example.com", ntpA, "")
	after := managedNode(t, l, name, addr, "hipchat-refused-2.example.com", ntpB,
		fmt.Sprintf("  ssh {\n    host_key = %q\n  }", l.SSH().PublicKey))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.StrictFactories(t),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: before,
		}, {
			Config:      after,
			ExpectError: regexp.MustCompile(`(?s)host key.*does not match`),
		}, {
			// The same change is still planned: nothing of it was recorded as done.
			Config:   after,
			PlanOnly: true, ExpectNonEmptyPlan: true,
		}, {
			// And the configuration the guest really has plans nothing.
			Config: before,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_node.app", "hostname", "hipchat-refused-1.example.com"),
				resource.TestCheckResourceAttr("hipchatdc_node.app", "ntp_servers.0", "time1.example.com"),
				resource.TestCheckNoResourceAttr("hipchatdc_node.app", "ssh.host_key"),
			),
		}},
	})
}

// powerOff stops a VM behind Terraform's back, as an operator in the vSphere client would.
func powerOff(t *testing.T, name string) {
	acctest.WithVM(t, name, func(ctx context.Context, vm *object.VirtualMachine) {
		task, err := vm.PowerOff(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatalf("power off %s: %v", name, err)
		}
	})
}

// refreshMadeNoConnection proves a plan did not try to reach a guest over SSH: the test's
// provider opened no connection counted in ssh (acctest.CountSSH) since ssh was reset.
type refreshMadeNoConnection struct{ ssh *guest.Tally }

func (r refreshMadeNoConnection) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	if s := r.ssh.Stats(); s.Connections != 0 {
		resp.Error = fmt.Errorf("the plan opened %d SSH connections to a guest vSphere reports powered off; want none", s.Connections)
	}
}

// A VM powered off behind Terraform's back is drift: refresh reads power_state from vSphere
// without trying SSH, the plan turns it back on, and the apply starts it and its guest answers
// with the configured settings.
func TestAccNodeGuest_poweredOffIsDrift(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-node-powered-off"
	addr := acctest.LabAddress(t, l, false, 242)
	cfg := managedNode(t, l, name, addr, "hipchat-power.example.com", ntpA, "")
	var ssh guest.Tally
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.CountSSH(&ssh, acctest.StrictFactories(t)),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check:  resource.TestCheckResourceAttr("hipchatdc_node.app", "power_state", "on"),
		}, {
			PreConfig: func() {
				powerOff(t, name)
				ssh.Reset()
			},
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				refreshMadeNoConnection{&ssh},
				plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue("hipchatdc_node.app", attrPath("power_state"), knownvalue.StringExact("on")),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_node.app", "power_state", "on"),
				func(*terraform.State) error {
					vm, ok := acctest.VM(t, name)
					if !ok || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
						return fmt.Errorf("VM %s is not powered on after the apply (found: %t)", name, ok)
					}
					return nil
				},
				guestHas(t, l, name, addr, "hipchat-power.example.com"),
				func(*terraform.State) error {
					// The apply reached the guest it powered on: the plan's count of no
					// connection was a count of this provider's connections.
					if s := ssh.Stats(); s.Connections == 0 {
						return fmt.Errorf("the step's apply opened no SSH connection as far as the test's count goes (%+v)", s)
					}
					return nil
				},
			),
		}},
	})
}

// A plan that cannot look at the guest (its host key was regenerated, so it no longer matches
// known_hosts) does not say "No changes": drift holds "guest not verified: ..." so that
// `terraform plan -detailed-exitcode` exits 2, and the apply fails with the reason. Once the
// guest answers with its known key again, the plan is empty.
func TestAccNodeGuest_unverifiedGuestIsAChange(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-node-unverified"
	addr := acctest.LabAddress(t, l, false, 243)
	cfg := managedNode(t, l, name, addr, "hipchat-unverified.example.com", ntpA, "")
	key := "/etc/ssh/ssh_host_ed25519_key"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.StrictFactories(t),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: cfg,
		}, {
			PreConfig: func() {
				acctest.GuestExec(t, l, name, "cp -p "+key+" /root/host_key.orig && rm -f "+key+" "+key+".pub && "+
					"ssh-keygen -q -t ed25519 -N '' -f "+key+" && kill -HUP $(cat /run/sshd.pid)")
			},
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue("hipchatdc_node.app", attrPath("drift"), knownvalue.ListExact(nil)),
				driftBefore{"hipchatdc_node.app", "guest not verified: SSH to " + addr + " failed: host key for " + addr + " does not match"},
			}},
			ExpectError: regexp.MustCompile(`(?s)host key for .* does not match known_hosts`),
		}, {
			PreConfig: func() {
				acctest.GuestExec(t, l, name, "cp -p /root/host_key.orig "+key+" && kill -HUP $(cat /run/sshd.pid)")
			},
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectEmptyPlan(),
			}},
		}},
	})
}

// driftBefore checks that the refreshed state the plan starts from lists a drift entry that
// starts with prefix.
type driftBefore struct{ address, prefix string }

func (d driftBefore) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != d.address {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		drift, _ := before["drift"].([]any)
		for _, e := range drift {
			if s, _ := e.(string); strings.HasPrefix(s, d.prefix) {
				return
			}
		}
		resp.Error = fmt.Errorf("%s: drift before the change is %v; want an entry starting %q", d.address, drift, d.prefix)
		return
	}
	resp.Error = fmt.Errorf("%s is not in the plan", d.address)
}
