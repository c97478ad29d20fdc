package lab

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"golang.org/x/time/rate"
	// The content library over vCenter's REST API (RegisterEndpoints serves it).
	_ "github.com/vmware/govmomi/vapi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Keys a VM's config.extraConfig (or, for an imported OVA, a vApp property with the same id)
// uses to tell the lab what to run when it is powered on.
const (
	// KindKey selects the guest kind: KindNode, KindDebian (the default) or KindDebianBare.
	KindKey = "guestinfo.hipchatdc.lab.guest"
	// NetworksKey overrides which lab networks the guest has legs on, in order:
	// "public", "private" or "public,private" (eth0 first). Without it the VM's NICs decide.
	NetworksKey = "guestinfo.hipchatdc.lab.networks"
	// ReleaseKey is the Hipchat release a node guest's OVA stands for: its web page says
	// "release: VALUE", so that a test of an upgrade sees which release answered ("unknown"
	// without it).
	ReleaseKey = "guestinfo.hipchatdc.lab.release"
	// SelfCheckKey = SelfCheckFails makes a node guest a broken release: "hipchat datacenter
	// selfcheck" fails with a line of its own whatever the data stores answer.
	SelfCheckKey   = "guestinfo.hipchatdc.lab.selfcheck"
	SelfCheckFails = "fail"
)

// The credentials of the simulated vCenter. Fixed so that a demo can print them.
const (
	vsphereUser     = "administrator@vsphere.local"
	vspherePassword = "hipchatdc-lab"
)

// The lab's host clocks (summary.hardware.cpuMhz) and the hosts that are slow.
const (
	FastHostMHz     = 3000
	SlowHostMHz     = 2000
	slowHost        = "DC0_H0"    // the standalone host
	slowCluster     = "DC0_C1"    // a cluster with one slow host among fast ones
	slowClusterHost = "DC0_C1_H0" // that host
	noDRSCluster    = "DC0_C2"    // a cluster of fast hosts with DRS turned off
)

// simulatorCreate serialises simulator.Model.Create: it races on a package global.
var simulatorCreate sync.Mutex

// vcsim is the lab's in-process vCenter and the bridge from its power events to guests.
type vcsim struct {
	// key tells this simulator's VMs from another's in the lab's guest table: "" for the
	// vCenter, "esx1", "esx2" for standalone ESXi hosts (each simulator counts its own MOIDs).
	key    string
	model  *simulator.Model
	server *simulator.Server
	reg    *simulator.Registry
	info   VSphereInfo
	pgName map[string]string // DVS portgroup key -> name

	onPower func(vmEvent)

	mu             sync.Mutex
	guestShutdowns map[string]bool       // VMs (by moid) asked to shut down through VMware Tools
	made           map[string]int        // VMs vcsim has created, by name, since the lab started
	cutDeploys     map[string]*CutDeploy // library deploys to cut off, by VM name (CutLibraryDeploy)
	dsDir          string                // LocalDS_0's folder
}

// vmEvent is what the lab needs from a VM at a power change, copied under the VM's lock.
type vmEvent struct {
	vc               *vcsim // the simulator the VM lives in
	moid, name, kind string
	powerState       types.VirtualMachinePowerState
	guestShutdown    bool // the power-off is a guest shutdown (ShutdownGuest), not a hard one
	destroyed        bool
	networks         []string // forced leg list (NetworksKey), or nil
	nics             []vmNIC
	appliance        appliance // what a node guest's OVA says of its release
}

// appliance is what the lab reads from a node VM's OVA properties at its first power-on and
// writes onto its disk: the release its page shows and whether its self-check is broken.
type appliance struct {
	release        string
	selfCheckFails bool
}

// key names the VM in the lab's guest table: MOIDs are only unique within one simulator.
func (ev vmEvent) key() string { return vmKey(ev.vc, ev.moid) }

// key is the guest's VM's key in the lab's guest table (vmEvent.key).
func (g *Guest) key() string { return vmKey(g.vc, g.MOID) }

func vmKey(vc *vcsim, moid string) string { return vc.key + "/" + moid }

type vmNIC struct {
	network   string
	mac       string
	deviceKey int32
}

// guestNIC is one entry of guest.net as VMware Tools reports it.
type guestNIC struct {
	network   string
	mac       string
	deviceKey int32
	addrs     []netip.Prefix
}

