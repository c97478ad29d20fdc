package resources_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// nodeVMConfig is a hipchatdc_node with only its VM part (no guest configuration).
func nodeVMConfig(t *testing.T, name string, cpus, mem, disk int) string {
	l := acctest.Lab(t)
	return acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name       = %q
  datacenter = %q
  cluster    = %q
  datastore  = %q
  network    = %q
  ova_path   = %q
  num_cpus   = %d
  memory     = %d
  disk_size  = %d
}
`, name, l.VSphere().Datacenter, l.VSphere().Cluster, l.VSphere().Datastore, l.VSphere().Network, acctest.OVA(t, lab.KindNode, 40), cpus, mem, disk)
}

func checkVMHardware(t *testing.T, name string, cpus int32, memMB int32) resource.TestCheckFunc {
	return func(*terraform.State) error {
		vm, ok := acctest.VM(t, name)
		if !ok {
			return fmt.Errorf("VM %s not in vSphere", name)
		}
		if vm.Config.Hardware.NumCPU != cpus || vm.Config.Hardware.MemoryMB != memMB {
			return fmt.Errorf("VM %s has %d vCPU / %d MiB in vSphere, want %d / %d", name, vm.Config.Hardware.NumCPU, vm.Config.Hardware.MemoryMB, cpus, memMB)
		}
		return nil
	}
}

func checkNoVM(t *testing.T, name string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if _, ok := acctest.VM(t, name); ok {
			return fmt.Errorf("VM %s is still in vSphere", name)
		}
		return nil
	}
}

func TestAccNode_lifecycle(t *testing.T) {
	t.Parallel()
	name := "tf-node-life"
	var moid, uuid string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config: nodeVMConfig(t, name, 8, 16384, 40),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr("hipchatdc_node.app", "id", regexp.MustCompile(`^vm-\d+$`)),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "num_cpus", "8"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "memory", "16384"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "disk_size", "40"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "cluster", acctest.Lab(t).VSphere().Cluster),
					checkVMHardware(t, name, 8, 16384),
					func(s *terraform.State) error {
						rs := s.RootModule().Resources["hipchatdc_node.app"].Primary
						moid, uuid = rs.ID, rs.Attributes["uuid"]
						if uuid == "" {
							return fmt.Errorf("no uuid")
						}
						return nil
					},
				),
			},
			{
				// Growing is an in-place update.
				Config: nodeVMConfig(t, name, 12, 20480, 50),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_node.app", "num_cpus", "12"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "disk_size", "50"),
					checkVMHardware(t, name, 12, 20480),
					func(*terraform.State) error {
						vm, _ := acctest.VM(t, name)
						for _, d := range vm.Config.Hardware.Device {
							if disk, ok := d.(*types.VirtualDisk); ok && disk.CapacityInBytes != 50<<30 {
								return fmt.Errorf("disk has %d bytes in vSphere, want 50 GiB", disk.CapacityInBytes)
							}
						}
						return nil
					},
				),
			},
			{
				// Shrinking the disk is refused at plan time.
				Config:      nodeVMConfig(t, name, 12, 20480, 45),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)disk_size.*cannot shrink`),
			},
			{
				// A CPU change made in vSphere behind Terraform's back shows in the next plan.
				PreConfig: func() {
					acctest.WithVM(t, name, func(ctx context.Context, vm *object.VirtualMachine) {
						task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{NumCPUs: 16})
						if err == nil {
							err = task.Wait(ctx)
						}
						if err != nil {
							t.Fatal(err)
						}
					})
				},
				Config: nodeVMConfig(t, name, 12, 20480, 50),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue("hipchatdc_node.app", attrPath("num_cpus"), knownInt(12)),
				}},
				// Applying the plan puts the configured value back: the drift is corrected.
				Check: checkVMHardware(t, name, 12, 20480),
			},
			importStep(func(*terraform.State) (string, error) {
				return "/" + acctest.Lab(t).VSphere().Datacenter + "/vm/" + name, nil
			}),
			importStep(func(*terraform.State) (string, error) { return moid, nil }),
			importStep(func(*terraform.State) (string, error) { return uuid, nil }),
			importStep(func(*terraform.State) (string, error) {
				vm, _ := acctest.VM(t, name)
				return vm.Config.InstanceUuid, nil
			}),
		},
	})
}

// TestAccNode_addressOfASlowBoot creates a node the provider does not configure (no host name,
// no address) whose guest takes a few seconds to boot: Create waits for VMware Tools to report
// the address, so default_ip_address in the state is the VM's address, not the empty string
// an apply that outran the boot recorded (and that a later refresh or import contradicted:
// TestAccNode_lifecycle's import steps failed on it under load).
func TestAccNode_addressOfASlowBoot(t *testing.T) {
	t.Parallel()
	name := "tf-node-slowboot"
	l := acctest.Lab(t)
	l.SetVMBootDelay(name, 5*time.Second)
	t.Cleanup(func() { l.SetVMBootDelay(name, 0) })
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.StrictFactories(t),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: nodeVMConfig(t, name, 8, 16384, 40),
			Check: func(s *terraform.State) error {
				got := s.RootModule().Resources["hipchatdc_node.app"].Primary.Attributes["default_ip_address"]
				vm, ok := acctest.VM(t, name)
				if !ok || vm.Guest == nil || vm.Guest.IpAddress == "" {
					return fmt.Errorf("VMware Tools reports no address for %s", name)
				}
				if got != vm.Guest.IpAddress {
					return fmt.Errorf("default_ip_address = %q in the state, VMware Tools reports %q", got, vm.Guest.IpAddress)
				}
				return nil
			},
		}},
	})
}

