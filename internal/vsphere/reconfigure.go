package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Sizing is the wanted hardware of a VM. Zero fields are left as they are.
type Sizing struct {
	NumCPUs  int32
	MemoryMB int64
	// Disks in GiB: [0] is the system disk, [1] an optional data disk that
	// is added (thin, on the VM's datastore) when the VM has only one. A zero
	// size leaves an existing disk as it is.
	Disks []int64
	// CPUHotAdd and MemoryHotAdd, when set, are the wanted config.cpuHotAddEnabled and
	// config.memoryHotAddEnabled. vSphere changes them only while the VM is powered off.
	CPUHotAdd, MemoryHotAdd *bool
}

// ShutdownTimeout bounds how long a power cycle waits for the guest to shut down through
// VMware Tools before it powers the VM off hard.
const ShutdownTimeout = 2 * time.Minute

// NeedsPowerCycle reports whether changing a VM from its current CPUs, memory and hot-add
// settings to the wanted ones needs a powered-off VM, and why ("" when it does not). want
// fields that are zero or nil are not changing. It is the rule Reconfigure follows, and what
// the plan warns about.
func NeedsPowerCycle(cur, want Sizing) string {
	var why []string
	if want.CPUHotAdd != nil && *want.CPUHotAdd != boolOf(cur.CPUHotAdd) {
		why = append(why, "cpu_hot_add_enabled changes (vSphere changes it only on a powered-off VM)")
	}
	if want.MemoryHotAdd != nil && *want.MemoryHotAdd != boolOf(cur.MemoryHotAdd) {
		why = append(why, "memory_hot_add_enabled changes (vSphere changes it only on a powered-off VM)")
	}
	switch {
	case want.NumCPUs == 0 || want.NumCPUs == cur.NumCPUs:
	case want.NumCPUs < cur.NumCPUs:
		why = append(why, fmt.Sprintf("num_cpus shrinks from %d to %d (vSphere cannot remove vCPUs from a running VM)", cur.NumCPUs, want.NumCPUs))
	case !boolOf(cur.CPUHotAdd):
		why = append(why, fmt.Sprintf("num_cpus grows from %d to %d with CPU hot add off (cpu_hot_add_enabled)", cur.NumCPUs, want.NumCPUs))
	}
	switch {
	case want.MemoryMB == 0 || want.MemoryMB == cur.MemoryMB:
	case want.MemoryMB < cur.MemoryMB:
		why = append(why, fmt.Sprintf("memory shrinks from %d to %d MiB (vSphere cannot remove memory from a running VM)", cur.MemoryMB, want.MemoryMB))
	case !boolOf(cur.MemoryHotAdd):
		why = append(why, fmt.Sprintf("memory grows from %d to %d MiB with memory hot add off (memory_hot_add_enabled)", cur.MemoryMB, want.MemoryMB))
	}
	return strings.Join(why, "; ")
}

func boolOf(b *bool) bool { return b != nil && *b }