func startVCSim(dir string, link *rate.Limiter, onPower func(vmEvent)) (*vcsim, error) {
	m := simulator.VPX()
	m.Datastore = 0 // made below, under the lab's folder, instead of under $TMPDIR
	m.Machine = 0
	// DC0_C0 of fast hosts for the tests' VMs, DC0_C1 with one slow host, DC0_C2 without DRS
	// (vcsim turns DRS on in every cluster it makes; setUp turns it off there).
	m.Cluster = 3
	return serveModel(m, "", dir, link, onPower)
}

// startESXSim starts a standalone ESXi host (vcsim's ESX model: datacenter ha-datacenter, one
// host, no cluster) called name ("esx1"), whose VMs boot guests like the vCenter's. Its files
// (CA, datastore) go under dir/name.
func startESXSim(dir, name string, link *rate.Limiter, onPower func(vmEvent)) (*vcsim, error) {
	m := simulator.ESX()
	m.Datastore = 0
	m.Machine = 0
	dir = filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return serveModel(m, name, dir, link, onPower)
}

// serveModel creates model m, serves it over HTTPS on loopback (its NFC uploads through link
// when not nil) and sets up its datastore.
func serveModel(m *simulator.Model, key, dir string, link *rate.Limiter, onPower func(vmEvent)) (*vcsim, error) {
	simulatorCreate.Lock()
	err := m.Create()
	simulatorCreate.Unlock()
	if err != nil {
		return nil, err
	}
	// vcsim's hosts all report 2294 MHz, under the guide's 2.8 GHz: the lab's hosts are fast
	// (FastHostMHz) except the standalone host and the first host of the second cluster, which
	// are there to be refused (SlowHostMHz).
	for _, e := range m.Map().All("HostSystem") {
		h := e.(*simulator.HostSystem)
		h.Summary.Hardware.CpuMhz = FastHostMHz
		if key == "" && (h.Name == slowHost || h.Name == slowClusterHost) {
			h.Summary.Hardware.CpuMhz = SlowHostMHz
		}
		if key != "" {
			// Every ESX model's host is "localhost.localdomain": give each its own name, as
			// two real ESXi hosts have, so that messages and the datastores tell them apart.
			h.Name = key + ".lab"
			h.Summary.Config.Name = h.Name
			if cr, ok := m.Map().Get(*h.Parent).(*mo.ComputeResource); ok {
				cr.Name = h.Name
			}
		}
	}
	m.Service.TLS = new(tls.Config) // httptest's certificate, valid for 127.0.0.1
	m.Service.Listen = &url.URL{User: url.UserPassword(vsphereUser, vspherePassword)}
	m.Service.RegisterEndpoints = true
	m.Service.ServeMux = http.NewServeMux()
	if link != nil {
		limitNFC(m.Service.ServeMux, link)
	}
	v := &vcsim{key: key, model: m, reg: m.Map(), onPower: onPower, pgName: map[string]string{}, guestShutdowns: map[string]bool{}, made: map[string]int{}, cutDeploys: map[string]*CutDeploy{}}
	v.wrapVAPI(m.Service.ServeMux, link)
	s := m.Service.NewServer()
	v.server = s
	v.reg.AddHandler(v)

	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	caFile := filepath.Join(dir, "vcsim-ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		v.close()
		return nil, err
	}
	u := *s.URL
	u.User = nil
	v.info = VSphereInfo{
		URL: u.String(), Server: u.Host, User: vsphereUser, Password: vspherePassword,
		CACertPEM: string(certPEM), CAFile: caFile,
	}
	if err := v.setUp(filepath.Join(dir, "datastore")); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

// client logs in the way a user of the provider would: verifying vcsim's certificate
// against the CA file instead of skipping verification.
func (v *vcsim) client(ctx context.Context) (*govmomi.Client, error) {
	u, err := soap.ParseURL(v.info.URL)
	if err != nil {
		return nil, err
	}
	sc := soap.NewClient(u, false)
	if err := sc.SetRootCAs(v.info.CAFile); err != nil {
		return nil, err
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, err
	}
	c := &govmomi.Client{Client: vc, SessionManager: session.NewManager(vc)}
	if err := c.Login(ctx, url.UserPassword(v.info.User, v.info.Password)); err != nil {
		return nil, err
	}
	return c, nil
}

// setUp creates the datastore on every host (its files live under the lab's folder, so OVA
// uploads land there and go with Stop) and records the inventory names.
func (v *vcsim) setUp(dsDir string) error {
	ctx := context.Background()
	if err := os.MkdirAll(dsDir, 0o755); err != nil {
		return err
	}
	c, err := v.client(ctx)
	if err != nil {
		return err
	}
	defer c.Logout(ctx)
	cv, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"HostSystem"}, true)
	if err != nil {
		return err
	}
	refs, err := cv.Find(ctx, []string{"HostSystem"}, nil)
	_ = cv.Destroy(ctx)
	if err != nil {
		return err
	}
	const dsName = "LocalDS_0"
	for _, ref := range refs {
		dss, err := object.NewHostSystem(c.Client, ref).ConfigManager().DatastoreSystem(ctx)
		if err != nil {
			return err
		}
		if _, err := dss.CreateLocalDatastore(ctx, dsName, dsDir); err != nil {
			return err
		}
	}

	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	v.dsDir = dsDir
	if v.key != "" {
		return v.setUpESX(ctx, f, dc, refs, dsName)
	}
	cluster, err := f.ClusterComputeResource(ctx, "DC0_C0")
	if err != nil {
		return err
	}
	hosts, err := cluster.Hosts(ctx)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	nets, err := f.NetworkList(ctx, "*")
	if err != nil {
		return err
	}
	v.info.Datacenter = dc.Name()
	v.info.Cluster = cluster.Name()
	v.info.ClusterPath = cluster.InventoryPath
	v.info.Host = hosts[0].Name()
	v.info.ResourcePool = cluster.InventoryPath + "/Resources"
	v.info.Folder = folders.VmFolder.InventoryPath
	v.info.Datastore = dsName
	v.info.SlowHost = slowHost
	v.info.SlowCluster = slowCluster
	v.info.SlowClusterHost = slowClusterHost
	v.info.NoDRSCluster = noDRSCluster
	noDRS, err := f.ClusterComputeResource(ctx, noDRSCluster)
	if err != nil {
		return err
	}
	t, err := noDRS.Reconfigure(ctx, &types.ClusterConfigSpecEx{DrsConfig: &types.ClusterDrsConfigInfo{Enabled: types.NewBool(false)}}, true)
	if err != nil {
		return err
	}
	if err := t.Wait(ctx); err != nil {
		return err
	}
	for _, n := range nets {
		if pg, ok := n.(*object.DistributedVirtualPortgroup); ok {
			var p mo.DistributedVirtualPortgroup
			if err := pg.Properties(ctx, pg.Reference(), []string{"key", "name", "tag"}, &p); err != nil {
				return err
			}
			if slices.ContainsFunc(p.Tag, func(t types.Tag) bool { return t.Key == "SYSTEM/DVS.UPLINKPG" }) ||
				strings.Contains(p.Name, "-DVUplinks-") {
				continue // the switch's uplinks, not a network for VMs
			}
			v.pgName[p.Key] = p.Name
			if v.info.PrivateNetwork == "" {
				v.info.PrivateNetwork = p.Name
			}
		} else if v.info.Network == "" {
			v.info.Network = strings.TrimPrefix(n.GetInventoryPath(), folders.NetworkFolder.InventoryPath+"/")
		}
	}
	if v.info.Network == "" || v.info.PrivateNetwork == "" {
		return fmt.Errorf("vcsim inventory lacks a network (%q) or a DVS portgroup (%q)", v.info.Network, v.info.PrivateNetwork)
	}
	return nil
}

