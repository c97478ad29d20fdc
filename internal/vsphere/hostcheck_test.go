package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// TestPreflightBeforeLease: a host check or a datastore without room refuses an import or a
// clone before vSphere hears of the VM: no NFC lease, no VM. The import needs exactly the
// OVA's populated size (thin disks in vcsim) plus ExtraBytes: one byte less free is refused,
// exactly that much is imported.
func TestPreflightBeforeLease(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	ova := writeOVA(t, ovatest.Options{Name: "pre", NumCPUs: 2, MemoryMB: 1024, DiskCapacityGiB: 40, DataBytes: 1 << 20, Seed: 3})
	place := Placement{Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0"}
	// vcsim's hosts run at 2294 MHz.
	slow := func(host string, mhz int32) error {
		if mhz < 2800 {
			return fmt.Errorf("host %q runs at %d MHz", host, mhz)
		}
		return nil
	}
	free := func() int64 {
		ds, err := find.NewFinder(c.Vim25(), false).Datastore(ctx, "/DC0/datastore/LocalDS_0")
		if err != nil {
			t.Fatal(err)
		}
		var d mo.Datastore
		if err := ds.Properties(ctx, ds.Reference(), []string{"summary.freeSpace"}, &d); err != nil {
			t.Fatal(err)
		}
		return d.Summary.FreeSpace
	}
	refused := func(what, field, text string, err error) {
		t.Helper()
		var pe *PreflightError
		if !errors.As(err, &pe) || pe.Field != field || !strings.Contains(err.Error(), text) {
			t.Errorf("%s: %v, want a PreflightError on %s saying %q", what, err, field, text)
		}
		if l := drainLeases(); len(l) != 0 {
			t.Errorf("%s: %d NFC lease(s) created before the refusal", what, len(l))
		}
	}
	drainLeases()

	_, err := c.ImportOVA(ctx, ImportSpec{Name: "pre-slow", Placement: place, Source: ova, Preflight: Preflight{HostCPU: slow}})
	refused("import into a cluster of slow hosts", "cluster", `host "DC0_C0_H0" runs at 2294 MHz`, err)
	assertNothingLeft(t, c, "pre-slow", nil)

	_, err = c.ImportOVA(ctx, ImportSpec{Name: "pre-full", Placement: place, Source: ova, Preflight: Preflight{ExtraBytes: free() - 1<<20 + 1}})
	refused("import one byte short", "datastore", `datastore "LocalDS_0" has`, err)
	if err != nil && !strings.Contains(err.Error(), "1.0MB for the disks of") {
		t.Errorf("the message does not say what the OVA's disks need: %v", err)
	}
	assertNothingLeft(t, c, "pre-full", nil)

	id, err := c.ImportOVA(ctx, ImportSpec{Name: "pre-fits", Placement: place, Source: ova, Preflight: Preflight{ExtraBytes: free() - 1<<20}})
	if err != nil {
		t.Fatalf("import that fits exactly: %v", err)
	}
	if err := c.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	drainLeases()

	tmpl := "/DC0/vm/DC0_H0_VM0"
	_, err = c.Clone(ctx, CloneSpec{Name: "pre-clone-slow", Template: tmpl, Placement: Placement{Host: "DC0_H0"}, Preflight: Preflight{HostCPU: slow}})
	refused("clone onto a slow host", "host", `host "DC0_H0" runs at 2294 MHz`, err)
	_, err = c.Clone(ctx, CloneSpec{Name: "pre-clone-full", Template: tmpl, Placement: Placement{Host: "DC0_H0"}, Preflight: Preflight{ExtraBytes: free()}})
	refused("clone onto a full datastore", "datastore", "for the disks of template", err)
	for _, n := range []string{"pre-clone-slow", "pre-clone-full"} {
		assertNothingLeft(t, c, n, nil)
	}
}
