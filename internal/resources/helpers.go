package resources

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Default operation timeouts: importing a multi-gigabyte OVA over a WAN link is slow.
const (
	defaultCreateTimeout = 60 * time.Minute
	defaultUpdateTimeout = 30 * time.Minute
	defaultDeleteTimeout = 10 * time.Minute
)

// timeoutGetter is the shape of timeouts.Value's Create, Update and Delete.
type timeoutGetter func(context.Context, time.Duration) (time.Duration, diag.Diagnostics)

func withTimeout(ctx context.Context, get timeoutGetter, def time.Duration, diags *diag.Diagnostics) (context.Context, context.CancelFunc, bool) {
	d, dd := get(ctx, def)
	diags.Append(dd...)
	if diags.HasError() {
		return ctx, func() {}, false
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, true
}

// nullUnknowns replaces every value still unknown in s by null. An apply that failed before it
// could read a computed attribute back does not know its value, and Terraform refuses a state
// with unknown values ("Provider returned invalid result object after apply"); null is what the
// state can truthfully say, and the next refresh fills it.
func nullUnknowns(s *tfsdk.State) {
	raw, err := tftypes.Transform(s.Raw, func(_ *tftypes.AttributePath, v tftypes.Value) (tftypes.Value, error) {
		if !v.IsKnown() {
			return tftypes.NewValue(v.Type(), nil), nil
		}
		return v, nil
	})
	if err == nil {
		s.Raw = raw
	}
}

// afterwards is the context an apply records what it did on: the read-back runs even when
// the apply was cancelled (Ctrl-C) or ran out of its timeout, so that the state says what is
// really there, and is bounded so that an unreachable vCenter or guest cannot hold it.
func afterwards(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

func stringValue(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func intValue(n int) types.Int64 {
	if n == 0 {
		return types.Int64Null()
	}
	return types.Int64Value(int64(n))
}

// importKey marks, in private state, a resource that was just imported: its first Read fills
// what the configuration will hold (placement names, the guest's settings) instead of keeping
// what state says.
const importKey = "imported"

func isImport(ctx context.Context, p interface {
	GetKey(context.Context, string) ([]byte, diag.Diagnostics)
}) bool {
	b, _ := p.GetKey(ctx, importKey)
	return len(b) > 0
}

// importVM resolves the import ID (inventory path, managed object ID, BIOS or instance UUID)
// and marks the resource for a full read-back.
func importVM(ctx context.Context, vm vmOps, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	moid := vm.findVM(ctx, req.ID, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), moid)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, importKey, []byte(`true`))...)
}

// importDefaults gives an imported resource the values a configuration that leaves them out
// would plan, so that import verification and the first plan agree.
func (c *vmCore) importDefaults() {
	if c.Timezone.IsNull() {
		c.Timezone = types.StringValue("UTC")
	}
	// Drift is the difference from a configuration, and an import has none yet. This holds
	// when the guest cannot be read too: null would show as a change to [] in the next plan.
	if c.Drift.IsNull() {
		c.Drift = types.ListValueMust(types.StringType, nil)
	}
}

var (
	absPath = regexp.MustCompile(`^/[^\x00]*$`)
	// devPath is a device path, also a stable link such as
	// /dev/disk/by-path/pci-0000:03:00.0-scsi-0:0:1:0 (SCSI unit 1 of a VM's first controller).
	devPath = regexp.MustCompile(`^/dev/[A-Za-z0-9/_.:-]+$`)
	// nginxSize is an NGINX size such as 100m.
	nginxSize = regexp.MustCompile(`^[0-9]{1,9}[kKmMgG]?$`)
)

// driftAttribute is the `drift` list of a role: what refresh found different on the guest
// (what cannot show as a plain attribute). It is always planned back to empty, so any entry is
// a planned change that the apply repairs.
func driftAttribute(what string) schema.Attribute {
	return schema.ListAttribute{
		ElementType: types.StringType, Optional: true, Computed: true,
		Default:             listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
		MarkdownDescription: "What refresh found different on the guest from what the provider configures (" + what + "). Always planned back to empty: the next apply repairs it. Leave unset.",
		Validators:          []validator.List{listvalidator.SizeAtMost(0)},
	}
}

// matches is stringvalidator.RegexMatches with the value quoted (%q) in its message, as the
// provider's other messages quote user text: a value with a newline or a trailing space then
// shows as it is, on one line, instead of breaking the message in two.
func matches(re *regexp.Regexp, rule string) validator.String { return matchesValidator{re, rule} }

type matchesValidator struct {
	re   *regexp.Regexp
	rule string
}

func (v matchesValidator) Description(context.Context) string         { return v.rule }
func (v matchesValidator) MarkdownDescription(context.Context) string { return v.rule }

func (v matchesValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if !known(req.ConfigValue) || v.re.MatchString(req.ConfigValue.ValueString()) {
		return
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+req.Path.String(),
		fmt.Sprintf("%s = %q: %s.", req.Path, req.ConfigValue.ValueString(), v.rule))
}
