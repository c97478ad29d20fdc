package vsphere

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func writeOVA(t testing.TB, o ovatest.Options) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.ova")
	if err := ovatest.Write(p, o); err != nil {
		t.Fatal(err)
	}
	return p
}

// countingServer serves files and counts the bytes it wrote.
type countingServer struct {
	*httptest.Server
	served atomic.Int64
}

func serveDir(t testing.TB, dir string) *countingServer {
	cs := &countingServer{}
	fs := http.FileServer(http.Dir(dir))
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.ServeHTTP(&countingWriter{ResponseWriter: w, n: &cs.served}, r)
	}))
	t.Cleanup(cs.Close)
	return cs
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func drainLeases() []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for {
		select {
		case r := <-leaseSeen:
			out = append(out, r)
		default:
			return out
		}
	}
}

// assertNothingLeft checks vcsim has no VM called name and every lease the
// import created is gone (completed or aborted).
func assertNothingLeft(t *testing.T, c *Client, name string, leases []types.ManagedObjectReference) {
	t.Helper()
	ctx := context.Background()
	if id, err := c.FindVM(ctx, "/DC0/vm/"+name); !errors.Is(err, ErrNotFound) {
		t.Errorf("VM %q left behind: id %q err %v", name, id, err)
	}
	pc := property.DefaultCollector(c.Vim25())
	for _, l := range leases {
		var lease mo.HttpNfcLease
		err := pc.RetrieveOne(ctx, l, []string{"state"}, &lease)
		if !fault.Is(err, &types.ManagedObjectNotFound{}) {
			t.Errorf("lease %s still exists: state %q err %v", l.Value, lease.State, err)
		}
	}
}

