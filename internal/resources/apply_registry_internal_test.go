package resources

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestDataStoresApplies: a node waits while a data-stores apply at its address runs, learns of a
// failure, and a later success or the data stores' deletion clears that failure (a later
// resource at the address in the same provider process must not fail at once).
func TestDataStoresApplies(t *testing.T) {
	r := newVMApplies("hipchatdc_datastore_node", "data stores")
	const addr = "10.0.0.5"
	done, cancel := context.WithCancel(context.Background())
	cancel()

	r.begin(addr)
	if err := r.settle(done, "10.0.0.9", addr); err == nil || !strings.Contains(err.Error(), "still being created or updated") {
		t.Fatalf("settle while an apply runs: %v", err)
	}
	r.end(addr, "Packages missing: redis-server")
	var failed *applyFailedError
	if err := r.settle(context.Background(), addr); !errors.As(err, &failed) || !strings.Contains(err.Error(), "Packages missing") {
		t.Fatalf("settle after a failure: %v", err)
	}
	r.begin(addr)
	r.end(addr, "")
	if err := r.settle(context.Background(), addr); err != nil {
		t.Fatalf("settle after a later success: %v", err)
	}
	r.begin(addr)
	r.end(addr, "failed again")
	r.forget(addr)
	if err := r.settle(context.Background(), addr); err != nil {
		t.Fatalf("settle after the data stores were deleted: %v", err)
	}
}

// TestProxyDestroys: a membership whose removal fails asks whether this process destroys the
// proxy at its address: it waits for a destroy in progress and gets its outcome; a failed
// destroy, another address, or a new proxy created there since, is not "destroyed here".
func TestProxyDestroys(t *testing.T) {
	r := newVMApplies("hipchatdc_reverse_proxy", "reverse proxy")
	const addr = "10.0.0.20"
	if r.destroyedHere(context.Background(), addr) {
		t.Fatal("destroyed before any destroy")
	}
	end := r.beginDestroy(addr)
	got := make(chan bool)
	go func() { got <- r.destroyedHere(context.Background(), addr) }()
	select {
	case v := <-got:
		t.Fatalf("destroyedHere returned %v while the destroy runs; want it to wait", v)
	default:
	}
	end(true)
	if !<-got {
		t.Fatal("not destroyed after the destroy succeeded")
	}
	if r.destroyedHere(context.Background(), "10.0.0.21") {
		t.Fatal("another address destroyed")
	}
	r.begin(addr) // a new proxy at the address
	r.end(addr, "")
	if r.destroyedHere(context.Background(), addr) {
		t.Fatal("destroyed after a new proxy was created at the address")
	}
	r.beginDestroy(addr)(false)
	if r.destroyedHere(context.Background(), addr) {
		t.Fatal("destroyed after the destroy failed")
	}
	r.beginDestroy(addr) // never ends
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r.destroyedHere(ctx, addr) {
		t.Fatal("destroyed when the wait was cancelled")
	}
}
