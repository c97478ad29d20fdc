package vsphere

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// terminate ends c's current session from another administrator's session, as
// SessionManager.TerminateSession in the vSphere client does.
func terminate(t testing.TB, c, admin *Client) {
	t.Helper()
	ctx := context.Background()
	us, err := session.NewManager(c.Vim25()).UserSession(ctx)
	if err != nil || us == nil {
		t.Errorf("UserSession: %v %v", us, err)
		return
	}
	if err := session.NewManager(admin.Vim25()).TerminateSession(ctx, []string{us.Key}); err != nil {
		t.Errorf("TerminateSession(%s): %v", us.Key, err)
	}
}

// vmsNamed counts the VMs called name in the datacenter's VM folder.
func vmsNamed(t testing.TB, c *Client, name string) int {
	t.Helper()
	vms, err := find.NewFinder(c.Vim25(), false).VirtualMachineList(context.Background(), "/DC0/vm/"+name)
	var nf *find.NotFoundError
	if errors.As(err, &nf) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(vms)
}

// The provider's session is terminated while the OVA is being uploaded: the
// NFC lease ends with it (vcsim keeps leases in the session, as vCenter
// does). The import must log in again, remove the half-made VM, read the OVA
// again and succeed, leaving exactly one VM.
func TestImportSurvivesSessionLossMidUpload(t *testing.T) {
	ctx := context.Background()
	c, admin := connect(t), connect(t)
	ova := writeOVA(t, ovatest.Options{Name: "sessionloss", DataBytes: 64 << 20, Seed: 11})
	data, err := os.ReadFile(ova)
	if err != nil {
		t.Fatal(err)
	}
	// The first download stops after half the archive until the session is
	// gone, so the termination falls in the middle of the upload; later ones
	// (the import read again) run through.
	half := len(data) / 2
	halfSent, resume := make(chan struct{}), make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := requests.Add(1) == 1
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if first {
			_, _ = w.Write(data[:half])
			w.(http.Flusher).Flush()
			close(halfSent)
			select {
			case <-resume:
			case <-r.Context().Done():
				return
			}
			_, _ = w.Write(data[half:])
			return
		}
		_, _ = w.Write(data)
	}))
	defer srv.Close()
	var once sync.Once
	release := func() { once.Do(func() { close(resume) }) }
	defer release()
	drainLeases()

	done := make(chan error, 1)
	var id string
	go func() {
		var err error
		id, err = c.ImportOVA(ctx, ImportSpec{Name: "session-lost-upload", Placement: Placement{Cluster: "DC0_C0"}, Source: srv.URL + "/a.ova", MarkIncomplete: true})
		done <- err
	}()
	select {
	case <-halfSent:
		// Write returned: the import has consumed all but the socket buffers
		// of the first half, so its upload is under way.
	case err := <-done:
		t.Fatalf("ImportOVA ended before half the OVA was sent: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("half the OVA not sent after a minute")
	}
	terminate(t, c, admin)
	release()
	if err := <-done; err != nil {
		t.Fatalf("ImportOVA after the session was terminated mid-upload: %v", err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), id) })

	if n := requests.Load(); n != 2 {
		t.Errorf("the OVA was requested %d times, want 2 (the import started again once)", n)
	}
	if n := vmsNamed(t, admin, "session-lost-upload"); n != 1 {
		t.Errorf("%d VMs named session-lost-upload, want 1", n)
	}
	info, err := admin.ReadVM(ctx, id)
	if err != nil || info.Name != "session-lost-upload" || len(info.Disks) != 1 {
		t.Errorf("ReadVM(%s) = %+v, %v", id, info, err)
	}
	leases := drainLeases()
	if len(leases) != 2 {
		t.Errorf("%d leases, want 2 (the lost one and the second import's)", len(leases))
	}
	// Leases belong to a session: the provider's (new) one is the one that sees them.
	assertNothingLeft(t, c, "never-created", leases)
}

// terminateOnFilter ends the client's session right after a property filter
// on an object of type objType has been created: the next wait on that
// filter's collector finds it gone with the session.
type terminateOnFilter struct {
	next    soap.RoundTripper
	objType string
	armed   atomic.Bool
	fire    func()
	fired   chan struct{}
}

func (r *terminateOnFilter) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	err := r.next.RoundTrip(ctx, req, res)
	if cf, ok := req.(*methods.CreateFilterBody); ok && err == nil && res.Fault() == nil {
		for _, o := range cf.Req.Spec.ObjectSet {
			if o.Obj.Type == r.objType && r.armed.CompareAndSwap(true, false) {
				r.fire()
				close(r.fired)
			}
		}
	}
	return err
}