// TestAccNode_importGuestRefusesLogin imports a VM whose guest refuses the provider's ssh
// settings: it is imported from vSphere alone, with a warning, and the next plan has nothing to
// do. Its drift reads as empty, as after any import (it was null, which the plan showed as a
// change to []).
func TestAccNode_importGuestRefusesLogin(t *testing.T) {
	t.Parallel()
	name := "tf-node-nologin"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, moid := acctest.ImportVM(t, ctx, name, acctest.OVA(t, lab.KindNode, 40))
	err := c.Reconfigure(ctx, moid, vsphere.Sizing{NumCPUs: 8, MemoryMB: 16384})
	if err == nil {
		err = c.PowerOn(ctx, moid)
	}
	if err == nil {
		_, err = c.WaitForIP(ctx, moid, time.Minute) // a bound: guests boot slower beside other tests
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodeVMConfig(t, name, 8, 16384, 40)
	noLogin := strings.Replace(cfg, `user             = "root"`, `user             = "nobody"`, 1)
	if noLogin == cfg {
		t.Fatal("the provider's ssh user was not replaced")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config:             noLogin,
				ResourceName:       "hipchatdc_node.app",
				ImportState:        true,
				ImportStateId:      moid,
				ImportStatePersist: true,
				ImportStateCheck: func(s []*terraform.InstanceState) error {
					if len(s) != 1 || s[0].Attributes["num_cpus"] != "8" {
						return fmt.Errorf("imported %v", s)
					}
					return nil
				},
			},
			{
				// The first apply after an import records the source; the plan shows nothing
				// else changing, drift included.
				Config: noLogin,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
					expectUnchanged("hipchatdc_node.app", "drift", "num_cpus", "memory", "disk_size", "timezone"),
				}},
			},
			{Config: noLogin, PlanOnly: true},
		},
	})
}

// expectUnchanged is a plan check: the named attributes of a resource have the same value
// before and after the planned change.
func expectUnchanged(address string, attrs ...string) plancheck.PlanCheck {
	return unchanged{address, attrs}
}

type unchanged struct {
	address string
	attrs   []string
}

func (u unchanged) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != u.address {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		after, _ := rc.Change.After.(map[string]any)
		for _, a := range u.attrs {
			if !reflect.DeepEqual(before[a], after[a]) {
				resp.Error = errors.Join(resp.Error, fmt.Errorf("%s: %s planned to change from %v to %v", u.address, a, before[a], after[a]))
			}
		}
		return
	}
	resp.Error = fmt.Errorf("%s: not in the plan", u.address)
}

// importStep imports the node by one kind of ID and verifies that every attribute of the VM
// reads back as it was. This configuration leaves the guest alone, while an import reads the
// guest's network identity too (the lab's guest answers to the provider's ssh settings): those
// attributes are checked in TestAccNodeGuest_*.
func importStep(id resource.ImportStateIdFunc) resource.TestStep {
	step := importVerify("hipchatdc_node.app", "hostname", "ipv4_address", "ipv4_gateway", "ipv4_netmask", "ntp_servers", "dns_servers", "timezone")
	step.ImportStateIdFunc = id
	return step
}

func TestAccNode_undersizedRejectedAtPlan(t *testing.T) {
	t.Parallel()
	name := "tf-node-small"
	for _, c := range []struct {
		cpus, mem, disk int
		want            string
	}{
		{4, 16384, 40, `num_cpus = 4: a Hipchat node needs at least 8 vCPU`},
		{8, 8192, 40, `memory = 8192: a Hipchat node needs at least 16384 MiB (16 GB) of RAM`},
		{8, 16384, 20, `disk_size = 20: a Hipchat node needs at least 40 GB of storage`},
		// What vcsim accepts and a real vSphere refuses, after the OVA upload.
		{1000000, 16384, 40, `num_cpus = 1000000: vSphere allows at most 768 vCPUs per VM (vSphere 8 configuration maximums); got 1000000`},
		{8, 16385, 40, `memory = 16385: vSphere requires memory in multiples of 4 MB; use 16384 or 16388`},
	} {
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps: []resource.TestStep{{
				Config:      nodeVMConfig(t, name, c.cpus, c.mem, c.disk),
				ExpectError: wrapped(c.want),
			}},
		})
		if _, ok := acctest.VM(t, name); ok {
			t.Fatalf("%d/%d/%d: a VM was created for a rejected plan", c.cpus, c.mem, c.disk)
		}
	}
}

func TestAccNode_badInputLeavesNothing(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	good := acctest.OVA(t, lab.KindNode, 40)
	cases := []struct {
		name, attrs, want string
	}{
		{"tf-bad-missing", `ova_path = "/nonexistent/HipChat.ova"`, `(?s)ova_path.*/nonexistent/HipChat.ova`},
		{"tf-bad-datastore", fmt.Sprintf("ova_path = %q\n  datastore = \"nope\"", good), `(?s)datastore.*"nope" not found`},
		{"tf-bad-network", fmt.Sprintf("ova_path = %q\n  network = \"nope\"", good), `(?s)network.*"nope" not found`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.Factories(),
				Steps: []resource.TestStep{{
					Config: acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name       = %q
  datacenter = %q
  cluster    = %q
  %s
}
`, c.name, l.VSphere().Datacenter, l.VSphere().Cluster, c.attrs),
					ExpectError: regexp.MustCompile(c.want),
				}},
			})
			if _, ok := acctest.VM(t, c.name); ok {
				t.Fatalf("a VM %s was left behind", c.name)
			}
		})
	}
}
