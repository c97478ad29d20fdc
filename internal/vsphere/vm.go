package vsphere

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// ErrNotFound says the VM does not exist (any more); check with errors.Is.
var ErrNotFound = errors.New("virtual machine not found")

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isNotFound(err error) bool {
	var nf *find.NotFoundError
	return errors.As(err, &nf) || fault.Is(err, &types.ManagedObjectNotFound{})
}

// missingObject returns the object a ManagedObjectNotFound in err names.
func missingObject(err error) (types.ManagedObjectReference, bool) {
	var mnf *types.ManagedObjectNotFound
	if _, ok := fault.As(err, &mnf); ok && mnf != nil {
		return mnf.Obj, true
	}
	return types.ManagedObjectReference{}, false
}

// vmGone reports whether err says the VM moid itself does not exist. A
// ManagedObjectNotFound about anything else (a property collector or filter
// that ended with the session that made it, an NFC lease) says nothing
// about the VM: calling the VM "not found" then would make a resource drop a
// VM that exists from the state.
func vmGone(err error, moid string) bool {
	var nf *find.NotFoundError
	if errors.As(err, &nf) {
		return true
	}
	obj, ok := missingObject(err)
	return ok && obj.Type == "VirtualMachine" && obj.Value == moid
}

// collectorLost reports a property collector or filter that vSphere no longer
// knows: they belong to the session that created them and end with it (a
// session terminated by an administrator or expired). The call that made them
// logged in again already (sessionRoundTripper); what waited on them must
// make new ones.
func collectorLost(err error) bool {
	obj, ok := missingObject(err)
	return ok && (obj.Type == "PropertyCollector" || obj.Type == "PropertyFilter")
}

// waitAgain runs wait, which watches something through a property collector
// of the session, and runs it again each time that collector was lost with
// the session: the session itself is restored by the round tripper, and a new
// wait makes a new collector (starting from the current values), so the loss
// is not taken for the outcome of what was waited for. what names it for the
// log.
func waitAgain(ctx context.Context, what string, wait func() error) error {
	for {
		err := wait()
		if err == nil || !collectorLost(err) || ctx.Err() != nil {
			return err
		}
		tflog.Info(ctx, "vSphere session lost while waiting for "+what+": waiting again on a new property collector", map[string]any{"error": err.Error()})
	}
}

// waitTask waits for a task's result; the task itself goes on in vSphere
// whatever happens to the session watching it.
func (c *Client) waitTask(ctx context.Context, t *object.Task) (*types.TaskInfo, error) {
	var info *types.TaskInfo
	err := waitAgain(ctx, "task "+t.Reference().Value, func() (err error) {
		info, err = t.WaitForResult(ctx)
		return err
	})
	return info, err
}

// CreateMarker is the config.extraConfig key that marks a VM whose create
// by this provider has not finished: it is in the import or clone spec, so
// the VM has it from its first moment, and MarkCreated removes it once the
// VM is handed over to Terraform's state. A VM found with it was left by a
// create that was interrupted (the provider killed, the runner lost) and that
// no state knows about.
const (
	CreateMarker           = "hipchatdc.create"
	createMarkerIncomplete = "incomplete"
)

func createMarkerOption() types.BaseOptionValue {
	return &types.OptionValue{Key: CreateMarker, Value: createMarkerIncomplete}
}

// ExistsError says a VM of the name to create is already in the folder.
type ExistsError struct {
	Name   string
	Folder string // inventory path
	MOID   string
	// Incomplete says the VM carries CreateMarker: a create by this provider
	// started it and never finished.
	Incomplete bool
}

// Path is the VM's inventory path, which `terraform import` takes.
func (e *ExistsError) Path() string { return e.Folder + "/" + e.Name }

