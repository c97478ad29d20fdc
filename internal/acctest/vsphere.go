package acctest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vapi/library"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// withFinder logs in to the lab's vcsim as an operator with govc would, independently of the
// provider's own code, and runs f with a finder set to the datacenter.
func withFinder(t testing.TB, f func(ctx context.Context, finder *find.Finder)) {
	t.Helper()
	withClient(t, func(ctx context.Context, _ *vim25.Client, finder *find.Finder) { f(ctx, finder) })
}

// withClient is withFinder with the session's client too.
func withClient(t testing.TB, f func(ctx context.Context, c *vim25.Client, finder *find.Finder)) {
	t.Helper()
	ctx := context.Background()
	c, err := Lab(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(ctx) }()
	finder := find.NewFinder(c.Client, true)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	f(ctx, c.Client, finder)
}

func isNotFound(err error) bool {
	var notFound *find.NotFoundError
	return errors.As(err, &notFound)
}

// VM looks a VM up in vcsim by name. ok is false when there is no such VM.
func VM(t testing.TB, name string) (vm mo.VirtualMachine, ok bool) {
	t.Helper()
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		obj, err := finder.VirtualMachine(ctx, name)
		if isNotFound(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := obj.Properties(ctx, obj.Reference(), []string{"name", "config", "runtime", "guest", "summary"}, &vm); err != nil {
			t.Fatal(err)
		}
		ok = true
	})
	return vm, ok
}

// WithVM runs f on a VM found by name, for tests that change it behind Terraform's back.
func WithVM(t testing.TB, name string, f func(ctx context.Context, vm *object.VirtualMachine)) {
	t.Helper()
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		vm, err := finder.VirtualMachine(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		f(ctx, vm)
	})
}

// VMCount counts the VMs in vcsim whose name starts with prefix.
func VMCount(t testing.TB, prefix string) (n int) {
	t.Helper()
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		vms, err := finder.VirtualMachineList(ctx, prefix+"*")
		if isNotFound(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		n = len(vms)
	})
	return n
}

// Sessions counts the sessions logged in to the lab's vcsim, not counting the one this call
// opens to look: what a provider that does not log out leaves behind.
func Sessions(t testing.TB) int {
	t.Helper()
	ctx := context.Background()
	c, err := Lab(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(ctx) }()
	var sm mo.SessionManager
	if err := property.DefaultCollector(c.Client).RetrieveOne(ctx, *c.ServiceContent.SessionManager, []string{"sessionList"}, &sm); err != nil {
		t.Fatal(err)
	}
	return len(sm.SessionList) - 1
}

// MOID returns the managed object ID of an inventory object found by path ("/DC0/datastore/X").
func MOID(t testing.TB, inventoryPath string) (id string) {
	t.Helper()
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		ref, err := finder.ManagedObjectList(ctx, inventoryPath)
		if err != nil || len(ref) != 1 {
			t.Fatalf("%s: %v (%d found)", inventoryPath, err, len(ref))
		}
		id = ref[0].Object.Reference().Value
	})
	return id
}

// ImportVM deploys an OVA into the lab's vcsim with the provider's own import code, as a VM the
// provider did not create (a template to clone, a VM to import), and returns its managed object
// ID and the session it used, for further set-up; the session ends with the test. The VM is
// destroyed at the end of the test if it is still there (a test that failed before Terraform
// took it over would otherwise leave its name taken for the next run).
func ImportVM(t testing.TB, ctx context.Context, name, ova string) (*vsphere.Client, string) {
	t.Helper()
	v := Lab(t).VSphere()
	c, err := vsphere.Connect(ctx, vsphere.Config{Server: v.Server, User: v.User, Password: v.Password, CAFile: v.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	moid, err := c.ImportOVA(ctx, vsphere.ImportSpec{Name: name, Source: ova,
		Placement: vsphere.Placement{Datacenter: v.Datacenter, Cluster: v.Cluster, Datastore: v.Datastore, Network: v.Network}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, ok := VM(t, name); ok {
			_ = c.Destroy(context.Background(), moid)
		}
	})
	return c, moid
}

// BareVM creates a powered-off VM with no disk on an ESXi host (by name) of the lab, as a
// VM made outside the provider, for tests that need only where a VM runs; it is destroyed
// at the end of the test. It returns the VM's managed object ID.
func BareVM(t testing.TB, name, host string) (moid string) {
	t.Helper()
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		h, err := finder.HostSystem(ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := h.ResourcePool(ctx)
		if err != nil {
			t.Fatal(err)
		}
		folder, err := finder.DefaultFolder(ctx)
		if err != nil {
			t.Fatal(err)
		}
		spec := types.VirtualMachineConfigSpec{Name: name, GuestId: "otherGuest64",
			Files: &types.VirtualMachineFileInfo{VmPathName: "[" + Lab(t).VSphere().Datastore + "]"}}
		task, err := folder.CreateVM(ctx, spec, pool, h)
		if err != nil {
			t.Fatal(err)
		}
		info, err := task.WaitForResult(ctx)
		if err != nil {
			t.Fatal(err)
		}
		moid = info.Result.(types.ManagedObjectReference).Value
	})
	t.Cleanup(func() {
		withClient(t, func(ctx context.Context, c *vim25.Client, _ *find.Finder) {
			task, err := object.NewVirtualMachine(c, types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}).Destroy(ctx)
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				t.Errorf("destroying VM %s: %v", name, err)
			}
		})
	})
	return moid
}

