package lab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
)

// TestStandaloneESXi: a lab with two standalone ESXi hosts serves them as endpoints of their
// own, each a vcsim ESX model (ha-datacenter, one host, no cluster) at its own URL with its own
// certificate, in the same process as the vCenter. A VM powered on on each ESXi host and on the
// vCenter boots a guest of its own, reachable by SSH, and each simulator reports the address of
// its own VM, although the simulators count managed object IDs independently. lab.env names
// the endpoints.
func TestStandaloneESXi(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := Start(ctx, Options{StandaloneESXi: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: Start() with two standalone ESXi hosts %v", time.Since(start))
	defer l.Stop()

	esx := l.StandaloneESXi()
	if len(esx) != 2 || esx[0].URL == esx[1].URL || esx[0].URL == l.VSphere().URL || esx[0].Host == esx[1].Host {
		t.Fatalf("want two ESXi endpoints of their own, got %+v", esx)
	}
	env := l.Env()
	for i, e := range esx {
		c, err := l.ESXiClient(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if c.IsVC() {
			t.Errorf("ESXi %d (%s) answers as a vCenter (API type %s)", i+1, e.URL, c.ServiceContent.About.ApiType)
		}
		f := find.NewFinder(c.Client, true)
		dc, err := f.DefaultDatacenter(ctx)
		if err != nil || dc.Name() != "ha-datacenter" || e.Datacenter != "ha-datacenter" {
			t.Errorf("ESXi %d: datacenter %v (%v), info says %q; want ha-datacenter", i+1, dc, err, e.Datacenter)
		}
		f.SetDatacenter(dc)
		if cl, _ := f.ClusterComputeResourceList(ctx, "*"); len(cl) != 0 || e.Cluster != "" {
			t.Errorf("ESXi %d has clusters %v (info %q)", i+1, cl, e.Cluster)
		}
		hosts, err := f.HostSystemList(ctx, "*")
		if err != nil || len(hosts) != 1 || hosts[0].Name() != e.Host {
			t.Errorf("ESXi %d: hosts %v (%v), want only %q", i+1, hosts, err, e.Host)
		}
		var h mo.HostSystem
		if err := hosts[0].Properties(ctx, hosts[0].Reference(), []string{"summary.hardware.cpuMhz"}, &h); err != nil || h.Summary.Hardware.CpuMhz != FastHostMHz {
			t.Errorf("ESXi %d: host clock %+v (%v), want %d MHz", i+1, h.Summary.Hardware, err, FastHostMHz)
		}
		_ = c.Logout(ctx)
		if p := "HIPCHATDC_ESX" + string(rune('1'+i)) + "_"; env[p+"SERVER"] != e.Server || env[p+"HOST"] != e.Host || env[p+"CA_FILE"] != e.CAFile {
			t.Errorf("lab.env lacks ESXi %d: %s* = %q %q %q", i+1, p, env[p+"SERVER"], env[p+"HOST"], env[p+"CA_FILE"])
		}
	}

	guests := map[string]*Guest{}
	for _, vm := range []struct {
		name string
		esx  int // -1: the vCenter
	}{{"on-vcenter", -1}, {"on-esx1", 0}, {"on-esx2", 1}} {
		var g *Guest
		if vm.esx < 0 {
			g, err = l.StartGuestVM(ctx, vm.name, KindDebian)
		} else {
			g, err = l.StartGuestVMOnESXi(ctx, vm.esx, vm.name, KindDebian)
		}
		if err != nil {
			t.Fatalf("%s: %v", vm.name, err)
		}
		out, err := g.Exec(ctx, "hostname")
		if err != nil {
			t.Fatalf("%s: %v", vm.name, err)
		}
		t.Logf("%s (%s) is guest %q at %s", vm.name, g.MOID, strings.TrimSpace(string(out)), g.Address())
		guests[vm.name] = g
	}
	seen := map[string]string{}
	for name, g := range guests {
		if other, ok := seen[g.Address()]; ok {
			t.Errorf("%s and %s share the guest address %s", name, other, g.Address())
		}
		seen[g.Address()] = name
	}
	// Each simulator reports its own VM's guest address, as VMware Tools would.
	for i := range esx {
		name := []string{"on-esx1", "on-esx2"}[i]
		c, err := l.ESXiClient(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		f := find.NewFinder(c.Client, true)
		dc, err := f.DefaultDatacenter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := f.SetDatacenter(dc).VirtualMachine(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		ip, err := vm.WaitForIP(ctx)
		if err != nil || ip != guests[name].Address() {
			t.Errorf("ESXi %d reports %s at %q (%v), its guest is at %s", i+1, name, ip, err, guests[name].Address())
		}
		// Destroying it removes its guest and no other.
		if err := destroyVM(ctx, vm); err != nil {
			t.Fatal(err)
		}
		_ = c.Logout(ctx)
	}
	for {
		_, a := l.Guest("on-esx1")
		_, b := l.Guest("on-esx2")
		if !a && !b {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the ESXi VMs' guests are still there after their VMs were destroyed (esx1 %v, esx2 %v)", a, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if g, ok := l.Guest("on-vcenter"); !ok || !g.Running() {
		t.Errorf("the vCenter VM's guest went with the ESXi VMs")
	}
}

func destroyVM(ctx context.Context, vm *object.VirtualMachine) error {
	t, err := vm.PowerOff(ctx)
	if err == nil {
		err = t.Wait(ctx)
	}
	if err != nil {
		return err
	}
	t, err = vm.Destroy(ctx)
	if err == nil {
		err = t.Wait(ctx)
	}
	return err
}