func (e *ExistsError) Error() string {
	if e.Incomplete {
		return fmt.Sprintf("a VM named %q already exists in folder %s (%s), left half-made by a create of this provider that never finished (its extraConfig has %s = %q)",
			e.Name, e.Folder, e.MOID, CreateMarker, createMarkerIncomplete)
	}
	return fmt.Sprintf("a VM named %q already exists in folder %s (%s). It was not left by an unfinished create of this provider (its extraConfig has no %s = %q), so it is not touched. "+
		"To manage that VM with Terraform, import it: `terraform import ADDRESS %s` (ADDRESS is the resource's address, such as hipchatdc_node.app), or an import block with id = %q; "+
		"otherwise give the resource another name or remove that VM",
		e.Name, e.Folder, e.MOID, CreateMarker, createMarkerIncomplete, e.Path(), e.Path())
}

// nameFree returns an *ExistsError when a VM called name is already in folder.
func (c *Client) nameFree(ctx context.Context, folder *object.Folder, name string) error {
	existing, err := c.vmInFolder(ctx, folder, name)
	if err != nil || existing == "" {
		return err
	}
	e := &ExistsError{Name: name, Folder: folder.InventoryPath, MOID: existing}
	var vm mo.VirtualMachine
	err = property.DefaultCollector(c.vim).RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: existing}, []string{"config.extraConfig"}, &vm)
	if vmGone(err, existing) {
		return nil // removed meanwhile: the name is free
	}
	if err != nil {
		// Not an ExistsError: whether the VM was left by an unfinished create is not known.
		return fmt.Errorf("a VM named %q already exists in folder %s (%s), and reading its %s marker failed: %w; apply again",
			name, folder.InventoryPath, existing, CreateMarker, err)
	}
	if vm.Config != nil {
		v, _ := object.OptionValueList(vm.Config.ExtraConfig).GetString(CreateMarker)
		e.Incomplete = v == createMarkerIncomplete
	}
	return e
}

// MarkCreated removes CreateMarker from the VM: its create is finished and
// Terraform's state holds it.
func (c *Client) MarkCreated(ctx context.Context, moid string) error {
	// An empty value removes an extraConfig key.
	t, err := c.objectVM(moid).Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: CreateMarker, Value: ""}}})
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	return c.vmErr(moid, err)
}