// Reconfigure applies s: CPU and memory, hot-add settings, growing disks,
// adding the data disk. Shrinking a disk is refused (vSphere cannot do it).
// Disks grow and are added while the VM runs; CPU or memory changes on a
// powered-on VM are made hot only when they are increases and the VM has
// CPU/memory hot add enabled. Otherwise (see NeedsPowerCycle) the guest is
// shut down through VMware Tools (powered off hard after ShutdownTimeout, or
// at once when Tools is not running), changed in one reconfigure, and
// powered on again, as vSphere requires.
func (c *Client) Reconfigure(ctx context.Context, moid string, s Sizing) error {
	vm := c.objectVM(moid)
	var o mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"config.hardware", "config.cpuHotAddEnabled", "config.memoryHotAddEnabled", "runtime.powerState", "datastore"}, &o); err != nil {
		return c.vmErr(moid, err)
	}
	hw := o.Config.Hardware
	devs := object.VirtualDeviceList(hw.Device)
	disks := devs.SelectByType((*types.VirtualDisk)(nil))
	ordered := diskSizesGiB(devs)
	// diskSizesGiB sorts; keep the devices in the same order.
	sortDisksLike(devs, disks)

	spec := types.VirtualMachineConfigSpec{}
	var newFiles []string // of the disks added, for an error that names them
	for i, want := range s.Disks {
		if i < len(disks) {
			if want == 0 {
				continue // keep the size the source gave it
			}
			if want < ordered[i] {
				return fmt.Errorf("VM %s: disk %d is %d GiB; shrinking it to %d GiB is not possible", moid, i, ordered[i], want)
			}
			d := disks[i].(*types.VirtualDisk)
			if want<<30 > diskBytes(d) {
				d.CapacityInBytes = want << 30
				d.CapacityInKB = want << 20
				spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: d})
			}
			continue
		}
		if want <= 0 {
			continue
		}
		ctl, err := devs.FindDiskController("")
		if err != nil {
			return fmt.Errorf("VM %s: no controller for a new disk: %w", moid, err)
		}
		ds, file, err := c.newDiskFile(ctx, moid, o.Datastore, devs)
		if err != nil {
			return err
		}
		newFiles = append(newFiles, file)
		d := devs.CreateDisk(ctl, ds, file)
		if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			b.ThinProvisioned = types.NewBool(true)
		}
		d.CapacityInKB = want << 20
		d.CapacityInBytes = want << 30
		devs = append(devs, d) // so a second new disk gets the next unit
		spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate, Device: d})
	}

	on := o.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	cur := Sizing{NumCPUs: hw.NumCPU, MemoryMB: int64(hw.MemoryMB), CPUHotAdd: o.Config.CpuHotAddEnabled, MemoryHotAdd: o.Config.MemoryHotAddEnabled}
	if s.NumCPUs > 0 && s.NumCPUs != hw.NumCPU {
		spec.NumCPUs = s.NumCPUs
	}
	if s.MemoryMB > 0 && s.MemoryMB != int64(hw.MemoryMB) {
		spec.MemoryMB = s.MemoryMB
	}
	if s.CPUHotAdd != nil && *s.CPUHotAdd != boolOf(cur.CPUHotAdd) {
		spec.CpuHotAddEnabled = types.NewBool(*s.CPUHotAdd)
	}
	if s.MemoryHotAdd != nil && *s.MemoryHotAdd != boolOf(cur.MemoryHotAdd) {
		spec.MemoryHotAddEnabled = types.NewBool(*s.MemoryHotAdd)
	}
	if spec.NumCPUs == 0 && spec.MemoryMB == 0 && spec.CpuHotAddEnabled == nil && spec.MemoryHotAddEnabled == nil && len(spec.DeviceChange) == 0 {
		return nil
	}
	why := NeedsPowerCycle(cur, s)
	cycle := on && why != ""
	if cycle {
		if err := c.shutdown(ctx, moid, why); err != nil {
			// The guest may already be down or going down: bring the VM back.
			return errors.Join(err, c.powerOnAgain(ctx, moid))
		}
	}
	t, err := vm.Reconfigure(ctx, spec)
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	if err != nil {
		err = c.vmErr(moid, fmt.Errorf("reconfigure: %w", diskFileErr(err, newFiles)))
	}
	if cycle {
		// Power back on even after a failed change: the VM was running.
		if perr := c.powerOnAgain(ctx, moid); perr != nil {
			err = errors.Join(err, perr)
		}
	}
	return err
}

// powerOnAgain powers on a VM that a power cycle took down, on a context of its own: an apply
// cancelled or timed out half-way must not leave a VM that was running powered off.
func (c *Client) powerOnAgain(ctx context.Context, moid string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	return c.PowerOn(ctx, moid)
}

// shutdown powers a running VM off for a change that needs it (why): through VMware Tools
// when they run, as an operator would, so that the guest's services stop cleanly; hard when
// Tools is not running or the guest has not powered off within ShutdownTimeout (or ctx's
// deadline, whichever comes first).
func (c *Client) shutdown(ctx context.Context, moid, why string) error {
	vm := c.objectVM(moid)
	var o mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"guest.toolsRunningStatus"}, &o); err != nil {
		return c.vmErr(moid, err)
	}
	fields := map[string]any{"vm": moid, "reason": why}
	if o.Guest == nil || o.Guest.ToolsRunningStatus != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		tflog.Warn(ctx, "VMware Tools is not running in the guest: powering the VM off hard", fields)
		return c.PowerOff(ctx, moid)
	}
	tflog.Info(ctx, "shutting the guest down through VMware Tools", fields)
	if err := vm.ShutdownGuest(ctx); err != nil {
		// Tools stopped meanwhile (ToolsUnavailable) or the guest refused: the change
		// still needs the VM off.
		tflog.Warn(ctx, "guest shutdown refused: powering the VM off hard", map[string]any{"vm": moid, "error": err.Error()})
		return c.PowerOff(ctx, moid)
	}
	wctx, cancel := context.WithTimeout(ctx, ShutdownTimeout)
	err := c.waitPoweredOff(wctx, vm)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		// Cancelled while the guest shuts down: it goes down all the same. Let it finish (or
		// stop it hard), so that the caller can power the VM on again instead of leaving it
		// off some moments later.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		defer dcancel()
		if c.waitPoweredOff(dctx, vm) != nil {
			_ = c.PowerOff(dctx, moid)
		}
		return c.vmErr(moid, fmt.Errorf("waiting for the guest to shut down: %w", ctx.Err()))
	}
	tflog.Warn(ctx, "the guest did not shut down in time: powering the VM off hard", map[string]any{"vm": moid, "timeout": ShutdownTimeout.String()})
	return c.PowerOff(ctx, moid)
}

// waitPoweredOff waits until the VM is powered off; a collector lost with the session is not
// taken for a guest that does not shut down (waitAgain).
func (c *Client) waitPoweredOff(ctx context.Context, vm *object.VirtualMachine) error {
	return waitAgain(ctx, "VM "+vm.Reference().Value+" to power off", func() error {
		return vm.WaitForPowerState(ctx, types.VirtualMachinePowerStatePoweredOff)
	})
}