func TestImportLifecycle(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	o := ovatest.Options{Name: "hipchat", NumCPUs: 2, MemoryMB: 1024, DiskCapacityGiB: 40, DataBytes: 3 << 20, Seed: 1,
		ExtraConfig: map[string]string{"guestinfo.hipchatdc.lab.guest": "node"}}
	ova := writeOVA(t, o)
	drainLeases()

	place := Placement{Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0", Network: "DC0_DVPG0"}
	id, err := c.ImportOVA(ctx, ImportSpec{Name: "imported-file", Placement: place, Source: ova, Annotation: "made by a test",
		ExtraConfig: map[string]string{"guestinfo.extra": "1"}})
	if err != nil {
		t.Fatalf("ImportOVA: %v", err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), id) })
	assertNothingLeft(t, c, "never-created", drainLeases()) // the lease was completed

	before := c.RoundTrips()
	info, err := c.ReadVM(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.RoundTrips() - before; n != 1 {
		t.Errorf("ReadVM took %d round trips, want 1", n)
	}
	want := VMInfo{Name: "imported-file", MOID: id, NumCPUs: 2, MemoryMB: 1024, PowerState: "poweredOff", Annotation: "made by a test",
		Datacenter: "DC0", Folder: "", Datastore: "LocalDS_0", ResourcePool: "/DC0/host/DC0_C0/Resources", Cluster: "DC0_C0"}
	if info.Name != want.Name || info.NumCPUs != want.NumCPUs || info.MemoryMB != want.MemoryMB || info.PowerState != want.PowerState ||
		info.Annotation != want.Annotation || info.Datacenter != want.Datacenter || info.Folder != want.Folder ||
		info.Datastore != want.Datastore || info.ResourcePool != want.ResourcePool || info.Cluster != want.Cluster {
		t.Errorf("ReadVM = %+v\nwant %+v", info, want)
	}
	if len(info.Disks) != 1 || info.Disks[0] != 40 {
		t.Errorf("disks = %v, want [40]", info.Disks)
	}
	if len(info.Networks) != 1 || info.Networks[0] != "DC0_DVPG0" {
		t.Errorf("networks = %v", info.Networks)
	}
	if !strings.HasPrefix(info.Host, "DC0_C0_H") || info.BIOSUUID == "" || info.InstanceUUID == "" || info.BIOSUUID == info.InstanceUUID {
		t.Errorf("host %q uuids %q %q", info.Host, info.BIOSUUID, info.InstanceUUID)
	}

	// The descriptor's vmw:ExtraConfig reaches config.extraConfig (the lab uses it).
	var vm mo.VirtualMachine
	if err := property.DefaultCollector(c.Vim25()).RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: id}, []string{"config.extraConfig"}, &vm); err != nil {
		t.Fatal(err)
	}
	ec := map[string]any{}
	for _, o := range vm.Config.ExtraConfig {
		ec[o.GetOptionValue().Key] = o.GetOptionValue().Value
	}
	if ec["guestinfo.hipchatdc.lab.guest"] != "node" || ec["guestinfo.extra"] != "1" {
		t.Errorf("extraConfig = %v", ec)
	}

	for _, ref := range []string{"/DC0/vm/imported-file", "imported-file", id, info.BIOSUUID, info.InstanceUUID} {
		got, err := c.FindVM(ctx, ref)
		if err != nil || got != id {
			t.Errorf("FindVM(%q) = %q, %v; want %q", ref, got, err, id)
		}
	}

	// Sizing: grow CPU, memory, the system disk, add the data disk.
	if err := c.PowerOn(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconfigure(ctx, id, Sizing{NumCPUs: 8, MemoryMB: 16384, Disks: []int64{42, 60}}); err != nil {
		t.Fatalf("Reconfigure: %v", err)
	}
	info, _ = c.ReadVM(ctx, id)
	if info.NumCPUs != 8 || info.MemoryMB != 16384 || len(info.Disks) != 2 || info.Disks[0] != 42 || info.Disks[1] != 60 || info.PowerState != "poweredOn" {
		t.Errorf("after Reconfigure: cpus %d mem %d disks %v power %s", info.NumCPUs, info.MemoryMB, info.Disks, info.PowerState)
	}
	if err := c.Reconfigure(ctx, id, Sizing{Disks: []int64{41}}); err == nil || !strings.Contains(err.Error(), "shrinking") {
		t.Errorf("shrink: %v", err)
	}
	if err := c.Reconfigure(ctx, id, Sizing{NumCPUs: 4, MemoryMB: 8192}); err != nil {
		t.Fatalf("decrease: %v", err)
	}
	info, _ = c.ReadVM(ctx, id)
	if info.NumCPUs != 4 || info.MemoryMB != 8192 || info.PowerState != "poweredOn" {
		t.Errorf("after decrease: cpus %d mem %d power %s", info.NumCPUs, info.MemoryMB, info.PowerState)
	}

	// Guest IP as VMware Tools reports it: link-local first, then a real one.
	go func() {
		vm := c.objectVM(id)
		for _, ip := range []string{"169.254.10.1", "10.20.30.40"} {
			time.Sleep(150 * time.Millisecond)
			task, err := vm.Reconfigure(context.Background(), types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
				&types.OptionValue{Key: "SET.guest.ipAddress", Value: ip}}})
			if err == nil {
				_ = task.Wait(context.Background())
			}
		}
	}()
	ip, err := c.WaitForIP(ctx, id, 10*time.Second)
	if err != nil || ip != "10.20.30.40" {
		t.Errorf("WaitForIP = %q, %v", ip, err)
	}

	// Destroy leaves nothing; a second Destroy is fine; Read says not found.
	if err := c.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(ctx, id); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := c.ReadVM(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadVM after destroy: %v", err)
	}
	if _, err := c.FindVM(ctx, info.BIOSUUID); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindVM(uuid) after destroy: %v", err)
	}

	// From a URL: the archive is read once.
	srv := serveDir(t, filepath.Dir(ova))
	st, _ := os.Stat(ova)
	id2, err := c.ImportOVA(ctx, ImportSpec{Name: "imported-url", Placement: Placement{Cluster: "DC0_C0"}, Source: srv.URL + "/a.ova"})
	if err != nil {
		t.Fatalf("ImportOVA(URL): %v", err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), id2) })
	if got := srv.served.Load(); got != st.Size() {
		t.Errorf("server sent %d bytes, OVA is %d", got, st.Size())
	}
	if _, err := c.WaitForIP(ctx, id2, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no IPv4 address within") {
		t.Errorf("WaitForIP on a VM without IP: %v", err)
	}
}

