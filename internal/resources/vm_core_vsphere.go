package resources

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// vmOps is the VM core's lifecycle in vSphere, shared by the three resources.
type vmOps struct{ data *ProviderData }

func (o vmOps) client(ctx context.Context, diags *diag.Diagnostics) *vsphere.Client {
	if o.data == nil || o.data.VSphere == nil {
		diags.AddError("Provider not configured", "The hipchatdc provider has no vSphere connection; this is a bug in the provider.")
		return nil
	}
	c, err := o.data.VSphere(ctx)
	if err != nil {
		diags.AddError("Cannot connect to vSphere", err.Error())
		return nil
	}
	return c
}

func (c *vmCore) placement() vsphere.Placement {
	return vsphere.Placement{
		Datacenter:   c.Datacenter.ValueString(),
		Cluster:      c.Cluster.ValueString(),
		Host:         c.Host.ValueString(),
		ResourcePool: c.ResourcePool.ValueString(),
		Folder:       c.Folder.ValueString(),
		Datastore:    c.Datastore.ValueString(),
		Network:      c.Network.ValueString(),
	}
}

// sizing is what the plan asks of vSphere; extra disks (the data stores' NFS volume) follow
// the system disk.
func (c *vmCore) sizing(extraDisks ...int64) vsphere.Sizing {
	s := vsphere.Sizing{NumCPUs: int32(c.NumCPUs.ValueInt64()), MemoryMB: c.Memory.ValueInt64()}
	if known(c.DiskSize) {
		s.Disks = append(s.Disks, c.DiskSize.ValueInt64())
	} else {
		s.Disks = append(s.Disks, 0) // keep the source's size
	}
	s.Disks = append(s.Disks, extraDisks...)
	s.CPUHotAdd, s.MemoryHotAdd = boolPtr(c.CPUHotAddEnabled), boolPtr(c.MemoryHotAddEnabled)
	return s
}