// setUpESX records a standalone ESXi host's inventory: its one host, that host's root
// pool and its standard network; no cluster, no DVS.
func (v *vcsim) setUpESX(ctx context.Context, f *find.Finder, dc *object.Datacenter, hosts []types.ManagedObjectReference, dsName string) error {
	if len(hosts) != 1 {
		return fmt.Errorf("ESX model %s has %d hosts, want 1", v.key, len(hosts))
	}
	pool, err := f.DefaultResourcePool(ctx)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	net, err := f.DefaultNetwork(ctx)
	if err != nil {
		return err
	}
	v.info.Datacenter = dc.Name()
	v.info.Host = v.key + ".lab"
	v.info.ResourcePool = pool.InventoryPath
	v.info.Folder = folders.VmFolder.InventoryPath
	v.info.Datastore = dsName
	v.info.Network = path.Base(net.GetInventoryPath())
	return nil
}

func (v *vcsim) close() {
	v.reg.RemoveHandler(v)
	v.server.Close()
	v.model.Remove()
}

// Reference, PutObject, UpdateObject and RemoveObject make vcsim a simulator.RegisterObject:
// the registry calls them for every change, which is how the lab sees power-on, power-off and
// destroy whatever client (govc, the provider, a test) asked for them.
func (v *vcsim) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "HipchatdcLab", Value: fmt.Sprintf("lab-%p", v)}
}

