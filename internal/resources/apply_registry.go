package resources

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// vmApplies is what the VM resources of one type served by this provider process are doing, by
// ipv4_address: a create or update in progress, or the last one's failure. The module wires
// the VMs from values known at plan time, so Terraform runs a VM's create or update alongside
// those of the VMs it needs, and a resource that needs one waits on this instead of on a
// Terraform dependency (which would make it wait for the whole create, and make replacements
// of the one it needs follow its lifecycle):
//   - dataStores: the node waits for a password change to land before its self-check, and stops
//     waiting for data stores that failed;
//   - proxies: a hipchatdc_reverse_proxy_node waits for the proxy VM it adds a node to.
//
// Its scope is one provider configuration (one plugin process) and addresses exactly as
// written: a resource that names the VM otherwise (a DNS name), or whose VM another provider
// configuration (an alias) serves, only waits for the VM to answer, up to its timeout.
type vmApplies struct {
	resource string // the resource type, for messages: "hipchatdc_datastore_node"
	what     string // what it makes, for messages: "data stores"

	mu sync.Mutex
	at map[string]*vmApply
	// destroying: the VMs this process is destroying or destroyed, by address (until a create
	// at the address): a hipchatdc_reverse_proxy_node destroyed in the same apply as its proxy
	// VM (the module gives it no dependency on that VM) loses its SSH session when the proxy
	// goes, and has nothing left to take the node out of.
	destroying map[string]*vmDestroy
}

type vmDestroy struct {
	done chan struct{} // closed when the destroy ended
	ok   bool          // the VM is destroyed (valid once done is closed)
}

type vmApply struct {
	running int           // creates or updates in progress at the address
	done    chan struct{} // closed when running drops to 0
	failed  string        // why the last one failed ("" when it succeeded)
}

func newVMApplies(resource, what string) *vmApplies {
	return &vmApplies{resource: resource, what: what, at: map[string]*vmApply{}, destroying: map[string]*vmDestroy{}}
}

var (
	dataStores = newVMApplies("hipchatdc_datastore_node", "data stores")
	proxies    = newVMApplies("hipchatdc_reverse_proxy", "reverse proxy")
)

// begin notes a create or update starting at addr.
func (r *vmApplies) begin(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.at[addr]
	if a == nil {
		a = &vmApply{}
		r.at[addr] = a
	}
	if a.running == 0 {
		a.done = make(chan struct{})
	}
	a.running++
	a.failed = ""
	delete(r.destroying, addr) // a new VM at the address
}

// beginDestroy notes the destroy of the VM at addr starting; the function it returns notes its
// end (ok: the VM is gone).
func (r *vmApplies) beginDestroy(addr string) func(ok bool) {
	d := &vmDestroy{done: make(chan struct{})}
	r.mu.Lock()
	r.destroying[addr] = d
	r.mu.Unlock()
	return func(ok bool) {
		d.ok = ok
		close(d.done)
	}
}

// destroyedHere tells whether this process destroyed the VM at addr, waiting (bounded by ctx)
// for a destroy in progress to end.
func (r *vmApplies) destroyedHere(ctx context.Context, addr string) bool {
	r.mu.Lock()
	d := r.destroying[addr]
	r.mu.Unlock()
	if d == nil {
		return false
	}
	select {
	case <-d.done:
		return d.ok
	case <-ctx.Done():
		return false
	}
}

// end notes it finished, failed (why, its first error) or not.
func (r *vmApplies) end(addr, why string) {
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

// forget drops what is known of addr (its VM is deleted).
func (r *vmApplies) forget(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.at[addr]; a != nil && a.running == 0 {
		delete(r.at, addr)
	}
}

// settle waits (bounded by ctx) while a create or update at any of hosts is in progress, then
// returns an *applyFailedError for the first whose last one failed.
func (r *vmApplies) settle(ctx context.Context, hosts ...string) error {
	for _, h := range hosts {
		r.mu.Lock()
		a := r.at[h]
		var done chan struct{}
		if a != nil && a.running > 0 {
			done = a.done
		}
		r.mu.Unlock()
		if done != nil {
			tflog.Info(ctx, "waiting for the "+r.resource+" at this address to finish its create or update", map[string]any{"address": h})
			start := time.Now()
			select {
			case <-done:
				tflog.Info(ctx, "the "+r.resource+"'s create or update finished", map[string]any{"address": h, "waited": time.Since(start).String()})
			case <-ctx.Done():
				return fmt.Errorf("the %s with ipv4_address %q was still being created or updated after %s: %w",
					r.resource, h, time.Since(start).Round(time.Second), ctx.Err())
			}
		}
	}
	return r.failedAt(hosts...)
}

// failedAt returns the error for the first of hosts whose last create or update failed.
func (r *vmApplies) failedAt(hosts ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hosts {
		if a := r.at[h]; a != nil && a.failed != "" {
			return &applyFailedError{resource: r.resource, what: r.what, addr: h, why: a.failed}
		}
	}
	return nil
}

// beginApply, recordOutcome and forget are the data stores' side (outcomeRecorder).
func (datastoreRole) beginApply(m *datastoreModel) { dataStores.beginAt(m.IPv4Address) }
func (datastoreRole) recordOutcome(m *datastoreModel, diags diag.Diagnostics) {
	dataStores.endAt(m.IPv4Address, diags)
}
func (datastoreRole) forget(m *datastoreModel) { dataStores.forgetAt(m.IPv4Address) }

// The reverse proxy's side: hipchatdc_reverse_proxy_node waits for it.
func (proxyRole) beginApply(m *proxyModel) { proxies.beginAt(m.IPv4Address) }
func (proxyRole) recordOutcome(m *proxyModel, diags diag.Diagnostics) {
	proxies.endAt(m.IPv4Address, diags)
}
func (proxyRole) forget(m *proxyModel) { proxies.forgetAt(m.IPv4Address) }
func (proxyRole) beginDestroy(m *proxyModel) func(ok bool) {
	if !known(m.IPv4Address) {
		return func(bool) {}
	}
	return proxies.beginDestroy(m.IPv4Address.ValueString())
}

// beginAt, endAt and forgetAt take the VM's ipv4_address as the model holds it (unknown: not
// recorded) and an apply's diagnostics (its first error is why it failed).
func (r *vmApplies) beginAt(addr types.String) {
	if known(addr) {
		r.begin(addr.ValueString())
	}
}

func (r *vmApplies) endAt(addr types.String, diags diag.Diagnostics) {
	if !known(addr) {
		return
	}
	why := ""
	if errs := diags.Errors(); len(errs) > 0 {
		why = errs[0].Summary() + ": " + firstLine(errs[0].Detail())
	}
	r.end(addr.ValueString(), why)
}

func (r *vmApplies) forgetAt(addr types.String) {
	if known(addr) {
		r.forget(addr.ValueString())
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// applyFailedError is a wait for a VM that its resource failed to make in the same apply.
type applyFailedError struct{ resource, what, addr, why string }

func (e *applyFailedError) Error() string {
	return fmt.Sprintf("not waiting for the %s at %s: the %s with ipv4_address %q failed in this apply (%s)", e.what, e.addr, e.resource, e.addr, e.why)
}
