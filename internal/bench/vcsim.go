package bench

import (
	"cmp"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	// vCenter's REST API, for the content library (RegisterEndpoints serves it).
	_ "github.com/vmware/govmomi/vapi/simulator"
)

// ServerOptions shape the simulator for a benchmark or a bad-input run.
type ServerOptions struct {
	// Dir receives the CA file; vcsim's own datastore folders go to
	// os.TempDir(), so callers point TMPDIR at a folder they remove.
	Dir string
	// DiskFullAfter > 0 makes the datastore this small: vcsim does not
	// check free space (it lets it go negative), so an NFC upload is failed
	// with ENOSPC once it has written this many bytes of one disk, as ESXi
	// fails a write to a full datastore.
	DiskFullAfter int64
	// ReportedFree > 0 is the free space the datastore reports whatever
	// DiskFullAfter: room that other VMs take while an upload runs, which
	// the provider's check before the upload cannot see.
	ReportedFree int64
	// Throttle > 0 limits each NFC upload to this many bytes per second, so
	// tests can interrupt an import of a small OVA midway.
	Throttle int64
}

// Server is an in-process vcsim (VPX model) over HTTPS on loopback.
type Server struct {
	Endpoint Endpoint
	model    *simulator.Model
	srv      *simulator.Server
	leases   leaseTracker
}

// OpenLeasesPath is served by Server: GET returns a JSON list of the NFC
// leases that received uploads and are neither completed nor aborted.
const OpenLeasesPath = "/bench/open-leases"

// StartServer creates and starts the simulator.
func StartServer(opts ServerOptions) (*Server, error) {
	s := &Server{model: simulator.VPX()}
	if err := s.model.Create(); err != nil {
		return nil, fmt.Errorf("vcsim: %w", err)
	}
	if free := cmp.Or(opts.ReportedFree, opts.DiskFullAfter); free > 0 {
		for _, e := range s.model.Map().All("Datastore") {
			ds := e.(*simulator.Datastore)
			ds.Summary.Capacity, ds.Summary.FreeSpace = free, free
			ds.Info.GetDatastoreInfo().FreeSpace = free
		}
	}
	user, pass := "bench", fmt.Sprintf("bench-%d", time.Now().UnixNano())
	s.model.Service.TLS = new(tls.Config)
	s.model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(user, pass)}
	// A method pattern is more specific than vcsim's own "/nfc/", so uploads
	// come here first (Go 1.22 ServeMux precedence) and go on to ServeNFC.
	// nfc.Lease.Upload PUTs a disk it creates and POSTs one that exists.
	s.model.Service.ServeMux = http.NewServeMux()
	upload := func(w http.ResponseWriter, r *http.Request) {
		s.leases.saw(r.URL.Path)
		r.Body = &limitedBody{rc: r.Body, full: opts.DiskFullAfter, rate: opts.Throttle, start: time.Now()}
		simulator.ServeNFC(w, r)
	}
	s.model.Service.ServeMux.HandleFunc("PUT /nfc/", upload)
	s.model.Service.ServeMux.HandleFunc("POST /nfc/", upload)
	s.model.Service.ServeMux.HandleFunc("GET "+OpenLeasesPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.leases.open())
	})
	s.model.Service.RegisterEndpoints = true
	s.srv = s.model.Service.NewServer()
	ca := filepath.Join(opts.Dir, "vcsim-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600); err != nil {
		s.Close()
		return nil, err
	}
	u := *s.srv.URL
	u.User = nil
	s.Endpoint = Endpoint{URL: u.String(), CAFile: ca, User: user, Password: pass}
	return s, nil
}

// Close stops the server and removes vcsim's datastore folders.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
	s.model.Remove()
}

// leaseTracker remembers the NFC device URLs that saw a PUT, to tell later
// which of their leases are still open.
type leaseTracker struct {
	mu      sync.Mutex
	paths   map[string]bool
	uploads int // every upload request, also to leases closed since
}

func (l *leaseTracker) saw(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uploads++
	if l.paths == nil {
		l.paths = map[string]bool{}
	}
	l.paths[path] = true
}

// uploadCount is how many upload requests reached an NFC lease.
func (l *leaseTracker) uploadCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.uploads
}

// open probes each device URL with an empty PUT: vcsim answers 404 once
// its lease was completed or aborted. (An empty PUT would overwrite the
// checksum of a lease still in use, so ask only when imports are over.)
func (l *leaseTracker) open() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	// ServeNFC logs "invalid NFC lease" for every closed lease, which is
	// the expected answer here.
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	out := []string{}
	for p := range l.paths {
		rec := httptest.NewRecorder()
		simulator.ServeNFC(rec, httptest.NewRequest(http.MethodPut, p, strings.NewReader("")))
		if rec.Code == http.StatusNotFound {
			delete(l.paths, p)
			continue
		}
		parts := strings.Split(p, "/")
		out = append(out, parts[len(parts)-2])
	}
	sort.Strings(out)
	return out
}

// limitedBody fails with ENOSPC after full bytes and paces reads to rate.
type limitedBody struct {
	rc         io.ReadCloser
	full, rate int64
	n          int64
	start      time.Time
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.full > 0 && b.n >= b.full {
		return 0, &os.PathError{Op: "write", Path: "datastore", Err: syscall.ENOSPC}
	}
	if b.full > 0 && int64(len(p)) > b.full-b.n {
		p = p[:b.full-b.n]
	}
	if b.rate > 0 && len(p) > int(b.rate/20) {
		p = p[:b.rate/20]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.rate > 0 {
		due := b.start.Add(time.Duration(float64(b.n) / float64(b.rate) * float64(time.Second)))
		time.Sleep(time.Until(due))
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