// createVM imports or clones the VM, sizes it and powers it on. Any failure leaves no VM behind:
// the import cleans up after itself and a later failure destroys what was made.
//
// The VM carries vsphere.CreateMarker from its first moment until Create hands it to the state
// (markCreated): a VM of the same name that still carries it was left by a create that never
// finished (the provider killed, the runner lost) and that no state knows, so it is removed and
// made again. Any other VM of the name is left alone, and the error says how to import it.
func (o vmOps) createVM(ctx context.Context, c *vmCore, role spec.Role, extraDisks []int64, diags *diag.Diagnostics) string {
	vc := o.client(ctx, diags)
	if vc == nil {
		return ""
	}
	pre := vsphere.Preflight{HostCPU: c.hostCPUCheck(role, diags)}
	for _, gib := range extraDisks {
		pre.ExtraBytes += gib << 30
	}
	attr := "ova_path"
	create := func() (string, error) {
		if known(c.LibraryItem) {
			attr = "library_item"
			tflog.Info(ctx, "deploying VM from the content library", map[string]any{"name": c.Name.ValueString(), "library_item": c.LibraryItem.ValueString()})
			moid, err := vc.DeployLibraryItem(ctx, vsphere.DeploySpec{Name: c.Name.ValueString(), Placement: c.placement(), ItemID: c.LibraryItem.ValueString(), MarkIncomplete: true, Preflight: pre})
			if errors.Is(err, vsphere.ErrLibraryItemNotFound) {
				err = fmt.Errorf("library_item = %q: vCenter has no content library item of that ID (deleted outside Terraform?): apply again to store it anew (hipchatdc_library_item is recreated), or give the ID of an existing item: %w", c.LibraryItem.ValueString(), err)
			}
			return moid, err
		}
		if known(c.Template) {
			attr = "template"
			tflog.Info(ctx, "cloning VM", map[string]any{"name": c.Name.ValueString(), "template": c.Template.ValueString()})
			return vc.Clone(ctx, vsphere.CloneSpec{Name: c.Name.ValueString(), Placement: c.placement(), Template: c.Template.ValueString(), MarkIncomplete: true, Preflight: pre})
		}
		src := c.OVAPath.ValueString()
		if known(c.OVAURL) {
			attr, src = "ova_url", c.OVAURL.ValueString()
		}
		tflog.Info(ctx, "importing OVA", map[string]any{"name": c.Name.ValueString(), "source": vsphere.Redact(src)})
		return vc.ImportOVA(ctx, vsphere.ImportSpec{Name: c.Name.ValueString(), Placement: c.placement(), Source: src, MarkIncomplete: true,
			CAFile: c.OVACAFile.ValueString(), Preflight: pre,
			Warn: func(msg string) {
				diags.AddAttributeWarning(path.Root(attr), "OVA not fully verified", msg)
			}})
	}
	moid, err := create()
	var exists *vsphere.ExistsError
	if errors.As(err, &exists) && exists.Incomplete {
		if derr := vc.Destroy(ctx, exists.MOID); derr != nil {
			diags.AddAttributeError(path.Root("name"), "Cannot remove a VM left half-made by an interrupted apply",
				fmt.Sprintf("The VM %q (%s) in folder %s was left by a create of this provider that never finished (its extraConfig has %s = \"incomplete\"), and removing it to create it again failed: %v. "+
					"On vCenter the interrupted import's NFC lease may still hold it until it expires (a few minutes without progress): apply again then, or remove the VM by hand.",
					exists.Name, exists.MOID, exists.Folder, vsphere.CreateMarker, derr))
			return ""
		}
		diags.AddAttributeWarning(path.Root("name"), "Removed a VM left half-made by an interrupted apply",
			fmt.Sprintf("The VM %q (%s) in folder %s was left by a create of this provider that never finished (its extraConfig has %s = \"incomplete\": the provider was killed or lost during an earlier apply). "+
				"No state held it; it was destroyed and is created again.", exists.Name, exists.MOID, exists.Folder, vsphere.CreateMarker))
		moid, err = create()
	}
	if errors.As(err, &exists) {
		addVSphereError(diags, "name", "A VM of this name already exists", err)
		return ""
	}
	var pe *vsphere.PreflightError
	if errors.As(err, &pe) {
		addPreflightError(diags, c, role, pe)
		return ""
	}
	if err != nil {
		addVSphereError(diags, attr, "Cannot create the VM", err)
		return ""
	}
	fail := func(attr, summary string, err error) string {
		addVSphereError(diags, attr, summary, err)
		if derr := vc.Destroy(context.WithoutCancel(ctx), moid); derr != nil {
			diags.AddError("VM left behind", "The VM "+moid+" could not be removed after the failure: "+derr.Error())
		}
		return ""
	}
	if err := vc.Reconfigure(ctx, moid, c.sizing(extraDisks...)); err != nil {
		return fail("disk_size", "Cannot size the VM", err)
	}
	if err := vc.PowerOn(ctx, moid); err != nil {
		return fail("name", "Cannot power on the VM", err)
	}
	// A VM whose guest the provider configures is waited for on its way there (bootstrapHost).
	// Any other VM is waited for here, as the vsphere provider waits for the guest network:
	// otherwise what Create records as default_ip_address depends on how fast the guest
	// booted (empty when the apply outran the boot), and a later refresh changes it.
	if !c.managesGuest() {
		if _, err := vc.WaitForIP(ctx, moid, guestNetTimeout); err != nil {
			diags.AddAttributeWarning(path.Root("default_ip_address"), "Guest address not reported",
				"The VM was created and powered on, but VMware Tools reported no IPv4 address within "+guestNetTimeout.String()+
					" ("+err.Error()+"); default_ip_address stays empty until a refresh finds one. A guest without VMware Tools never reports one.")
		}
	}
	return moid
}

