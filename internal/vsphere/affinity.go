package vsphere

import (
	"context"
	"fmt"
	"sort"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Cluster is a compute cluster as the anti-affinity rule needs it.
type Cluster struct {
	Moid, Name string
	DRS        bool              // DRS is enabled: VM-VM rules are kept and honoured
	Rule       *AntiAffinityRule // the rule asked for by name, nil when the cluster has none
	Hosts      []Host            // by name
}

// Host is an ESXi host of a cluster.
type Host struct {
	Moid, Name string
	// Usable: connected and not in maintenance mode, so a VM can be moved there.
	Usable bool
}

// AntiAffinityRule is a DRS VM-VM anti-affinity rule: DRS keeps its VMs on different hosts.
type AntiAffinityRule struct {
	Key     int32
	Name    string
	Enabled bool
	VMs     []string // managed object IDs
}

// VMPlace is where a VM runs.
type VMPlace struct {
	Moid, Name string
	Found      bool // false: no such VM any more
	Host       string
	HostName   string
}

// FindCluster resolves a cluster by name, inventory path or managed object ID, in datacenter
// (the default one when ""). A cluster that cannot be found is a *PlacementError whose Field is
// field. On a standalone ESXi host, which has no clusters, it is an *EndpointError on field.
func (c *Client) FindCluster(ctx context.Context, datacenter, cluster, field string) (string, error) {
	if c.IsESXi() {
		return "", &EndpointError{Field: field, Err: fmt.Errorf("%s = %q: %s, a standalone ESXi host without a vCenter, which has no clusters and so no DRS rules: "+
			"remove the anti-affinity rule and give the Hipchat node and the data stores an ESXi host each, as modules/small-scale-standalone-esxi does "+
			"(one provider configuration per host), or point vsphere_server at the vCenter Server that manages the hosts", field, cluster, c.endpoint())}
	}
	f := find.NewFinder(c.vim, false)
	var dc *object.Datacenter
	var err error
	if datacenter == "" {
		dc, err = f.DefaultDatacenter(ctx)
	} else {
		dc, err = f.Datacenter(ctx, datacenter)
	}
	if err != nil {
		return "", &PlacementError{Field: "datacenter", Value: datacenter, Available: names(f.DatacenterList(ctx, "*")), Err: err}
	}
	f.SetDatacenter(dc)
	cl, err := f.ClusterComputeResource(ctx, cluster)
	if err != nil {
		return "", &PlacementError{Field: field, Value: cluster, Datacenter: dc.Name(), Available: names(f.ClusterComputeResourceList(ctx, "*")), Err: err}
	}
	return cl.Reference().Value, nil
}

func clusterRef(moid string) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "ClusterComputeResource", Value: moid}
}

// ReadCluster reads a cluster's DRS setting, its hosts and the VM-VM anti-affinity rule called
// rule from its configurationEx. A cluster that no longer exists is ErrNotFound.
func (c *Client) ReadCluster(ctx context.Context, moid, rule string) (*Cluster, error) {
	pc := property.DefaultCollector(c.vim)
	var cl mo.ClusterComputeResource
	if err := pc.RetrieveOne(ctx, clusterRef(moid), []string{"name", "configurationEx", "host"}, &cl); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("cluster %s: %w", moid, ErrNotFound)
		}
		return nil, err
	}
	out := &Cluster{Moid: moid, Name: cl.Name}
	if cfg, ok := cl.ConfigurationEx.(*types.ClusterConfigInfoEx); ok {
		out.DRS = cfg.DrsConfig.Enabled != nil && *cfg.DrsConfig.Enabled
		for _, r := range cfg.Rule {
			aa, ok := r.(*types.ClusterAntiAffinityRuleSpec)
			if !ok || aa.Name != rule {
				continue
			}
			out.Rule = &AntiAffinityRule{Key: aa.Key, Name: aa.Name, Enabled: aa.Enabled != nil && *aa.Enabled}
			for _, vm := range aa.Vm {
				out.Rule.VMs = append(out.Rule.VMs, vm.Value)
			}
		}
	}
	if len(cl.Host) > 0 {
		var hosts []mo.HostSystem
		if err := pc.Retrieve(ctx, cl.Host, []string{"name", "runtime"}, &hosts); err != nil {
			return nil, err
		}
		for _, h := range hosts {
			out.Hosts = append(out.Hosts, Host{Moid: h.Self.Value, Name: h.Name,
				Usable: h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected && !h.Runtime.InMaintenanceMode})
		}
		sort.Slice(out.Hosts, func(i, j int) bool { return out.Hosts[i].Name < out.Hosts[j].Name })
	}
	return out, nil
}

