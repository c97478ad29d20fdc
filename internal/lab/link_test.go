package lab

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vapi/library"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vim25/soap"
	"golang.org/x/time/rate"
)

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]int64{"110MiB/s": 110 << 20, "1GiB": 1 << 30, "125MB/s": 125e6, "512KiB/s": 512 << 10, "1000": 1000} {
		if got, err := ParseBandwidth(in); err != nil || got != want {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1MiB/s", "10 parsecs"} {
		if _, err := ParseBandwidth(in); err == nil {
			t.Errorf("ParseBandwidth(%q) accepted", in)
		}
	}
}

func TestParseBootDelays(t *testing.T) {
	got, err := ParseBootDelays("node=30s, debian=5s,*=1s")
	if err != nil || got[KindNode] != 30*time.Second || got[KindDebian] != 5*time.Second || got[""] != time.Second {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParseBootDelays("node"); err == nil {
		t.Error("a kind without a delay was accepted")
	}
}

// Two uploads at once share the link: together they take at least their total size over the
// rate (less the burst), not each its own size over it. Load only makes them slower.
func TestLinkIsSharedByConcurrentUploads(t *testing.T) {
	const bps, each = 8 << 20, 2 << 20
	lim := rate.NewLimiter(rate.Limit(bps), linkBurst)
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &limitedReader{rc: io.NopCloser(bytes.NewReader(make([]byte, each))), lim: lim, ctx: context.Background()}
			if n, err := io.Copy(io.Discard, r); err != nil || n != each {
				t.Errorf("read %d bytes: %v", n, err)
			}
		}()
	}
	wg.Wait()
	if least := time.Duration(float64(2*each-linkBurst) / bps * float64(time.Second)); time.Since(start) < least {
		t.Errorf("2 x %d bytes at %d B/s took %s: the link was not shared (at least %s)", each, bps, time.Since(start), least)
	}
}

// A content-library upload (PUT to vCenter's REST API) crosses the lab's link as an NFC upload
// does: it takes at least its size over the rate (less the burst). Load only makes it slower.
func TestContentLibraryUploadCrossesTheLink(t *testing.T) {
	const bps, size = 4 << 20, 8 << 20
	v, err := startVCSim(t.TempDir(), newLink(bps), func(vmEvent) {})
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := v.client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc := rest.NewClient(c.Client)
	if err := rc.Login(ctx, url.UserPassword(vsphereUser, vspherePassword)); err != nil {
		t.Fatal(err)
	}
	dss, err := find.NewFinder(c.Client).DatastoreList(ctx, "*")
	if err != nil || len(dss) == 0 {
		t.Fatalf("no datastore: %v", err)
	}
	m := library.NewManager(rc)
	lib, err := m.CreateLibrary(ctx, library.Library{Name: "link", Type: "LOCAL", Storage: []library.StorageBacking{{DatastoreID: dss[0].Reference().Value, Type: "DATASTORE"}}})
	if err != nil {
		t.Fatal(err)
	}
	item, err := m.CreateLibraryItem(ctx, library.Item{Name: "blob", Type: "file", LibraryID: lib})
	if err != nil {
		t.Fatal(err)
	}
	sid, err := m.CreateLibraryItemUpdateSession(ctx, library.Session{LibraryItemID: item})
	if err != nil {
		t.Fatal(err)
	}
	up, err := m.AddLibraryItemFile(ctx, sid, library.UpdateFile{Name: "blob.bin", SourceType: "PUSH", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(up.UploadEndpoint.URI)
	if err != nil {
		t.Fatal(err)
	}
	p := soap.DefaultUpload
	p.ContentLength = size
	start := time.Now()
	if err := rc.Upload(ctx, bytes.NewReader(make([]byte, size)), u, &p); err != nil {
		t.Fatal(err)
	}
	if least := time.Duration(float64(size-linkBurst) / bps * float64(time.Second)); time.Since(start) < least {
		t.Errorf("%d bytes at %d B/s took %s: the upload did not cross the link (at least %s)", size, bps, time.Since(start), least)
	}
}