// sortDisksLike orders disks as diskSizesGiB does.
func sortDisksLike(devs object.VirtualDeviceList, disks object.VirtualDeviceList) {
	for i := 1; i < len(disks); i++ {
		for j := i; j > 0 && diskBefore(devs, disks[j], disks[j-1]); j-- {
			disks[j], disks[j-1] = disks[j-1], disks[j]
		}
	}
}

func diskBefore(devs object.VirtualDeviceList, a, b types.BaseVirtualDevice) bool {
	da, db := a.GetVirtualDevice(), b.GetVirtualDevice()
	ca, cb := controllerOrder(devs, da.ControllerKey), controllerOrder(devs, db.ControllerKey)
	if ca != cb {
		return ca < cb
	}
	return unit(da) < unit(db)
}

// CloneSpec describes a clone of an existing VM or template.
type CloneSpec struct {
	Name       string
	Placement  Placement
	Template   string // anything FindVM takes
	Annotation string
	// MarkIncomplete puts CreateMarker into the clone's config, as
	// ImportSpec.MarkIncomplete does.
	MarkIncomplete bool
	// Preflight is checked before the clone starts.
	Preflight Preflight
}

// Clone copies spec.Template into the placement and returns the new VM's
// moid. A VM of that name already in the folder is an *ExistsError; if the
// clone fails half-way, what it left under that name is destroyed.
func (c *Client) Clone(ctx context.Context, spec CloneSpec) (string, error) {
	if spec.Name == "" {
		return "", errors.New("clone: VM name is empty")
	}
	place, err := c.ResolvePlacement(ctx, spec.Placement)
	if err != nil {
		return "", err
	}
	srcID, err := c.FindVM(ctx, spec.Template)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", spec.Template, err)
	}
	if err := c.nameFree(ctx, place.Folder, spec.Name); err != nil {
		return "", err
	}
	src := c.objectVM(srcID)
	if err := c.checkCPU(ctx, spec.Placement, place, spec.Preflight.HostCPU); err != nil {
		return "", err
	}
	need, err := c.cloneNeed(ctx, src)
	if err != nil {
		return "", c.vmErr(srcID, err)
	}
	if err := c.checkSpace(ctx, place.Datastore, need, spec.Preflight.ExtraBytes, fmt.Sprintf("the disks of template %q", spec.Template)); err != nil {
		return "", err
	}
	ds, pool := place.Datastore.Reference(), place.ResourcePool.Reference()
	cs := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{Datastore: &ds, Pool: &pool},
		Config:   &types.VirtualMachineConfigSpec{Annotation: spec.Annotation},
	}
	if spec.MarkIncomplete {
		cs.Config.ExtraConfig = append(cs.Config.ExtraConfig, createMarkerOption())
	}
	if place.Host != nil {
		h := place.Host.Reference()
		cs.Location.Host = &h
	}
	if place.Network != nil {
		devs, err := src.Device(ctx)
		if err != nil {
			return "", c.vmErr(srcID, err)
		}
		backing, err := place.Network.EthernetCardBackingInfo(ctx)
		if err != nil {
			return "", err
		}
		for _, nic := range devs.SelectByType((*types.VirtualEthernetCard)(nil)) {
			nic.GetVirtualDevice().Backing = backing
			cs.Location.DeviceChange = append(cs.Location.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: nic})
			break // the first NIC carries the placement network
		}
	}
	t, err := src.Clone(ctx, place.Folder, spec.Name, cs)
	if err != nil {
		return "", fmt.Errorf("clone of %q: %w", spec.Name, err)
	}
	res, err := c.waitTask(ctx, t)
	if err != nil {
		cctx := context.WithoutCancel(ctx)
		if left, ferr := c.vmInFolder(cctx, place.Folder, spec.Name); ferr == nil && left != "" {
			_ = c.Destroy(cctx, left)
		}
		return "", fmt.Errorf("clone of %q: %w", spec.Name, err)
	}
	ref, ok := res.Result.(types.ManagedObjectReference)
	if !ok {
		return "", fmt.Errorf("clone of %q: task returned %T", spec.Name, res.Result)
	}
	// vcsim ignores CloneSpec.Config; set the annotation explicitly so the
	// result is the same on both.
	if spec.Annotation != "" {
		t, err := c.objectVM(ref.Value).Reconfigure(ctx, types.VirtualMachineConfigSpec{Annotation: spec.Annotation})
		if err == nil {
			_, err = c.waitTask(ctx, t)
		}
		if err != nil {
			_ = c.Destroy(context.WithoutCancel(ctx), ref.Value)
			return "", fmt.Errorf("clone of %q: setting the annotation: %w", spec.Name, err)
		}
	}
	return ref.Value, nil
}

// vmInFolder returns the moid of a VM called name directly in folder, or "".
func (c *Client) vmInFolder(ctx context.Context, folder *object.Folder, name string) (string, error) {
	f := find.NewFinder(c.vim, false)
	vm, err := f.VirtualMachine(ctx, folder.InventoryPath+"/"+name)
	if err != nil {
		if isNotFound(err) {
			return "", nil
		}
		return "", err
	}
	return vm.Reference().Value, nil
}
