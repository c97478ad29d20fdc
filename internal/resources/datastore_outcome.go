package resources

import (
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
)

// failedDataStores holds, by ipv4_address, why a hipchatdc_datastore_node served by this provider
// process failed its create or update. Terraform lets the operations in progress finish after one
// fails, so a node created in the same apply and waiting for data stores at that address would
// otherwise wait out its whole create timeout: it reads this after each probe and stops.
var failedDataStores sync.Map // address -> string

// recordOutcome notes a data stores resource's create or update: failed (with its first error)
// or not.
func (datastoreRole) recordOutcome(m *datastoreModel, diags diag.Diagnostics) {
	if !known(m.IPv4Address) {
		return
	}
	addr := m.IPv4Address.ValueString()
	for _, d := range diags.Errors() {
		failedDataStores.Store(addr, d.Summary()+": "+firstLine(d.Detail()))
		return
	}
	failedDataStores.Delete(addr)
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

// failedDataStoresAt returns the error for the first of hosts whose data stores failed.
func failedDataStoresAt(hosts ...string) error {
	for _, h := range hosts {
		if why, ok := failedDataStores.Load(h); ok {
			return &dataStoresFailedError{addr: h, why: why.(string)}
		}
	}
	return nil
}
