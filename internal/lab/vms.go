package lab

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// StartGuestVM creates a VM in vcsim as an operator would (no OVA: a bare VM with one vmxnet3
// NIC), powers it on and waits for its guest. kind is one of the Kind constants; networks, if
// given, is the NetworksKey value ("public", "private" or "public,private"). It is what tests
// of the guest recipes use to get a real guest without going through the provider.
func (l *Lab) StartGuestVM(ctx context.Context, name, kind string, networks ...string) (*Guest, error) {
	return l.startGuestVM(ctx, l.vc, name, kind, nil, networks...)
}

// StartNodeVM is StartGuestVM for a node guest of a release (ReleaseKey), broken
// (SelfCheckKey) when failSelfCheck is set: the properties a release's OVA carries.
func (l *Lab) StartNodeVM(ctx context.Context, name, release string, failSelfCheck bool) (*Guest, error) {
	settings := map[string]string{ReleaseKey: release}
	if failSelfCheck {
		settings[SelfCheckKey] = SelfCheckFails
	}
	return l.startGuestVM(ctx, l.vc, name, KindNode, settings)
}

// StartGuestVMOnESXi is StartGuestVM on standalone ESXi host i (0-based, Options.StandaloneESXi).
func (l *Lab) StartGuestVMOnESXi(ctx context.Context, i int, name, kind string) (*Guest, error) {
	return l.startGuestVM(ctx, l.esx[i], name, kind, nil)
}

func (l *Lab) startGuestVM(ctx context.Context, vc *vcsim, name, kind string, settings map[string]string, networks ...string) (*Guest, error) {
	c, err := vc.client(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Logout(context.WithoutCancel(ctx))
	v := vc.info
	f := find.NewFinder(c.Client, true)
	dc, err := f.Datacenter(ctx, v.Datacenter)
	if err != nil {
		return nil, err
	}
	f.SetDatacenter(dc)
	folder, err := f.Folder(ctx, v.Folder)
	if err != nil {
		return nil, err
	}
	pool, err := f.ResourcePool(ctx, v.ResourcePool)
	if err != nil {
		return nil, err
	}
	netName := v.Network
	if len(networks) == 1 && networks[0] == "private" {
		netName = v.PrivateNetwork
	}
	nw, err := f.Network(ctx, netName)
	if err != nil {
		return nil, err
	}
	backing, err := nw.EthernetCardBackingInfo(ctx)
	if err != nil {
		return nil, err
	}
	nic, err := object.EthernetCardTypes().CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		return nil, err
	}
	devices, err := object.VirtualDeviceList{nic}.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return nil, err
	}
	extra := []types.BaseOptionValue{&types.OptionValue{Key: KindKey, Value: kind}}
	if len(networks) > 0 {
		extra = append(extra, &types.OptionValue{Key: NetworksKey, Value: networks[0]})
	}
	for k, v := range settings {
		extra = append(extra, &types.OptionValue{Key: k, Value: v})
	}
	task, err := folder.CreateVM(ctx, types.VirtualMachineConfigSpec{
		Name: name, GuestId: "debian12_64Guest", NumCPUs: 1, MemoryMB: 512,
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[" + v.Datastore + "]"},
		DeviceChange: devices,
		ExtraConfig:  extra,
	}, pool, nil)
	if err != nil {
		return nil, err
	}
	res, err := task.WaitForResult(ctx)
	if err != nil {
		return nil, fmt.Errorf("create VM %s: %w", name, err)
	}
	ptask, err := object.NewVirtualMachine(c.Client, res.Result.(types.ManagedObjectReference)).PowerOn(ctx)
	if err != nil {
		return nil, err
	}
	if err := ptask.Wait(ctx); err != nil {
		return nil, fmt.Errorf("power on VM %s: %w", name, err)
	}
	return l.WaitGuest(ctx, name)
}