func TestClone(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	id, err := c.Clone(ctx, CloneSpec{Name: "cloned", Template: "/DC0/vm/DC0_H0_VM0", Annotation: "clone",
		Placement: Placement{Datacenter: "DC0", Host: "DC0_H0", Network: "VM Network"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Destroy(ctx, id); err != nil {
			t.Errorf("Destroy(clone): %v", err)
		}
	}()
	info, err := c.ReadVM(ctx, id)
	if err != nil || info.Name != "cloned" || info.Host != "DC0_H0" || info.Annotation != "clone" || info.Cluster != "" {
		t.Errorf("ReadVM(clone) = %+v, %v", info, err)
	}
	if _, err := c.Clone(ctx, CloneSpec{Name: "cloned", Template: "DC0_H0_VM0", Placement: Placement{Host: "DC0_H0"}}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate clone: %v", err)
	}
	if _, err := c.Clone(ctx, CloneSpec{Name: "x", Template: "/DC0/vm/nope", Placement: Placement{Host: "DC0_H0"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("clone of missing template: %v", err)
	}
}

func TestImportBadInput(t *testing.T) {
	c := connect(t)
	good := writeOVA(t, ovatest.Options{DataBytes: 1 << 20})
	noDesc := writeOVA(t, ovatest.Options{DataBytes: 1 << 20, OmitDescriptor: true})
	truncated := writeOVA(t, ovatest.Options{DataBytes: 8 << 20, TruncateDisk: true})
	big := writeOVA(t, ovatest.Options{DataBytes: 64 << 20})
	srv := serveDir(t, filepath.Dir(filepath.Dir(good))) // the parent of all the OVAs' temp dirs

	// An existing VM whose name an import must not take, nor destroy.
	existing, err := c.ImportOVA(context.Background(), ImportSpec{Name: "taken", Source: good, Placement: Placement{Cluster: "DC0_C0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Destroy(context.Background(), existing); err != nil {
			t.Errorf("Destroy(existing): %v", err)
		}
	}()
	drainLeases()

	cases := []struct {
		name    string
		spec    ImportSpec
		setup   func(ctx context.Context, cancel context.CancelFunc)
		wantErr string
	}{
		{name: "missing file", spec: ImportSpec{Source: "/nonexistent/x.ova"}, wantErr: "does not exist"},
		{name: "unreachable URL", spec: ImportSpec{Source: "http://127.0.0.1:1/x.ova"}, wantErr: "cannot download http://127.0.0.1:1/x.ova"},
		{name: "HTTP 404", spec: ImportSpec{Source: srv.URL + "/missing.ova"}, wantErr: "404"},
		{name: "no descriptor", spec: ImportSpec{Source: noDesc}, wantErr: "no .ovf descriptor"},
		{name: "truncated disk", spec: ImportSpec{Source: truncated}, wantErr: "truncated"},
		{name: "unknown network", spec: ImportSpec{Source: good, Placement: Placement{Network: "nope"}}, wantErr: `network "nope" not found in datacenter "DC0"; available: `},
		{name: "unknown datastore", spec: ImportSpec{Source: good, Placement: Placement{Datastore: "nope"}}, wantErr: `datastore "nope" not found in datacenter "DC0"; available: LocalDS_0`},
		{name: "fault on ImportVApp", spec: ImportSpec{Source: good}, setup: injectFault("ImportVApp"), wantErr: "vSphere refused to create the VM: ServerFaultCode: injected by test"},
		{name: "fault on HttpNfcLeaseComplete", spec: ImportSpec{Source: good}, setup: injectFault("HttpNfcLeaseComplete"), wantErr: "completing the upload"},
		{name: "cancelled while the lease initializes", spec: ImportSpec{Source: big}, setup: func(ctx context.Context, cancel context.CancelFunc) {
			cancelOnLease.Store(&cancel)
		}, wantErr: "cancelled before the upload started"},
		{name: "cancelled mid-upload", spec: ImportSpec{Source: srv.URL + "/" + filepath.Base(filepath.Dir(big)) + "/a.ova"}, setup: func(ctx context.Context, cancel context.CancelFunc) {
			start := srv.served.Load()
			go func() {
				for srv.served.Load()-start < 8<<20 && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
		}, wantErr: "cancelled after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer vcsim.Service.ClearFaultRules()
			defer cancelOnLease.Store(nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.setup != nil {
				tc.setup(ctx, cancel)
			}
			tc.spec.Name = "bad-" + strings.ReplaceAll(tc.name, " ", "-")
			tc.spec.Placement.Cluster = "DC0_C0"
			id, err := c.ImportOVA(ctx, tc.spec)
			if err == nil {
				_ = c.Destroy(context.Background(), id)
				t.Fatal("import succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.wantErr)
			}
			t.Logf("error: %v", err)
			assertNothingLeft(t, c, tc.spec.Name, drainLeases())
		})
	}

	t.Run("duplicate name", func(t *testing.T) {
		_, err := c.ImportOVA(context.Background(), ImportSpec{Name: "taken", Source: good, Placement: Placement{Cluster: "DC0_C0"}})
		if err == nil || !strings.Contains(err.Error(), `a VM named "taken" already exists in folder /DC0/vm`) {
			t.Fatalf("duplicate import: %v", err)
		}
		t.Logf("error: %v", err)
		if _, err := c.ReadVM(context.Background(), existing); err != nil {
			t.Errorf("the existing VM was harmed: %v", err)
		}
		assertNothingLeft(t, c, "never", drainLeases())
	})
}

func injectFault(method string) func(context.Context, context.CancelFunc) {
	return func(context.Context, context.CancelFunc) {
		vcsim.Service.AddFaultRule(&simulator.FaultInjectionRule{
			MethodName: method, ObjectType: "*", ObjectName: "*", Probability: 1,
			FaultType: simulator.FaultTypeInvalidState, Message: "injected by test", Enabled: true,
		})
	}
}

var _ = io.EOF
