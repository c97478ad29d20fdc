package resources

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// TestHostCPUCheckWarns: a host under the role's clock is an error, or with allow_slow_cpu a
// warning on that attribute naming the host, its clock and the minimum; the proxy's 1 GHz
// accepts what the node's 2.8 GHz refuses.
func TestHostCPUCheckWarns(t *testing.T) {
	var d diag.Diagnostics
	c := vmCore{AllowSlowCPU: types.BoolNull()}
	if err := c.hostCPUCheck(spec.RoleNode, &d)("esx-1", 2000); err == nil || !strings.Contains(err.Error(), `host "esx-1" runs at 2000 MHz`) {
		t.Errorf("node on a 2000 MHz host: %v, want a refusal naming the host and its clock", err)
	}
	if err := c.hostCPUCheck(spec.RoleReverseProxy, &d)("esx-1", 2000); err != nil {
		t.Errorf("reverse proxy on a 2000 MHz host: %v, want none (the guide asks 1 GHz)", err)
	}
	if len(d) != 0 {
		t.Errorf("diagnostics without allow_slow_cpu: %v", d)
	}
	c.AllowSlowCPU = types.BoolValue(true)
	if err := c.hostCPUCheck(spec.RoleDataStores, &d)("esx-1", 2000); err != nil {
		t.Errorf("allow_slow_cpu = true: %v, want a warning only", err)
	}
	if d.WarningsCount() != 1 || d.ErrorsCount() != 0 {
		t.Fatalf("allow_slow_cpu = true: %v, want one warning", d)
	}
	if got := d[0].Detail(); !strings.Contains(got, "allow_slow_cpu = true") || !strings.Contains(got, `host "esx-1" runs at 2000 MHz`) || !strings.Contains(got, "2.8 GHz") {
		t.Errorf("warning %q does not name the opt-out, the host, its clock and the minimum", got)
	}
}