// The provider's session is terminated right after the upload, while the
// create waits on vSphere through property collectors (which belong to the
// session): during the power-on task's wait, and during WaitForIP. Both must
// go on with a new session and collector, and never call the VM, which
// exists, "not found".
func TestWaitsSurviveSessionLoss(t *testing.T) {
	ctx := context.Background()
	c, admin := connect(t), connect(t)
	ova := writeOVA(t, ovatest.Options{Name: "sessionloss2", DataBytes: 1 << 20, Seed: 12})
	id, err := c.ImportOVA(ctx, ImportSpec{Name: "session-lost-wait", Placement: Placement{Cluster: "DC0_C0"}, Source: ova})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Destroy(context.Background(), id) })

	for _, tc := range []struct {
		name, objType string
		run           func(context.Context) error
		after         func()
	}{
		{name: "power-on task", objType: "Task", run: func(ctx context.Context) error { return c.PowerOn(ctx, id) }},
		{name: "reconfigure task", objType: "Task", run: func(ctx context.Context) error { return c.MarkCreated(ctx, id) }},
		{name: "WaitForIP", objType: "VirtualMachine", run: func(ctx context.Context) error {
			ip, err := c.WaitForIP(ctx, id, time.Minute)
			if err == nil && ip != "10.20.30.41" {
				t.Errorf("WaitForIP = %q", ip)
			}
			return err
		}, after: func() {
			// VMware Tools reports the address only now, after the session is gone.
			task, err := admin.objectVM(id).Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
				&types.OptionValue{Key: "SET.guest.ipAddress", Value: "10.20.30.41"}}})
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				t.Errorf("setting the guest address: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &terminateOnFilter{next: c.rt.next, objType: tc.objType, fired: make(chan struct{})}
			rt.fire = func() { terminate(t, c, admin) }
			rt.armed.Store(true)
			c.rt.next = rt
			defer func() { c.rt.next = rt.next }()

			done := make(chan error, 1)
			go func() { done <- tc.run(ctx) }()
			select {
			case <-rt.fired:
			case err := <-done:
				t.Fatalf("ended before the session was terminated: %v", err)
			case <-time.After(time.Minute):
				t.Fatal("no property filter created within a minute")
			}
			if tc.after != nil {
				tc.after()
			}
			if err := <-done; err != nil {
				t.Fatalf("after the session was terminated: %v", err)
			}
		})
	}
	if n := vmsNamed(t, admin, "session-lost-wait"); n != 1 {
		t.Errorf("%d VMs named session-lost-wait, want 1", n)
	}
	if info, err := admin.ReadVM(ctx, id); err != nil || info.PowerState != "poweredOn" {
		t.Errorf("ReadVM = %+v, %v", info, err)
	}
}

// A VM that a create marked incomplete is recognisable: a second import of the
// name says so; once MarkCreated ran it is an ordinary VM of that name, which
// the error names with how to import it.
func TestCreateMarker(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	ova := writeOVA(t, ovatest.Options{DataBytes: 1 << 20})
	place := Placement{Cluster: "DC0_C0"}
	id, err := c.ImportOVA(ctx, ImportSpec{Name: "marked", Placement: place, Source: ova, MarkIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), id) })
	marker := func(moid string) (string, bool) {
		var vm mo.VirtualMachine
		if err := property.DefaultCollector(c.Vim25()).RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}, []string{"config.extraConfig"}, &vm); err != nil {
			t.Fatal(err)
		}
		return object.OptionValueList(vm.Config.ExtraConfig).GetString(CreateMarker)
	}
	if v, ok := marker(id); v != "incomplete" {
		t.Errorf("%s after import = %q, %v; want incomplete", CreateMarker, v, ok)
	}
	_, err = c.ImportOVA(ctx, ImportSpec{Name: "marked", Placement: place, Source: ova, MarkIncomplete: true})
	var exists *ExistsError
	if !errors.As(err, &exists) || !exists.Incomplete || exists.MOID != id || exists.Path() != "/DC0/vm/marked" {
		t.Fatalf("second import: %#v", err)
	}

	if err := c.MarkCreated(ctx, id); err != nil {
		t.Fatal(err)
	}
	if v, ok := marker(id); ok {
		t.Errorf("%s after MarkCreated = %q", CreateMarker, v)
	}
	_, err = c.ImportOVA(ctx, ImportSpec{Name: "marked", Placement: place, Source: ova, MarkIncomplete: true})
	if !errors.As(err, &exists) || exists.Incomplete {
		t.Fatalf("import over a finished VM: %#v", err)
	}
	for _, want := range []string{`a VM named "marked" already exists in folder /DC0/vm (` + id + `)`, "terraform import ADDRESS /DC0/vm/marked", "not touched"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not say %q", err, want)
		}
	}

	// A clone is marked from its first moment too.
	cl, err := c.Clone(ctx, CloneSpec{Name: "marked-clone", Template: "/DC0/vm/DC0_H0_VM0", Placement: Placement{Host: "DC0_H0"}, MarkIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), cl) })
	if v, _ := marker(cl); v != "incomplete" {
		t.Errorf("%s on the clone = %q", CreateMarker, v)
	}
	_, err = c.Clone(ctx, CloneSpec{Name: "marked-clone", Template: "/DC0/vm/DC0_H0_VM0", Placement: Placement{Host: "DC0_H0"}})
	if !errors.As(err, &exists) || !exists.Incomplete {
		t.Fatalf("second clone: %#v", err)
	}
}