// PutObject counts the VMs vcsim creates (an import creates its VM before its NFC lease
// exists, so a name never counted had no upload) and notes ShutdownGuest calls: vcsim runs them as a task (registered here before it
// runs) that powers the VM off, and the lab's guest must know that this power-off is a
// shutdown through VMware Tools, which the guest runs its shutdown for, not a hard one.
func (v *vcsim) PutObject(_ *simulator.Context, obj mo.Reference) {
	if vm, ok := obj.(*simulator.VirtualMachine); ok {
		v.mu.Lock()
		v.made[vm.Name]++
		v.mu.Unlock()
		return
	}
	t, ok := obj.(*simulator.Task)
	if !ok || t.Info.DescriptionId != "VirtualMachine.shutdownGuest" || t.Info.Entity == nil {
		return
	}
	v.mu.Lock()
	v.guestShutdowns[t.Info.Entity.Value] = true
	v.mu.Unlock()
}

func (v *vcsim) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	var vm *mo.VirtualMachine
	switch o := obj.(type) {
	case *mo.VirtualMachine:
		vm = o
	case *simulator.VirtualMachine:
		vm = &o.VirtualMachine
	default:
		return
	}
	for _, c := range changes {
		if c.Name == "runtime.powerState" {
			state, _ := c.Val.(types.VirtualMachinePowerState)
			if state != types.VirtualMachinePowerStatePoweredOn && ctx != nil {
				// vSphere drops what VMware Tools reported as part of the power-off itself,
				// before the task completes: a client that powers the VM on again and waits for
				// an address must not be handed the one from before. The guest's processes stop
				// later, in the lab's own goroutine.
				ctx.Update(obj, guestChanges(nil))
			}
			ev := v.describe(vm, state)
			v.mu.Lock()
			if state != types.VirtualMachinePowerStatePoweredOn {
				ev.guestShutdown = v.guestShutdowns[ev.moid]
			}
			delete(v.guestShutdowns, ev.moid)
			v.mu.Unlock()
			v.onPower(ev)
			return
		}
	}
}

func (v *vcsim) RemoveObject(_ *simulator.Context, ref types.ManagedObjectReference) {
	if ref.Type == "VirtualMachine" {
		v.onPower(vmEvent{vc: v, moid: ref.Value, destroyed: true})
	}
}

// describe copies what a guest needs from the VM; it runs under the VM's lock.
func (v *vcsim) describe(vm *mo.VirtualMachine, state types.VirtualMachinePowerState) vmEvent {
	ev := vmEvent{vc: v, moid: vm.Self.Value, name: vm.Name, kind: KindDebian, powerState: state}
	if vm.Config == nil {
		return ev
	}
	settings := map[string]string{}
	if vapp := vm.Config.VAppConfig; vapp != nil {
		if info := vapp.GetVmConfigInfo(); info != nil {
			for _, p := range info.Property {
				val := p.Value
				if val == "" {
					val = p.DefaultValue
				}
				settings[p.Id] = val
			}
		}
	}
	for _, o := range vm.Config.ExtraConfig {
		if ov := o.GetOptionValue(); ov != nil {
			settings[ov.Key] = fmt.Sprint(ov.Value)
		}
	}
	if k := strings.TrimSpace(settings[KindKey]); k != "" {
		ev.kind = k
	}
	ev.appliance = appliance{
		release:        strings.TrimSpace(settings[ReleaseKey]),
		selfCheckFails: strings.TrimSpace(settings[SelfCheckKey]) == SelfCheckFails,
	}
	if n := strings.TrimSpace(settings[NetworksKey]); n != "" {
		for _, s := range strings.Split(n, ",") {
			ev.networks = append(ev.networks, strings.TrimSpace(s))
		}
	}
	for _, d := range vm.Config.Hardware.Device {
		card, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		c := card.GetVirtualEthernetCard()
		nic := vmNIC{mac: c.MacAddress, deviceKey: c.Key}
		switch b := c.Backing.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			nic.network = b.DeviceName
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			nic.network = v.pgName[b.Port.PortgroupKey]
		}
		ev.nics = append(ev.nics, nic)
	}
	return ev
}

// reportGuest sets what VMware Tools reports for a running guest (nil nics: not running).
// allowed, when not nil, is asked under the VM's lock, the lock vSphere's power-off holds when
// it drops the tools report (UpdateObject): a report allowed there cannot land after a
// power-off that forbids it.
func (v *vcsim) reportGuest(moid string, nics []guestNIC, allowed func() bool) {
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}
	obj := v.reg.Get(ref)
	if obj == nil {
		return // destroyed meanwhile
	}
	ctx := &simulator.Context{Context: context.Background(), Map: v.reg, Session: &simulator.Session{}}
	v.reg.WithLock(ctx, obj, func() {
		if allowed == nil || allowed() {
			ctx.Update(obj, guestChanges(nics))
		}
	})
}