// MoveVM migrates a VM (by managed object ID) to an ESXi host (by name) behind Terraform's
// back, as an operator's vMotion or DRS would.
func MoveVM(t testing.TB, moid, host string) {
	t.Helper()
	withClient(t, func(ctx context.Context, c *vim25.Client, finder *find.Finder) {
		h, err := finder.HostSystem(ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		ref := h.Reference()
		vm := object.NewVirtualMachine(c, types.ManagedObjectReference{Type: "VirtualMachine", Value: moid})
		task, err := vm.Relocate(ctx, types.VirtualMachineRelocateSpec{Host: &ref}, types.VirtualMachineMovePriorityDefaultPriority)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}

// VMHost is the name of the ESXi host a VM (by managed object ID) runs on (runtime.host).
func VMHost(t testing.TB, moid string) (host string) {
	t.Helper()
	withClient(t, func(ctx context.Context, c *vim25.Client, _ *find.Finder) {
		pc := property.DefaultCollector(c)
		var vm mo.VirtualMachine
		if err := pc.RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}, []string{"runtime.host"}, &vm); err != nil {
			t.Fatal(err)
		}
		var h mo.HostSystem
		if err := pc.RetrieveOne(ctx, *vm.Runtime.Host, []string{"name"}, &h); err != nil {
			t.Fatal(err)
		}
		host = h.Name
	})
	return host
}

// ClusterRules reads a cluster's rules (by cluster name) from its configurationEx, as
// `govc cluster.rule.ls` does.
func ClusterRules(t testing.TB, cluster string) (rules []types.BaseClusterRuleInfo) {
	t.Helper()
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		cl, err := finder.ClusterComputeResource(ctx, cluster)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := cl.Configuration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rules = cfg.Rule
	})
	return rules
}

// AntiAffinityRule finds a VM-VM anti-affinity rule by name in a cluster's configurationEx.
func AntiAffinityRule(t testing.TB, cluster, name string) (*types.ClusterAntiAffinityRuleSpec, bool) {
	t.Helper()
	for _, r := range ClusterRules(t, cluster) {
		if aa, ok := r.(*types.ClusterAntiAffinityRuleSpec); ok && aa.Name == name {
			return aa, true
		}
	}
	return nil, false
}

// RemoveClusterRule deletes a rule (by name) from a cluster behind Terraform's back.
func RemoveClusterRule(t testing.TB, cluster, name string) {
	t.Helper()
	rule, ok := AntiAffinityRule(t, cluster, name)
	if !ok {
		t.Fatalf("cluster %s has no rule %q to remove", cluster, name)
	}
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		cl, err := finder.ClusterComputeResource(ctx, cluster)
		if err != nil {
			t.Fatal(err)
		}
		task, err := cl.Reconfigure(ctx, &types.ClusterConfigSpecEx{RulesSpec: []types.ClusterRuleSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationRemove, RemoveKey: rule.Key}}}}, true)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}

// AddClusterRule adds an enabled VM-VM anti-affinity rule over the VMs (managed object IDs) to
// the cluster, as an administrator would in the vSphere Client.
func AddClusterRule(t testing.TB, cluster, name string, vms ...string) {
	t.Helper()
	var refs []types.ManagedObjectReference
	for _, vm := range vms {
		refs = append(refs, types.ManagedObjectReference{Type: "VirtualMachine", Value: vm})
	}
	withFinder(t, func(ctx context.Context, finder *find.Finder) {
		cl, err := finder.ClusterComputeResource(ctx, cluster)
		if err != nil {
			t.Fatal(err)
		}
		task, err := cl.Reconfigure(ctx, &types.ClusterConfigSpecEx{RulesSpec: []types.ClusterRuleSpec{{
			ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info:            &types.ClusterAntiAffinityRuleSpec{ClusterRuleInfo: types.ClusterRuleInfo{Name: name, Enabled: types.NewBool(true)}, Vm: refs}}}}, true)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}

// WithLibrary runs f with a content library manager logged in to the lab's vCenter REST API
// as an operator with govc would, independently of the provider's own code.
func WithLibrary(t testing.TB, f func(ctx context.Context, m *library.Manager)) {
	t.Helper()
	ctx := context.Background()
	c, err := Lab(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(ctx) }()
	rc := rest.NewClient(c.Client)
	v := Lab(t).VSphere()
	if err := rc.Login(ctx, url.UserPassword(v.User, v.Password)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Logout(ctx) }()
	f(ctx, library.NewManager(rc))
}

// Libraries lists the lab's content libraries by name, each with the names of its items. A
// library or item that a test running in parallel deletes while the list is read is left out,
// as if the list had been read a moment later.
func Libraries(t testing.TB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	WithLibrary(t, func(ctx context.Context, m *library.Manager) {
		ids, err := m.ListLibraries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			l, err := m.GetLibraryByID(ctx, id)
			if rest.IsStatusError(err, http.StatusNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			items, err := m.ListLibraryItems(ctx, id)
			if rest.IsStatusError(err, http.StatusNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, itemID := range items {
				it, err := m.GetLibraryItem(ctx, itemID)
				if rest.IsStatusError(err, http.StatusNotFound) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, it.Name)
			}
			out[l.Name] = names
		}
	})
	return out
}
