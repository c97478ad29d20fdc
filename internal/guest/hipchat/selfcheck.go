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
// end (the connection dropped, ctx ended). The node's passwords are removed from the output, as
// Apply removes them: the node's settings are read first (one more read-only command) for that.
func SelfCheck(ctx context.Context, r guest.Runner, c Commands) (SelfCheckResult, error) {
	c = c.WithDefaults()
	st, err := Read(ctx, r, c)
	if err != nil {
		return SelfCheckResult{}, err
	}
	secrets := append(st.DataStores.secrets(), st.Site.secrets()...)
	out, err := r.RunChange(ctx, "# hipchat datacenter self-check (health)\n{\n"+c.SelfCheck+"\n} 2>&1\n", nil)
	res := SelfCheckResult{Passed: err == nil, Output: redact(strings.TrimSpace(string(out)), secrets)}
	// A command that ran to its end has an exit status; one that did not has -1.
	var ce *guest.CommandError
	if ran := errors.As(err, &ce) && ce.ExitStatus > 0; err != nil && !ran {
		return res, errors.New(redact(err.Error(), secrets))
	}
	return res, nil
}