// guestChanges are the guest properties VMware Tools reports for nics (nil: not running).
func guestChanges(nics []guestNIC) []types.PropertyChange {
	var (
		ipAddress string
		net       []types.GuestNicInfo
	)
	for _, n := range nics {
		info := types.GuestNicInfo{
			Network: n.network, MacAddress: n.mac, Connected: true, DeviceConfigId: n.deviceKey,
			IpConfig: &types.NetIpConfigInfo{},
		}
		if n.deviceKey == 0 {
			info.DeviceConfigId = -1
		}
		for _, a := range n.addrs {
			info.IpAddress = append(info.IpAddress, a.Addr().String())
			info.IpConfig.IpAddress = append(info.IpConfig.IpAddress, types.NetIpConfigInfoIpAddress{
				IpAddress: a.Addr().String(), PrefixLength: int32(a.Bits()), State: string(types.NetIpConfigInfoIpAddressStatusPreferred),
			})
			if ipAddress == "" {
				ipAddress = a.Addr().String()
			}
		}
		net = append(net, info)
	}
	tools := []types.PropertyChange{
		{Name: "guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsOk},
		{Name: "guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
		{Name: "guest.guestState", Val: "running"},
		{Name: "summary.guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsOk},
		{Name: "summary.guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
	}
	if nics == nil {
		tools = []types.PropertyChange{
			{Name: "guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsNotRunning},
			{Name: "guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)},
			{Name: "guest.guestState", Val: "notRunning"},
			{Name: "summary.guest.toolsStatus", Val: types.VirtualMachineToolsStatusToolsNotRunning},
			{Name: "summary.guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)},
		}
	}
	return append(tools,
		types.PropertyChange{Name: "guest.ipAddress", Val: ipAddress},
		types.PropertyChange{Name: "summary.guest.ipAddress", Val: ipAddress},
		types.PropertyChange{Name: "guest.net", Val: net},
	)
}

// AddDatastore creates a datastore called name on the hosts of the lab's cluster that reports
// free bytes free (vcsim gives a local datastore 1 TB per host and checks no write against
// it), for tests of what a full datastore does. While it exists the datacenter has two
// datastores, so a configuration without `datastore` finds no default: remove it (the
// returned function) when the test is done.
func (l *Lab) AddDatastore(ctx context.Context, name string, free int64) (remove func() error, err error) {
	v := l.vc
	c, err := v.client(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Logout(ctx)
	f := find.NewFinder(c.Client, true)
	dc, err := f.Datacenter(ctx, v.info.Datacenter)
	if err != nil {
		return nil, err
	}
	f.SetDatacenter(dc)
	cluster, err := f.ClusterComputeResource(ctx, v.info.Cluster)
	if err != nil {
		return nil, err
	}
	hosts, err := cluster.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	dir := v.dsDir + "-" + name
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var ref types.ManagedObjectReference
	for _, h := range hosts {
		dss, err := h.ConfigManager().DatastoreSystem(ctx)
		if err != nil {
			return nil, err
		}
		ds, err := dss.CreateLocalDatastore(ctx, name, dir)
		if err != nil {
			return nil, err
		}
		if ref.Value == "" {
			// Only the first mount's answer names the datastore: vcsim answers the other
			// hosts' mounts of the same datastore with an empty reference.
			ref = ds.Reference()
		}
	}
	// Each host's mount refreshed it to 1 TB per host: say otherwise once all are mounted.
	sds := v.reg.Get(ref).(*simulator.Datastore)
	v.reg.WithLock(&simulator.Context{Context: ctx, Map: v.reg, Session: &simulator.Session{}}, sds, func() {
		sds.Summary.FreeSpace = free
		sds.Info.GetDatastoreInfo().FreeSpace = free
	})
	return func() error {
		ctx := context.Background()
		c, err := v.client(ctx)
		if err != nil {
			return err
		}
		defer c.Logout(ctx)
		// vcsim implements no RemoveDatastore; Destroy unmounts it from every host.
		t, err := object.NewDatastore(c.Client, ref).Destroy(ctx)
		if err == nil {
			err = t.Wait(ctx)
		}
		if err != nil {
			return err
		}
		return os.RemoveAll(dir)
	}, nil
}