// addressFree refuses, before anything is imported, a create whose ipv4_address another VM
// still reports: under create_before_destroy (an upgrade of the node to a new OVA) the VM being
// replaced still runs at that moment, and two guests on one address would take its traffic
// from it. A replacement without create_before_destroy destroys the old VM first, and a VM of
// the same name (one left half-made by an interrupted create) is createVM's to handle.
func (o vmOps) addressFree(ctx context.Context, c *vmCore, diags *diag.Diagnostics) bool {
	if !c.managesGuest() || !known(c.IPv4Address) {
		return true
	}
	vc := o.client(ctx, diags)
	if vc == nil {
		return false
	}
	// In this VM's datacenter only (another datacenter may reuse the private range), and only
	// running VMs: vCenter keeps the last address of a VM powered off or on a lost host.
	vms, err := vc.VMsWithAddress(ctx, c.Datacenter.ValueString(), c.IPv4Address.ValueString())
	if err != nil {
		tflog.Warn(ctx, "cannot look up the VMs of the new VM's address", map[string]any{"error": err.Error()})
		return true
	}
	var names []string
	for _, vm := range vms {
		if vm.Running && vm.Name != c.Name.ValueString() {
			names = append(names, vm.Name)
		}
	}
	if len(names) == 0 {
		return true
	}
	diags.AddAttributeError(path.Root("ipv4_address"), "Address in use by another VM",
		fmt.Sprintf("ipv4_address = %q: VMware Tools report this address for the VM %q, which is running; a new VM cannot take it while it does. "+
			"Under create_before_destroy (an upgrade to a new OVA) the new VM is created while the one it replaces still serves: give the new VM an address, "+
			"a name and a host name of its own (the guide \"Upgrade the Hipchat node\" shows how), or free the address first. Nothing was created.",
			c.IPv4Address.ValueString(), strings.Join(names, ", ")))
	return false
}

// guestNetTimeout bounds the wait for a new VM's address (the vsphere provider's default
// wait_for_guest_net_timeout).
const guestNetTimeout = 5 * time.Minute

// markCreated removes vsphere.CreateMarker from the VM that Create is handing to the state.
// It runs at the very end of Create, whether the guest's configuration succeeded or not: the
// marker must last as long as the VM is known to no state. Clearing it at the end of createVM,
// after the power-on, would leave unmarked a VM whose guest configuration (the longest part of
// a create: SSH, packages, services) is then interrupted; Terraform never hears of that VM and
// every later apply would stop on "already exists". Cleared here, the marker goes just before
// the response that records the VM in the state; only that moment is left unguarded.
func (o vmOps) markCreated(ctx context.Context, c *vmCore, diags *diag.Diagnostics) {
	vc := o.client(ctx, diags)
	if vc == nil {
		return
	}
	// An interrupted apply (ctx cancelled) still records the VM: clear the marker regardless.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := vc.MarkCreated(ctx, c.ID.ValueString()); err != nil {
		diags.AddAttributeWarning(path.Root("id"), "Cannot mark the VM's create as finished",
			fmt.Sprintf("The state records the VM %s, but removing %s from its extraConfig failed: %v. Remove that key by hand (it marks a VM left half-made, which a later create of the same name would replace): in the vSphere Client under Edit Settings > VM Options > Advanced > Configuration Parameters, or with govc: govc vm.change -vm %s -e %s=",
				c.ID.ValueString(), vsphere.CreateMarker, err, c.Name.ValueString(), vsphere.CreateMarker))
	}
}

// hostCPUCheck judges a host's CPU clock by the role's minimum; with allow_slow_cpu a slow host
// is a warning and the VM goes there.
func (c *vmCore) hostCPUCheck(role spec.Role, diags *diag.Diagnostics) func(string, int32) error {
	return func(host string, mhz int32) error {
		err := spec.CheckCPUSpeed(role, host, mhz)
		if err != nil && c.AllowSlowCPU.ValueBool() {
			diags.AddAttributeWarning(path.Root("allow_slow_cpu"), "ESXi host slower than the guide asks",
				"allow_slow_cpu = true: deploying anyway, "+err.Error()+". Fine for an evaluation install; for production, place the VM on faster hosts and remove allow_slow_cpu.")
			return nil
		}
		return err
	}
}

