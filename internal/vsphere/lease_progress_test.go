package vsphere

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// The issue asks for the lease's progress to reach vSphere, so the import
// task in vCenter shows it. The OVA is served from a URL that stops after
// half its bytes until vSphere's lease shows some progress: the lease's
// transferProgress must then be above 0 and not above what was sent.
func TestImportFeedsLeaseProgress(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	ova := writeOVA(t, ovatest.Options{Name: "progress", DiskCapacityGiB: 1, DataBytes: 64 << 20, Seed: 7})
	data, err := os.ReadFile(ova)
	if err != nil {
		t.Fatal(err)
	}
	half := len(data) / 2
	resume := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data[:half])
		w.(http.Flusher).Flush()
		select {
		case <-resume:
		case <-time.After(time.Minute):
		}
		_, _ = w.Write(data[half:])
	}))
	defer srv.Close()
	// On an early t.Fatal the handler must not hold srv.Close for its minute.
	var once sync.Once
	release := func() { once.Do(func() { close(resume) }) }
	defer release()
	drainLeases()

	done := make(chan error, 1)
	var id string
	go func() {
		var err error
		id, err = c.ImportOVA(ctx, ImportSpec{Name: "lease-progress", Placement: Placement{Cluster: "DC0_C0"}, Source: srv.URL + "/a.ova"})
		done <- err
	}()

	var lease types.ManagedObjectReference
	select {
	case lease = <-leaseSeen:
	case err := <-done:
		t.Fatalf("ImportOVA ended before its lease was seen: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no lease after 30 s")
	}
	// govmomi's lease updater reports every 2 s.
	var seen int32
	pc := property.DefaultCollector(c.Vim25())
	for deadline := time.Now().Add(15 * time.Second); seen == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var l mo.HttpNfcLease
		if err := pc.RetrieveOne(ctx, lease, []string{"transferProgress"}, &l); err != nil {
			t.Fatalf("reading the lease: %v", err)
		}
		seen = l.TransferProgress
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("ImportOVA: %v", err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), id) })
	if seen <= 0 || seen > 51 {
		t.Errorf("the lease's transferProgress with half the OVA sent = %d %%, want between 1 and 51", seen)
	}
	assertNothingLeft(t, c, "never-created", []types.ManagedObjectReference{lease})
}
