package vsphere

import (
	"context"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// VMsWithAddress finds the VMs whose Tools report an address and says which of them run: a VM
// powered off keeps its last address in vCenter, and must not block a new VM from taking it.
func TestVMsWithAddress(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	const addr = "192.0.2.77"
	f := find.NewFinder(c.Vim25(), true)
	dc, err := f.Datacenter(ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	on, err := f.VirtualMachine(ctx, "DC0_C0_RP0_VM0")
	if err != nil {
		t.Fatal(err)
	}
	off, err := f.VirtualMachine(ctx, "DC0_C0_RP0_VM1")
	if err != nil {
		t.Fatal(err)
	}
	set := func(ref types.ManagedObjectReference, ip string, state types.VirtualMachinePowerState) {
		vm := vcsim.Map().Get(ref).(*simulator.VirtualMachine)
		vcsim.Map().WithLock(vcsim.Service.Context, vm, func() {
			vm.Guest.IpAddress = ip
			vm.Runtime.PowerState = state
		})
	}
	set(on.Reference(), addr, types.VirtualMachinePowerStatePoweredOn)
	set(off.Reference(), addr, types.VirtualMachinePowerStatePoweredOff)
	t.Cleanup(func() {
		set(on.Reference(), "", types.VirtualMachinePowerStatePoweredOn)
		set(off.Reference(), "", types.VirtualMachinePowerStatePoweredOn)
	})

	got, err := c.VMsWithAddress(ctx, "DC0", addr)
	if err != nil {
		t.Fatal(err)
	}
	want := []AddressedVM{{Name: "DC0_C0_RP0_VM0", Running: true}, {Name: "DC0_C0_RP0_VM1", Running: false}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("VMsWithAddress(DC0, %s) = %+v, want %+v", addr, got, want)
	}
	if got, err := c.VMsWithAddress(ctx, "", "192.0.2.78"); err != nil || len(got) != 0 {
		t.Errorf("an address no VM reports: %+v, %v", got, err)
	}
	if _, err := c.VMsWithAddress(ctx, "NO_SUCH_DC", addr); err == nil {
		t.Error("a datacenter that does not exist gave no error")
	}
}
