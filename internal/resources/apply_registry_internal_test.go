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