// planHostCPU checks the hosts of a new VM's placement at plan time, when vSphere can be asked
// without connecting (the provider's settings were known) and the placement is known. A
// placement vSphere cannot resolve yet (made by the same apply, or wrong) is left to the apply,
// which checks the hosts again before the upload. A placement of the wrong kind for the
// endpoint (a cluster on a standalone ESXi host, say) no apply can fix: it fails the plan, as
// does a library_item (known or not yet) on a standalone ESXi host, which has no content library.
func (o vmOps) planHostCPU(ctx context.Context, c *vmCore, role spec.Role, diags *diag.Diagnostics) {
	if o.data == nil || !o.data.Connected || o.data.VSphere == nil {
		return
	}
	vc, err := o.data.VSphere(ctx)
	if err != nil {
		return
	}
	if !c.LibraryItem.IsNull() {
		var ee *vsphere.EndpointError
		if errors.As(vc.CheckContentLibrary("library_item"), &ee) {
			value := "(known after apply)"
			if known(c.LibraryItem) {
				value = strconv.Quote(c.LibraryItem.ValueString())
			}
			diags.AddAttributeError(path.Root(ee.Field), "Placement does not fit the vSphere endpoint", fmt.Sprintf("library_item = %s: %v. Nothing was created.", value, ee.Err))
			return
		}
	}
	for _, v := range []types.String{c.Datacenter, c.Cluster, c.Host, c.ResourcePool} {
		if v.IsUnknown() {
			return
		}
	}
	err = vc.CheckHostCPU(ctx, c.placement(), c.hostCPUCheck(role, diags))
	var pe *vsphere.PreflightError
	var ee *vsphere.EndpointError
	switch {
	case errors.As(err, &pe):
		addPreflightError(diags, c, role, pe)
	case errors.As(err, &ee):
		diags.AddAttributeError(path.Root(ee.Field), "Placement does not fit the vSphere endpoint", ee.Error()+". Nothing was created.")
	case err != nil:
		tflog.Debug(ctx, "placement not checked at plan time; the apply checks it", map[string]any{"error": err.Error()})
	}
}

// addPreflightError says which placement attribute the hosts or the datastore of a refused
// placement come from, and what to do.
func addPreflightError(diags *diag.Diagnostics, c *vmCore, role spec.Role, pe *vsphere.PreflightError) {
	value := map[string]types.String{"host": c.Host, "cluster": c.Cluster, "resource_pool": c.ResourcePool, "datastore": c.Datastore}[pe.Field]
	if pe.Field == "datastore" {
		prefix := "" // the default datastore: the error names it
		if known(value) && value.ValueString() != "" {
			prefix = fmt.Sprintf("datastore = %q: ", value.ValueString())
		}
		diags.AddAttributeError(path.Root("datastore"), "Not enough space on the datastore",
			fmt.Sprintf("%s%v. Nothing was created or uploaded.", prefix, pe.Err))
		return
	}
	min := float64(spec.MinCPUMHz[role]) / 1000
	where := fmt.Sprintf("%s = %q", pe.Field, value.ValueString())
	if !known(value) || value.ValueString() == "" {
		where = "the datacenter's default resource pool" // nothing set: vSphere's only pool
	}
	diags.AddAttributeError(path.Root(pe.Field), "ESXi host too slow for the guide",
		fmt.Sprintf("%s:\n%v\nPlace %s on ESXi hosts of %.1f GHz or faster. A cluster or resource pool is refused when any of its hosts is slower, "+
			"because DRS may start or move the VM on any of them: name a faster host (host) or a cluster of fast hosts. "+
			"For an evaluation install, set allow_slow_cpu = true to deploy there anyway with a warning. Nothing was created or uploaded.",
			where, pe.Err, role.Title(), min))
}