// FindVM resolves an inventory path (/DC0/vm/name), a managed object ID
// (vm-42), a BIOS UUID or an instance UUID (what `terraform import` takes)
// to the VM's managed object ID. A name alone is looked up in the default
// datacenter.
func (c *Client) FindVM(ctx context.Context, id string) (string, error) {
	id = strings.TrimSpace(id)
	switch {
	case id == "":
		return "", errors.New("empty VM id")
	case uuidPattern.MatchString(id):
		si := object.NewSearchIndex(c.vim)
		for _, instance := range []bool{true, false} {
			ref, err := si.FindByUuid(ctx, nil, id, true, &instance)
			if err != nil {
				return "", err
			}
			if ref != nil {
				return ref.Reference().Value, nil
			}
		}
		return "", fmt.Errorf("no VM has BIOS or instance UUID %s: %w", id, ErrNotFound)
	case !strings.Contains(id, "/"):
		if ref := object.ReferenceFromString(id); ref != nil && ref.Type == "VirtualMachine" {
			var vm mo.VirtualMachine
			err := property.DefaultCollector(c.vim).RetrieveOne(ctx, *ref, []string{"name"}, &vm)
			if isNotFound(err) {
				return "", fmt.Errorf("VM %s: %w", id, ErrNotFound)
			}
			if err != nil {
				return "", err
			}
			return ref.Value, nil
		}
	}
	f := find.NewFinder(c.vim, false)
	if !strings.HasPrefix(id, "/") {
		dc, err := f.DefaultDatacenter(ctx)
		if err != nil {
			return "", fmt.Errorf("VM %q: give an inventory path such as /DC/vm/%s (%w)", id, id, err)
		}
		f.SetDatacenter(dc)
	}
	vm, err := f.VirtualMachine(ctx, id)
	if isNotFound(err) {
		return "", fmt.Errorf("VM %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	return vm.Reference().Value, nil
}

// PowerOn powers the VM on; already on is fine.
func (c *Client) PowerOn(ctx context.Context, moid string) error {
	vm := c.objectVM(moid)
	state, err := vm.PowerState(ctx)
	if err != nil {
		return c.vmErr(moid, err)
	}
	if state == types.VirtualMachinePowerStatePoweredOn {
		return nil
	}
	t, err := vm.PowerOn(ctx)
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	return c.vmErr(moid, err)
}

// PowerOff powers the VM off hard (no guest shutdown); already off is fine.
func (c *Client) PowerOff(ctx context.Context, moid string) error {
	vm := c.objectVM(moid)
	state, err := vm.PowerState(ctx)
	if err != nil {
		return c.vmErr(moid, err)
	}
	if state == types.VirtualMachinePowerStatePoweredOff {
		return nil
	}
	t, err := vm.PowerOff(ctx)
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	return c.vmErr(moid, err)
}

func (c *Client) vmErr(moid string, err error) error {
	if err == nil {
		return nil
	}
	if vmGone(err, moid) {
		return fmt.Errorf("VM %s: %w", moid, ErrNotFound)
	}
	return fmt.Errorf("VM %s: %w", moid, err)
}

// Destroy powers the VM off if needed and deletes it from disk. A VM that
// is already gone counts as destroyed.
func (c *Client) Destroy(ctx context.Context, moid string) error {
	if err := c.PowerOff(ctx, moid); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	t, err := c.objectVM(moid).Destroy(ctx)
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	if err != nil && vmGone(err, moid) {
		return nil
	}
	return c.vmErr(moid, err)
}

// usableIPv4 is an address a user could reach the guest on.
func usableIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil && !ip.IsLinkLocalUnicast() && !ip.IsLoopback() && !ip.IsUnspecified()
}

func guestIPv4s(g *types.GuestInfo) (primary string, all []string) {
	if g == nil {
		return "", nil
	}
	seen := map[string]bool{}
	add := func(s string) {
		if usableIPv4(s) && !seen[s] {
			seen[s] = true
			all = append(all, s)
		}
	}
	add(g.IpAddress)
	for _, n := range g.Net {
		for _, a := range n.IpAddress {
			add(a)
		}
		if n.IpConfig != nil {
			for _, a := range n.IpConfig.IpAddress {
				add(a.IpAddress)
			}
		}
	}
	if usableIPv4(g.IpAddress) {
		primary = g.IpAddress
	} else if len(all) > 0 {
		primary = all[0]
	}
	return primary, all
}

// WaitForIP waits until VMware Tools reports an IPv4 address (link-local
// and IPv6 addresses are ignored) and returns it.
func (c *Client) WaitForIP(ctx context.Context, moid string, timeout time.Duration) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var ip string
	pc := property.DefaultCollector(c.vim)
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}
	var g types.GuestInfo
	wait := func() error {
		return property.Wait(wctx, pc, ref, []string{"guest.ipAddress", "guest.net"}, func(changes []types.PropertyChange) bool {
			for _, ch := range changes {
				switch ch.Name {
				case "guest.ipAddress":
					g.IpAddress, _ = ch.Val.(string)
				case "guest.net":
					v, _ := ch.Val.(types.ArrayOfGuestNicInfo)
					g.Net = v.GuestNicInfo
				}
			}
			ip, _ = guestIPv4s(&g)
			return ip != ""
		})
	}
	err := waitAgain(wctx, "the address of VM "+moid, wait)
	if err == nil {
		return ip, nil
	}
	if wctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		return "", fmt.Errorf("VM %s reported no IPv4 address within %s: is it powered on, with VMware Tools running and a network (DHCP or static) configured?", moid, timeout)
	}
	return "", c.vmErr(moid, err)
}

