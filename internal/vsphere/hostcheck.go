package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/units"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Preflight is what a new VM's placement must offer. ImportOVA and Clone check it right after
// resolving the placement and before vSphere hears of the VM, so that a wrong host or a full
// datastore costs no upload and leaves nothing behind. vcsim checks neither.
type Preflight struct {
	// HostCPU judges one ESXi host the VM may run on by its CPU clock
	// (summary.hardware.cpuMhz). An error refuses the placement; the caller decides what is
	// only worth a warning. Nil: no check.
	HostCPU func(host string, mhz int32) error
	// ExtraBytes is datastore space the VM needs beyond its source's disks: the disks added
	// after the import (the data stores' NFS volume).
	ExtraBytes int64
}

// PreflightError is a placement refused by a Preflight check. Field is the placement
// attribute to change (host, cluster, resource_pool, datastore).
type PreflightError struct {
	Field string
	Err   error
}

func (e *PreflightError) Error() string { return e.Err.Error() }
func (e *PreflightError) Unwrap() error { return e.Err }

// CheckHostCPU runs p's HostCPU check on the hosts placement p can put a VM on, for plan time:
// only the compute part of the placement is resolved (the datastore or folder may not exist
// yet). A placement that cannot be resolved is a *PlacementError, which the apply reports too.
func (c *Client) CheckHostCPU(ctx context.Context, p Placement, check func(string, int32) error) error {
	r, err := c.resolve(ctx, p, false)
	if err != nil {
		return err
	}
	return c.checkCPU(ctx, p, r, check)
}

// checkCPU checks the host the placement names or, without one, every host of the resource
// pool's cluster (or standalone host): vSphere (DRS) picks the host at power-on and may move
// the VM to any host of the cluster later, so one slow host is enough to refuse.
func (c *Client) checkCPU(ctx context.Context, p Placement, r *ResolvedPlacement, check func(string, int32) error) error {
	if check == nil {
		return nil
	}
	field := "host"
	var refs []types.ManagedObjectReference
	if r.Host != nil {
		refs = append(refs, r.Host.Reference())
	} else {
		field = "resource_pool"
		if p.ResourcePool == "" && p.Cluster != "" {
			field = "cluster"
		}
		owner, err := r.ResourcePool.Owner(ctx)
		if err != nil {
			return err
		}
		var cr mo.ComputeResource
		if err := property.DefaultCollector(c.vim).RetrieveOne(ctx, owner.Reference(), []string{"host"}, &cr); err != nil {
			return err
		}
		refs = cr.Host
	}
	if len(refs) == 0 {
		return nil
	}
	var hosts []mo.HostSystem
	if err := property.DefaultCollector(c.vim).Retrieve(ctx, refs, []string{"name", "summary.hardware.cpuMhz"}, &hosts); err != nil {
		return err
	}
	var errs []error
	for _, h := range hosts {
		if h.Summary.Hardware == nil {
			continue // a disconnected host reports no hardware: nothing to judge
		}
		if err := check(h.Name, h.Summary.Hardware.CpuMhz); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &PreflightError{Field: field, Err: errors.Join(errs...)}
}

// checkSpace refuses a datastore whose free space (summary.freeSpace) is less than the source's
// disks (need bytes, for what) and the disks added afterwards (extra bytes).
func (c *Client) checkSpace(ctx context.Context, ds *object.Datastore, need, extra int64, what string) error {
	var d mo.Datastore
	if err := property.DefaultCollector(c.vim).RetrieveOne(ctx, ds.Reference(), []string{"name", "summary.freeSpace"}, &d); err != nil {
		return err
	}
	if free := d.Summary.FreeSpace; need+extra > free {
		why := fmt.Sprintf("%s for %s", units.ByteSize(need), what)
		if extra > 0 {
			why += fmt.Sprintf(" and %s for the disks added to it", units.ByteSize(extra))
		}
		return &PreflightError{Field: "datastore", Err: fmt.Errorf("datastore %q has %s free and the VM needs %s (%s): "+
			"choose a datastore with room for it (the vSphere Client shows each datastore's free space under Storage), or free space on this one",
			d.Name, units.ByteSize(free), units.ByteSize(need+extra), why)}
	}
	return nil
}

// importNeed is the datastore space an import takes: for a thin disk what the OVA holds of it
// (the descriptor's ovf:populatedSize, else the size of its file in the OVA), for a thick one
// its full capacity. Whether the disks are thin is what vSphere put in the import spec.
func importNeed(env *ovf.Envelope, is types.BaseImportSpec) int64 {
	thin := true
	if vmSpec, ok := is.(*types.VirtualMachineImportSpec); ok {
		for _, dc := range vmSpec.ConfigSpec.DeviceChange {
			d, ok := dc.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk)
			if !ok {
				continue
			}
			if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && (b.ThinProvisioned == nil || !*b.ThinProvisioned) {
				thin = false
			}
		}
	}
	if env.Disk == nil {
		return 0
	}
	files := map[string]int64{}
	for _, f := range env.References {
		files[f.ID] = int64(f.Size)
	}
	var need int64
	for _, d := range env.Disk.Disks {
		capacity, _ := strconv.ParseInt(d.Capacity, 10, 64)
		unit := "byte"
		if d.CapacityAllocationUnits != nil {
			unit = *d.CapacityAllocationUnits
		}
		capacity *= ovf.ParseCapacityAllocationUnits(unit)
		switch {
		case !thin:
			need += capacity
		case d.PopulatedSize != nil:
			need += int64(*d.PopulatedSize)
		case d.FileRef != nil && files[*d.FileRef] > 0:
			need += files[*d.FileRef]
		default:
			need += capacity
		}
	}
	return need
}

// cloneNeed is the datastore space a clone of the VM src takes: what the source's files take
// (summary.storage.committed: a thin disk's used blocks, a thick disk's capacity); when the
// server reports nothing there (vcsim), the capacity of its disks.
func (c *Client) cloneNeed(ctx context.Context, src *object.VirtualMachine) (int64, error) {
	var o mo.VirtualMachine
	if err := property.DefaultCollector(c.vim).RetrieveOne(ctx, src.Reference(), []string{"summary.storage", "config.hardware.device"}, &o); err != nil {
		return 0, err
	}
	if o.Summary.Storage != nil && o.Summary.Storage.Committed > 0 {
		return o.Summary.Storage.Committed, nil
	}
	var need int64
	if o.Config != nil {
		for _, d := range object.VirtualDeviceList(o.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			need += diskBytes(d.(*types.VirtualDisk))
		}
	}
	return need, nil
}
