package vsphere

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// One vcsim per test binary: parallel model.Create() calls race on a global.
var (
	vcsim     *simulator.Model
	vcsimURL  *url.URL
	vcsimCA   string // PEM file with the simulator's certificate
	testDir   string
	testUser  = "hipchat"
	testPass  = "s3cret"
	leaseSeen = make(chan types.ManagedObjectReference, 1000)
	// cancelOnLease, when set, is called as soon as an import has its lease.
	cancelOnLease atomic.Pointer[context.CancelFunc]
)

func TestMain(m *testing.M) {
	var err error
	testDir, err = os.MkdirTemp("", "vsphere-test")
	if err != nil {
		log.Fatal(err)
	}
	vcsim = simulator.VPX()
	if err := vcsim.Create(); err != nil {
		log.Fatal(err)
	}
	vcsim.Service.TLS = new(tls.Config)
	vcsim.Service.Listen = &url.URL{User: url.UserPassword(testUser, testPass)}
	srv := vcsim.Service.NewServer()
	vcsimURL = srv.URL
	vcsimCA = filepath.Join(testDir, "vcsim-ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(vcsimCA, certPEM, 0o600); err != nil {
		log.Fatal(err)
	}
	leaseHook = func(ref types.ManagedObjectReference) {
		leaseSeen <- ref
		if cancel := cancelOnLease.Load(); cancel != nil {
			(*cancel)()
		}
	}

	code := m.Run()
	srv.Close()
	vcsim.Remove()
	_ = os.RemoveAll(testDir)
	os.Exit(code)
}

func testConfig() Config {
	return Config{Server: vcsimURL.Host, User: testUser, Password: testPass, CAFile: vcsimCA}
}

func connect(t testing.TB) *Client {
	t.Helper()
	c, err := Connect(context.Background(), testConfig())
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return c
}