// addVSphereError blames the placement attribute a PlacementError names, or attr.
func addVSphereError(diags *diag.Diagnostics, attr, summary string, err error) {
	var pe *vsphere.PlacementError
	var ee *vsphere.EndpointError
	var ce *vsphere.CAFileError
	switch {
	case errors.As(err, &pe):
		attr = pe.Field
	case errors.As(err, &ee):
		attr = ee.Field
	case errors.As(err, &ce):
		attr = "ova_ca_file"
	}
	diags.AddAttributeError(path.Root(attr), summary, err.Error())
}

// readVM refreshes the VM core from vSphere in one property-collector round trip. It reports
// false when the VM is gone, so that the resource leaves the state and a plan recreates it.
func (o vmOps) readVM(ctx context.Context, c *vmCore, diags *diag.Diagnostics) (*vsphere.VMInfo, bool) {
	vc := o.client(ctx, diags)
	if vc == nil {
		return nil, true
	}
	info, err := vc.ReadVM(ctx, c.ID.ValueString())
	if errors.Is(err, vsphere.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		diags.AddError("Cannot read the VM", err.Error())
		return nil, true
	}
	c.Name = types.StringValue(info.Name)
	c.UUID = types.StringValue(info.BIOSUUID)
	c.NumCPUs = types.Int64Value(int64(info.NumCPUs))
	c.Memory = types.Int64Value(info.MemoryMB)
	if len(info.Disks) > 0 {
		c.DiskSize = types.Int64Value(info.Disks[0])
	}
	c.DefaultIPAddress = types.StringValue(info.GuestIP)
	c.PowerState = types.StringValue(powerState(info.PowerState))
	c.CPUHotAddEnabled = types.BoolValue(info.CPUHotAdd)
	c.MemoryHotAddEnabled = types.BoolValue(info.MemoryHotAdd)
	keepPlacement(&c.Datacenter, info.Datacenter, info.IDs["datacenter"])
	keepPlacement(&c.Folder, info.Folder, info.IDs["folder"])
	keepPlacement(&c.Datastore, info.Datastore, info.IDs["datastore"])
	keepPlacement(&c.ResourcePool, info.ResourcePool, info.IDs["resource_pool"])
	if len(info.Networks) > 0 {
		keepPlacement(&c.Network, info.Networks[0], info.IDs["network"])
	}
	// Hosts and clusters change under DRS without anyone asking: they are recorded once (on
	// import or when unset) and never reported as drift.
	if c.Host.IsNull() || c.Host.IsUnknown() {
		c.Host = types.StringValue(info.Host)
	}
	if c.Cluster.IsNull() || c.Cluster.IsUnknown() {
		c.Cluster = types.StringValue(info.Cluster)
	}
	return info, true
}

// Power states in the vsphere provider's words; the provider keeps every VM on.
const (
	powerOn        = "on"
	powerOff       = "off"
	powerSuspended = "suspended"
)

// powerState names vSphere's power state as the vsphere provider's power_state does: on, off,
// suspended.
func powerState(s string) string {
	switch s {
	case string(vimtypes.VirtualMachinePowerStatePoweredOn):
		return powerOn
	case string(vimtypes.VirtualMachinePowerStatePoweredOff):
		return powerOff
	case string(vimtypes.VirtualMachinePowerStateSuspended):
		return powerSuspended
	}
	return s
}

// isOn reports whether the VM was found running; unknown (a state written before power_state
// existed) counts as running until a refresh says otherwise.
func (c *vmCore) isOn() bool {
	return !known(c.PowerState) || c.PowerState.ValueString() == powerOn
}

