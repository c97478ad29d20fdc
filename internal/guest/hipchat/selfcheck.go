package hipchat

import (
	"context"
	"errors"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// SelfCheckResult is one run of the node's self-check.
type SelfCheckResult struct {
	Passed bool
	Output string // what the self-check printed (stdout and stderr), trimmed
}

// SelfCheck runs the node's self-check (c.SelfCheck) on its own, as a health check does: it
// changes no setting, but the appliance's check writes a probe file to the NFS share and
// removes it again, so it runs as a change (RunChange). A self-check that ran and failed is a
// result (Passed false, with its output), not an error; an error means it could not run to its
// end (the connection dropped, ctx ended).
func SelfCheck(ctx context.Context, r guest.Runner, c Commands) (SelfCheckResult, error) {
	c = c.WithDefaults()
	out, err := r.RunChange(ctx, "# hipchat datacenter self-check (health)\n{\n"+c.SelfCheck+"\n} 2>&1\n", nil)
	res := SelfCheckResult{Passed: err == nil, Output: strings.TrimSpace(string(out))}
	var ce *guest.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.ExitStatus > 0) {
		return res, err
	}
	return res, nil
}