// VMInfo is what ReadVM returns, in the terms a user wrote in configuration.
type VMInfo struct {
	Name, MOID             string
	BIOSUUID, InstanceUUID string
	NumCPUs                int32
	MemoryMB               int64
	Disks                  []int64 // GiB, rounded up, in controller/unit order
	PowerState             string  // poweredOn, poweredOff, suspended
	GuestIP                string
	GuestIPs               []string // all usable IPv4 addresses
	Annotation             string

	// config.cpuHotAddEnabled and config.memoryHotAddEnabled (unset reads as off).
	CPUHotAdd, MemoryHotAdd bool

	Datacenter   string
	Folder       string // relative to the datacenter's VM folder; "" at its root
	Datastore    string // the first datastore (system disk's)
	Networks     []string
	ResourcePool string // inventory path
	Host         string
	Cluster      string // "" for a standalone host

	// IDs are the managed object IDs of the placement objects above, by the same names
	// ("datacenter", "folder", "datastore", "network", "resource_pool", "host", "cluster"):
	// a configuration may name them by ID.
	IDs map[string]string
}

// ReadVM reads the VM and the names of everything around it in a single
// RetrieveProperties call: the VM is the root of a traversal that walks to
// its datastores, networks, host and up every parent chain.
func (c *Client) ReadVM(ctx context.Context, moid string) (*VMInfo, error) {
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}
	up := func(typ string) *types.TraversalSpec {
		return &types.TraversalSpec{
			SelectionSpec: types.SelectionSpec{Name: "up" + typ},
			Type:          typ, Path: "parent",
			SelectSet: upSet(),
		}
	}
	sel := []types.BaseSelectionSpec{
		&types.TraversalSpec{Type: "VirtualMachine", Path: "datastore"},
		&types.TraversalSpec{Type: "VirtualMachine", Path: "network"},
		&types.TraversalSpec{Type: "VirtualMachine", Path: "parent", SelectSet: upSet()},
		&types.TraversalSpec{Type: "VirtualMachine", Path: "resourcePool", SelectSet: upSet()},
		&types.TraversalSpec{Type: "VirtualMachine", Path: "runtime.host", SelectSet: upSet()},
	}
	for _, t := range parentTypes {
		sel = append(sel, up(t))
	}
	named := []string{"name", "parent"}
	props := []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{
		"name", "config.uuid", "config.instanceUuid", "config.hardware.numCPU", "config.hardware.memoryMB",
		"config.hardware.device", "config.annotation", "runtime.powerState", "runtime.host",
		"config.cpuHotAddEnabled", "config.memoryHotAddEnabled",
		"guest.ipAddress", "guest.net", "resourcePool", "parent", "datastore", "network"}}}
	for _, t := range append(parentTypes, "Datastore", "Network", "DistributedVirtualPortgroup", "OpaqueNetwork") {
		props = append(props, types.PropertySpec{Type: t, PathSet: named})
	}
	req := types.RetrieveProperties{
		This: c.vim.ServiceContent.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{Obj: ref, SelectSet: sel}},
			PropSet:   props,
		}},
	}
	res, err := property.DefaultCollector(c.vim).RetrieveProperties(ctx, req)
	if err != nil {
		return nil, c.vmErr(moid, err)
	}
	objs := map[types.ManagedObjectReference]map[string]any{}
	for _, oc := range res.Returnval {
		m := map[string]any{}
		for _, p := range oc.PropSet {
			m[p.Name] = p.Val
		}
		objs[oc.Obj] = m
	}
	vm, ok := objs[ref]
	if !ok {
		return nil, fmt.Errorf("VM %s: %w", moid, ErrNotFound)
	}
	name := func(r any) string {
		if rr, ok := r.(types.ManagedObjectReference); ok {
			s, _ := objs[rr]["name"].(string)
			return s
		}
		return ""
	}
	parent := func(r types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
		p, ok := objs[r]["parent"].(types.ManagedObjectReference)
		return p, ok
	}
	info := &VMInfo{MOID: moid}
	info.Name, _ = vm["name"].(string)
	info.BIOSUUID, _ = vm["config.uuid"].(string)
	info.InstanceUUID, _ = vm["config.instanceUuid"].(string)
	info.NumCPUs, _ = vm["config.hardware.numCPU"].(int32)
	if m, ok := vm["config.hardware.memoryMB"].(int32); ok {
		info.MemoryMB = int64(m)
	}
	info.Annotation, _ = vm["config.annotation"].(string)
	info.CPUHotAdd, _ = vm["config.cpuHotAddEnabled"].(bool)
	info.MemoryHotAdd, _ = vm["config.memoryHotAddEnabled"].(bool)
	if ps, ok := vm["runtime.powerState"].(types.VirtualMachinePowerState); ok {
		info.PowerState = string(ps)
	}
	if devs, ok := vm["config.hardware.device"].(types.ArrayOfVirtualDevice); ok {
		info.Disks = diskSizesGiB(object.VirtualDeviceList(devs.VirtualDevice))
	}
	g := types.GuestInfo{}
	g.IpAddress, _ = vm["guest.ipAddress"].(string)
	if n, ok := vm["guest.net"].(types.ArrayOfGuestNicInfo); ok {
		g.Net = n.GuestNicInfo
	}
	info.GuestIP, info.GuestIPs = guestIPv4s(&g)
	info.IDs = map[string]string{}
	if ds, ok := vm["datastore"].(types.ArrayOfManagedObjectReference); ok && len(ds.ManagedObjectReference) > 0 {
		info.Datastore = name(ds.ManagedObjectReference[0])
		info.IDs["datastore"] = ds.ManagedObjectReference[0].Value
	}
	if ns, ok := vm["network"].(types.ArrayOfManagedObjectReference); ok {
		for i, n := range ns.ManagedObjectReference {
			info.Networks = append(info.Networks, name(n))
			if i == 0 {
				info.IDs["network"] = n.Value
			}
		}
	}
	if h, ok := vm["runtime.host"].(types.ManagedObjectReference); ok {
		info.Host = name(h)
		info.IDs["host"] = h.Value
		if p, ok := parent(h); ok && p.Type == "ClusterComputeResource" {
			info.Cluster = name(p)
			info.IDs["cluster"] = p.Value
		}
	}
	// Folder: climb to the datacenter; the last folder below it is the vm folder.
	if p, ok := vm["parent"].(types.ManagedObjectReference); ok {
		info.IDs["folder"] = p.Value
		var chain []string
		for cur, ok := p, true; ok; cur, ok = parent(cur) {
			if cur.Type == "Datacenter" {
				info.Datacenter = name(cur)
				info.IDs["datacenter"] = cur.Value
				if len(chain) > 0 {
					chain = chain[:len(chain)-1] // the datacenter's vm folder itself
				}
				break
			}
			chain = append(chain, name(cur))
		}
		for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
			chain[i], chain[j] = chain[j], chain[i]
		}
		info.Folder = strings.Join(chain, "/")
	}
	if rp, ok := vm["resourcePool"].(types.ManagedObjectReference); ok {
		info.IDs["resource_pool"] = rp.Value
		var chain []string
		for cur, ok := rp, true; ok; cur, ok = parent(cur) {
			if _, hasParent := parent(cur); !hasParent && cur.Type == "Folder" {
				break // the root folder is not part of inventory paths
			}
			chain = append([]string{name(cur)}, chain...)
		}
		info.ResourcePool = "/" + strings.Join(chain, "/")
	}
	return info, nil
}