// SetAntiAffinityRule adds rule to the cluster, or, when the cluster has a rule of that name
// (have), changes it to rule.
func (c *Client) SetAntiAffinityRule(ctx context.Context, cluster string, rule AntiAffinityRule, have *AntiAffinityRule) error {
	info := &types.ClusterAntiAffinityRuleSpec{ClusterRuleInfo: types.ClusterRuleInfo{
		Name: rule.Name, Enabled: types.NewBool(rule.Enabled), UserCreated: types.NewBool(true),
	}}
	for _, vm := range rule.VMs {
		info.Vm = append(info.Vm, types.ManagedObjectReference{Type: "VirtualMachine", Value: vm})
	}
	op := types.ArrayUpdateOperationAdd
	if have != nil {
		op = types.ArrayUpdateOperationEdit
		info.Key = have.Key
	}
	return c.reconfigureRules(ctx, cluster, types.ClusterRuleSpec{ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: op}, Info: info})
}

// RemoveRule removes the cluster's rule with key.
func (c *Client) RemoveRule(ctx context.Context, cluster string, key int32) error {
	return c.reconfigureRules(ctx, cluster, types.ClusterRuleSpec{ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationRemove, RemoveKey: key}})
}

func (c *Client) reconfigureRules(ctx context.Context, cluster string, spec types.ClusterRuleSpec) error {
	cl := object.NewClusterComputeResource(c.vim, clusterRef(cluster))
	t, err := cl.Reconfigure(ctx, &types.ClusterConfigSpecEx{RulesSpec: []types.ClusterRuleSpec{spec}}, true)
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	return err
}

// VMHosts reads where each VM runs (runtime.host), in the order given.
func (c *Client) VMHosts(ctx context.Context, moids []string) ([]VMPlace, error) {
	pc := property.DefaultCollector(c.vim)
	out := make([]VMPlace, len(moids))
	hostNames := map[string]string{}
	for i, id := range moids {
		out[i].Moid = id
		var vm mo.VirtualMachine
		err := pc.RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: id}, []string{"name", "runtime.host"}, &vm)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i].Found, out[i].Name = true, vm.Name
		if vm.Runtime.Host != nil {
			out[i].Host = vm.Runtime.Host.Value
			hostNames[out[i].Host] = ""
		}
	}
	for h := range hostNames {
		var host mo.HostSystem
		if err := pc.RetrieveOne(ctx, types.ManagedObjectReference{Type: "HostSystem", Value: h}, []string{"name"}, &host); err != nil {
			return nil, err
		}
		hostNames[h] = host.Name
	}
	for i := range out {
		out[i].HostName = hostNames[out[i].Host]
	}
	return out, nil
}

// SharedHosts groups the VMs that run on one host with another of them, in the order given.
func SharedHosts(places []VMPlace) [][]VMPlace {
	var out [][]VMPlace
	seen := map[string]int{}
	for _, p := range places {
		if !p.Found || p.Host == "" {
			continue
		}
		if i, ok := seen[p.Host]; ok {
			out[i] = append(out[i], p)
			continue
		}
		seen[p.Host] = len(out)
		out = append(out, []VMPlace{p})
	}
	shared := out[:0]
	for _, g := range out {
		if len(g) > 1 {
			shared = append(shared, g)
		}
	}
	return shared
}

// MoveVM migrates a VM to another host (vMotion: its resource pool and datastore stay).
func (c *Client) MoveVM(ctx context.Context, moid, host string) error {
	ref := types.ManagedObjectReference{Type: "HostSystem", Value: host}
	t, err := c.objectVM(moid).Relocate(ctx, types.VirtualMachineRelocateSpec{Host: &ref}, types.VirtualMachineMovePriorityDefaultPriority)
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	if err != nil {
		return c.vmErr(moid, err)
	}
	return nil
}