// powerOnAgain starts a VM that refresh found off or suspended (stopped behind Terraform's
// back) and, when the provider manages its guest, waits until VMware Tools reports an address,
// so that configuring the guest afterwards finds it running.
func (o vmOps) powerOnAgain(ctx context.Context, plan, state *vmCore, diags *diag.Diagnostics) {
	if state.isOn() {
		return
	}
	vc := o.client(ctx, diags)
	if vc == nil {
		return
	}
	tflog.Warn(ctx, "the VM was found powered off or suspended: powering it on", map[string]any{"vm": plan.ID.ValueString(), "power_state": state.PowerState.ValueString()})
	if err := vc.PowerOn(ctx, plan.ID.ValueString()); err != nil {
		diags.AddAttributeError(path.Root("power_state"), "Cannot power the VM on",
			"The VM was found "+state.PowerState.ValueString()+" and the apply could not start it: "+err.Error())
		return
	}
	if plan.managesGuest() {
		if _, err := vc.WaitForIP(ctx, plan.ID.ValueString(), 5*time.Minute); err != nil {
			diags.AddAttributeError(path.Root("power_state"), "Guest address not back after powering on",
				"The VM was powered on, but VMware Tools reports no IPv4 address: "+err.Error())
		}
	}
}

// keepPlacement records where the VM really is unless the stored value already names that
// object: by its name, an inventory path ending in it, or its managed object ID.
func keepPlacement(v *types.String, actual, id string) {
	if known(*v) {
		s := v.ValueString()
		if s == actual || strings.HasSuffix(s, "/"+actual) || (id != "" && s == id) {
			return
		}
	}
	*v = types.StringValue(actual)
}

// boolPtr is a known bool's value for vsphere.Sizing, nil (leave as is) otherwise.
func boolPtr(b types.Bool) *bool {
	if !known(b) {
		return nil
	}
	v := b.ValueBool()
	return &v
}

// resizeVM applies sizing in place. A change that needs a power cycle (vsphere.NeedsPowerCycle;
// the plan warned) shuts the guest down for a moment: when it had an address before, wait
// until VMware Tools reports one again, so that what the apply records (and the guest steps
// after it) see the running VM.
func (o vmOps) resizeVM(ctx context.Context, plan, state *vmCore, extraDisks []int64, diags *diag.Diagnostics) {
	vc := o.client(ctx, diags)
	if vc == nil {
		return
	}
	if err := vc.Reconfigure(ctx, plan.ID.ValueString(), plan.sizing(extraDisks...)); err != nil {
		diags.AddAttributeError(path.Root("num_cpus"), "Cannot resize the VM", err.Error())
		return
	}
	if known(state.DefaultIPAddress) && state.DefaultIPAddress.ValueString() != "" {
		if _, err := vc.WaitForIP(ctx, plan.ID.ValueString(), 5*time.Minute); err != nil {
			diags.AddWarning("Guest address not back after resizing", "The VM was resized, but VMware Tools reports no IPv4 address yet: "+err.Error())
		}
	}
}

func (o vmOps) deleteVM(ctx context.Context, c *vmCore, diags *diag.Diagnostics) {
	vc := o.client(ctx, diags)
	if vc == nil {
		return
	}
	if err := vc.Destroy(ctx, c.ID.ValueString()); err != nil {
		diags.AddError("Cannot destroy the VM", err.Error())
	}
}

// findVM resolves an import ID: an inventory path, a managed object ID or a BIOS/instance UUID.
func (o vmOps) findVM(ctx context.Context, id string, diags *diag.Diagnostics) string {
	vc := o.client(ctx, diags)
	if vc == nil {
		return ""
	}
	moid, err := vc.FindVM(ctx, id)
	if err != nil {
		diags.AddError("Cannot import the VM", "No VM matches "+id+" (an inventory path such as /DC0/vm/hipchat-1, a managed object ID such as vm-42, or a BIOS or instance UUID): "+err.Error())
		return ""
	}
	return moid
}