var parentTypes = []string{"Folder", "Datacenter", "ResourcePool", "ClusterComputeResource", "ComputeResource", "HostSystem"}

func upSet() []types.BaseSelectionSpec {
	var s []types.BaseSelectionSpec
	for _, t := range parentTypes {
		s = append(s, &types.SelectionSpec{Name: "up" + t})
	}
	return s
}

// diskSizesGiB lists disk capacities in controller/unit order, rounded up
// to whole GiB.
func diskSizesGiB(devs object.VirtualDeviceList) []int64 {
	disks := devs.SelectByType((*types.VirtualDisk)(nil))
	sort.SliceStable(disks, func(i, j int) bool {
		a, b := disks[i].GetVirtualDevice(), disks[j].GetVirtualDevice()
		ca, cb := controllerOrder(devs, a.ControllerKey), controllerOrder(devs, b.ControllerKey)
		if ca != cb {
			return ca < cb
		}
		return unit(a) < unit(b)
	})
	out := make([]int64, 0, len(disks))
	for _, d := range disks {
		out = append(out, (diskBytes(d.(*types.VirtualDisk))+(1<<30)-1)>>30)
	}
	return out
}

func diskBytes(d *types.VirtualDisk) int64 {
	if d.CapacityInBytes > 0 {
		return d.CapacityInBytes
	}
	return d.CapacityInKB * 1024
}

