package resources

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// dataStoresApplies is what the hipchatdc_datastore_node resources served by this provider
// process are doing, by ipv4_address: a create or update in progress, or the last one's
// failure. The module wires the node from values known at plan time, so Terraform runs the
// node's create or update alongside its data stores': the node reads this to wait for a
// password change to land before its self-check, and to stop waiting for data stores that
// failed. Its scope is one provider configuration (one plugin process) and addresses exactly
// as written: a node whose data_stores name the host otherwise (a DNS name), or whose data
// stores another provider configuration (an alias) serves, only waits for the services to
// answer, up to its timeout.
type dataStoresApplies struct {
	mu sync.Mutex
	at map[string]*dataStoresApply
}

type dataStoresApply struct {
	running int           // creates or updates in progress at the address
	done    chan struct{} // closed when running drops to 0
	failed  string        // why the last one failed ("" when it succeeded)
}

var dataStores = &dataStoresApplies{at: map[string]*dataStoresApply{}}

// begin notes a create or update starting at addr.
func (r *dataStoresApplies) begin(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.at[addr]
	if a == nil {
		a = &dataStoresApply{}
		r.at[addr] = a
	}
	if a.running == 0 {
		a.done = make(chan struct{})
	}
	a.running++
	a.failed = ""
}

// end notes it finished, failed (why, its first error) or not.
func (r *dataStoresApplies) end(addr, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.at[addr]
	if a == nil || a.running == 0 {
		return
	}
	if why != "" {
		a.failed = why
	}
	a.running--
	if a.running == 0 {
		close(a.done)
		if a.failed == "" {
			delete(r.at, addr)
		}
	}
}

// forget drops what is known of addr (its data stores are deleted).
func (r *dataStoresApplies) forget(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.at[addr]; a != nil && a.running == 0 {
		delete(r.at, addr)
	}
}

// settle waits (bounded by ctx) while a create or update of data stores at any of hosts is in
// progress, then returns a *dataStoresFailedError for the first whose last one failed.
func (r *dataStoresApplies) settle(ctx context.Context, hosts ...string) error {
	for _, h := range hosts {
		r.mu.Lock()
		a := r.at[h]
		var done chan struct{}
		if a != nil && a.running > 0 {
			done = a.done
		}
		r.mu.Unlock()
		if done != nil {
			tflog.Info(ctx, "waiting for the hipchatdc_datastore_node at this address to finish its create or update", map[string]any{"address": h})
			start := time.Now()
			select {
			case <-done:
				tflog.Info(ctx, "the data stores' create or update finished", map[string]any{"address": h, "waited": time.Since(start).String()})
			case <-ctx.Done():
				return fmt.Errorf("the hipchatdc_datastore_node with ipv4_address %q was still being created or updated after %s: %w",
					h, time.Since(start).Round(time.Second), ctx.Err())
			}
		}
	}
	return r.failedAt(hosts...)
}

// failedAt returns the error for the first of hosts whose data stores failed.
func (r *dataStoresApplies) failedAt(hosts ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hosts {
		if a := r.at[h]; a != nil && a.failed != "" {
			return &dataStoresFailedError{addr: h, why: a.failed}
		}
	}
	return nil
}

// beginApply, recordOutcome and forget are the data stores role's side (outcomeRecorder).
func (datastoreRole) beginApply(m *datastoreModel) {
	if known(m.IPv4Address) {
		dataStores.begin(m.IPv4Address.ValueString())
	}
}

func (datastoreRole) recordOutcome(m *datastoreModel, diags diag.Diagnostics) {
	if !known(m.IPv4Address) {
		return
	}
	why := ""
	if errs := diags.Errors(); len(errs) > 0 {
		why = errs[0].Summary() + ": " + firstLine(errs[0].Detail())
	}
	dataStores.end(m.IPv4Address.ValueString(), why)
}

func (datastoreRole) forget(m *datastoreModel) {
	if known(m.IPv4Address) {
		dataStores.forget(m.IPv4Address.ValueString())
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// dataStoresFailedError is a wait for data stores that a hipchatdc_datastore_node of the same
// apply failed to make.
type dataStoresFailedError struct{ addr, why string }

func (e *dataStoresFailedError) Error() string {
	return fmt.Sprintf("not waiting for the data stores at %s: the hipchatdc_datastore_node with ipv4_address %q failed in this apply (%s)", e.addr, e.addr, e.why)
}