func unit(d *types.VirtualDevice) int32 {
	if d.UnitNumber == nil {
		return -1
	}
	return *d.UnitNumber
}

// controllerOrder sorts controllers by kind (IDE, SCSI, SATA, NVMe) then bus.
func controllerOrder(devs object.VirtualDeviceList, key int32) int64 {
	c := devs.FindByKey(key)
	if c == nil {
		return int64(key)
	}
	var kind int64
	var bus int32
	switch ctl := c.(type) {
	case types.BaseVirtualSCSIController:
		kind, bus = 1, ctl.GetVirtualSCSIController().BusNumber
	case types.BaseVirtualSATAController:
		kind, bus = 2, ctl.GetVirtualSATAController().BusNumber
	case *types.VirtualNVMEController:
		kind, bus = 3, ctl.BusNumber
	case types.BaseVirtualController:
		kind, bus = 0, ctl.GetVirtualController().BusNumber
	}
	return kind<<32 | int64(bus)
}

// AddressedVM is a VM whose guest reports an address (VMware Tools' view).
type AddressedVM struct {
	Name string
	// Running: powered on, on a host vCenter is connected to. vCenter keeps the last address
	// Tools reported for a VM on a disconnected host or one powered off moments ago.
	Running bool
}

// VMsWithAddress returns the VMs whose guest reports addr (an IP address, or a host name the
// guest reports as its DNS name), sorted by name: in the datacenter named (name, path or
// managed object ID), or in every one when datacenter is "". Only VMware Tools' view: a VM
// without running Tools may not report its address.
func (c *Client) VMsWithAddress(ctx context.Context, datacenter, addr string) ([]AddressedVM, error) {
	var dc *object.Datacenter
	if datacenter != "" {
		var err error
		if dc, err = find.NewFinder(c.vim, false).Datacenter(ctx, datacenter); err != nil {
			return nil, fmt.Errorf("search vSphere for a VM with address %s: datacenter %q: %w", addr, datacenter, err)
		}
	}
	si := object.NewSearchIndex(c.vim)
	var refs []object.Reference
	var err error
	if net.ParseIP(addr) != nil {
		refs, err = si.FindAllByIp(ctx, dc, addr, true)
	} else {
		refs, err = si.FindAllByDnsName(ctx, dc, addr, true)
	}
	if err != nil {
		return nil, fmt.Errorf("search vSphere for a VM with address %s: %w", addr, err)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	moids := make([]types.ManagedObjectReference, len(refs))
	for i, r := range refs {
		moids[i] = r.Reference()
	}
	var vms []mo.VirtualMachine
	if err := property.DefaultCollector(c.vim).Retrieve(ctx, moids, []string{"name", "runtime.powerState", "runtime.connectionState"}, &vms); err != nil {
		return nil, fmt.Errorf("search vSphere for a VM with address %s: %w", addr, err)
	}
	out := make([]AddressedVM, len(vms))
	for i, vm := range vms {
		out[i] = AddressedVM{Name: vm.Name, Running: vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn &&
			vm.Runtime.ConnectionState == types.VirtualMachineConnectionStateConnected}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
