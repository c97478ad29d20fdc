package resources

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// model is what every resource model is: a VM core plus the role's own attributes.
type model interface{ core() *vmCore }

func (c *vmCore) core() *vmCore { return c }

// role is what a resource adds on top of the VM core. The three resources differ only here;
// vmResource runs the lifecycle they share.
type role[M any] interface {
	// spec is the role in the guide's terms (its sizing minimums).
	spec() spec.Role
	flavor() identity.Flavor
	typeSuffix() string
	description() string
	attributes() map[string]schema.Attribute
	blocks() map[string]schema.Block
	// validate checks the role's attributes at plan time (values may be unknown).
	validate(ctx context.Context, m *M, diags *diag.Diagnostics)
	// modifyPlan adjusts the plan (state is nil on create).
	modifyPlan(ctx context.Context, plan, state *M, diags *diag.Diagnostics)
	// extraDisks are the disks after the system disk, in GiB; setExtraDisks records the sizes
	// vSphere reports for them.
	extraDisks(m *M) []int64
	setExtraDisks(m *M, gib []int64)
	// apply configures the role's services on the guest (state is nil on create).
	apply(ctx context.Context, conn *guest.Conn, plan, state *M, diags *diag.Diagnostics)
	// readScript is the shell script that reads the role's services back ("" for none). It runs
	// in the same SSH command as the network identity's read: a refresh costs one command.
	readScript(m *M) string
	// parse refreshes the role's attributes from that command's output; imported is true on
	// the first read after an import, when the role fills what it finds.
	parse(ctx context.Context, out string, m *M, imported bool, diags *diag.Diagnostics)
}

// vmResource is a Terraform resource made of the VM core and a role.
type vmResource[M any, PM interface {
	*M
	model
}] struct {
	vm   vmOps
	role role[M]
}

var _ resource.ResourceWithImportState = (*vmResource[nodeModel, *nodeModel])(nil)
var _ resource.ResourceWithModifyPlan = (*vmResource[nodeModel, *nodeModel])(nil)
var _ resource.ResourceWithValidateConfig = (*vmResource[nodeModel, *nodeModel])(nil)
var _ resource.ResourceWithConfigure = (*vmResource[nodeModel, *nodeModel])(nil)

func (r *vmResource[M, PM]) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + r.role.typeSuffix()
}

func (r *vmResource[M, PM]) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs, blocks := vmCoreSchema(ctx, r.role.spec())
	for k, v := range r.role.attributes() {
		attrs[k] = v
	}
	for k, v := range r.role.blocks() {
		blocks[k] = v
	}
	resp.Schema = schema.Schema{MarkdownDescription: r.role.description(), Attributes: attrs, Blocks: blocks}
}

func (r *vmResource[M, PM]) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.vm.data = configureData(req, &resp.Diagnostics)
}

func (r *vmResource[M, PM]) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m M
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.role.validate(ctx, &m, &resp.Diagnostics)
	ValidateHostKeySettings(PM(&m).core().Connection, path.Root("ssh"), resourceBlock, &resp.Diagnostics)
}

func (r *vmResource[M, PM]) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan M
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	var state *M
	if !req.State.Raw.IsNull() {
		state = new(M)
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	var stateCore *vmCore
	if state != nil {
		stateCore = PM(state).core()
	}
	// Whether anything changes must be known before the plan is adjusted: adjusting it must
	// not itself turn an empty plan into a change.
	changing := state == nil || !req.Plan.Raw.Equal(req.State.Raw)
	PM(&plan).core().modifyPlan(r.role.spec(), stateCore, changing, &resp.Diagnostics)
	if state == nil {
		// The configuration, not the plan: a placement attribute left unset is unknown in the
		// plan (vSphere fills it in), and only one that is unknown in the configuration comes
		// from another resource.
		var cfg M
		if d := req.Config.Get(ctx, &cfg); !d.HasError() {
			r.vm.planHostCPU(ctx, PM(&cfg).core(), r.role.spec(), &resp.Diagnostics)
		}
	}
	r.role.modifyPlan(ctx, &plan, state, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *vmResource[M, PM]) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan M
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := PM(&plan).core()
	r.beginApply(&plan)
	defer r.recordOutcome(&plan, &resp.Diagnostics)
	ctx, cancel, ok := withTimeout(ctx, c.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	// What would fail when the guest is dialled fails now, before there is a VM to clean up.
	if !r.vm.checkSSH(c, &resp.Diagnostics) {
		return
	}
	if !r.vm.addressFree(ctx, c, &resp.Diagnostics) {
		return
	}
	if cc, ok := r.role.(createChecker[M]); ok {
		if cc.checkCreate(ctx, &plan, &resp.Diagnostics); resp.Diagnostics.HasError() {
			return
		}
	}

	c.ID = stringValue(r.vm.createVM(ctx, c, r.role.spec(), r.role.extraDisks(&plan), &resp.Diagnostics))
	if resp.Diagnostics.HasError() {
		return
	}
	// From here on the VM exists: record it even if configuring the guest fails, so that it is
	// neither lost nor duplicated by the next apply.
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), c.ID)...)
	conn := r.configure(ctx, &plan, nil, &resp.Diagnostics)
	if conn != nil {
		defer conn.Close()
	}
	// One attempt to discard a failed create: a second one, after the read-back, would only
	// repeat a destroy that failed.
	attempted := false
	discarded := func() bool {
		if attempted || !r.discardsFailed(resp.Diagnostics) {
			return false
		}
		attempted = true
		return r.discard(ctx, c, &resp.Diagnostics)
	}
	if discarded() {
		resp.State.RemoveResource(ctx)
		return
	}
	// Read back even when configuring the guest failed: the state must hold what the VM and
	// the guest really are (and no value left unknown), whatever the next apply has to redo.
	rctx, rcancel := afterwards(ctx)
	defer rcancel()
	r.readBack(rctx, &plan, conn, true, &resp.Diagnostics)
	// The read-back fails a create whose guest still differs from the configuration.
	if discarded() {
		resp.State.RemoveResource(ctx)
		return
	}
	// The VM goes to the state with this response: it is no longer a create in progress.
	r.vm.markCreated(ctx, c, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	nullUnknowns(&resp.State)
}

// failedCreateDiscarder is a role whose new VM, after a failure of its create, is destroyed
// rather than kept in the state tainted (nodeRole.discardFailedCreate says why).
type failedCreateDiscarder interface {
	discardFailedCreate(diags diag.Diagnostics) bool
}

// discardsFailed tells whether the role wants the VM of a create that failed so destroyed.
func (r *vmResource[M, PM]) discardsFailed(diags diag.Diagnostics) bool {
	d, ok := r.role.(failedCreateDiscarder)
	return ok && d.discardFailedCreate(diags)
}

// keepsFailedCreate tells whether a VM whose create failed stays in the state (tainted).
func (r *vmResource[M, PM]) keepsFailedCreate() bool {
	_, discards := r.role.(failedCreateDiscarder)
	return !discards
}

// discard destroys the VM a failed create made, even when the apply is being interrupted, and
// says so. When that fails the VM is recorded as usual (tainted), so that it is not lost.
func (r *vmResource[M, PM]) discard(ctx context.Context, c *vmCore, diags *diag.Diagnostics) bool {
	dctx, cancel := afterwards(ctx)
	defer cancel()
	var del diag.Diagnostics
	r.vm.deleteVM(dctx, c, &del)
	if del.HasError() {
		diags.Append(del...)
		diags.AddAttributeError(path.Root("name"), "New VM kept after its failed create",
			fmt.Sprintf("name = %q: the VM this create made (%s) failed (see the errors above) and could not be destroyed again, so it is kept in the state, tainted, and the next apply replaces it. "+
				"Under create_before_destroy that replacement takes the same name and address and stops at \"A VM of this name already exists\" while this VM is there: "+
				"destroy it in vSphere (govc vm.destroy, or the vSphere client) first; the next refresh finds it gone.",
				c.Name.ValueString(), c.ID.ValueString()))
		return false
	}
	diags.AddAttributeWarning(path.Root("name"), "New VM removed after its failed create",
		fmt.Sprintf("name = %q: the VM this create made (%s) failed (see the error) and was destroyed again; nothing of it is left in vSphere or in the state. "+
			"Under create_before_destroy the VM it was to replace is still the current one, still running and untouched. Fix what the error names and apply again.",
			c.Name.ValueString(), c.ID.ValueString()))
	return true
}

// createChecker is a role with inputs to check before a VM is made for it (the data stores'
// backup to restore from, which may have been unknown or unreadable at plan time).
type createChecker[M any] interface {
	checkCreate(ctx context.Context, m *M, diags *diag.Diagnostics)
}

// outcomeRecorder is a role whose create or update other resources of the same apply wait on
// (the data stores, for the node applied alongside them): it notes the start, the outcome,
// and the deletion.
type outcomeRecorder[M any] interface {
	beginApply(m *M)
	recordOutcome(m *M, diags diag.Diagnostics)
	forget(m *M)
}

// destroyRecorder is a role whose destroy other resources of the same apply ask about (the
// proxy, for its memberships): beginDestroy notes the start, the function it returns the end.
type destroyRecorder[M any] interface {
	beginDestroy(m *M) func(ok bool)
}

// beginApply notes the start of a create or update; the deferred recordOutcome its end.
func (r *vmResource[M, PM]) beginApply(m *M) {
	if rec, ok := r.role.(outcomeRecorder[M]); ok {
		rec.beginApply(m)
	}
}

func (r *vmResource[M, PM]) recordOutcome(m *M, diags *diag.Diagnostics) {
	if rec, ok := r.role.(outcomeRecorder[M]); ok {
		rec.recordOutcome(m, *diags)
	}
}

// readBack is the read after an apply. Drift it finds means a step the apply ran did not take
// effect: that is an error naming what still differs, rather than Terraform's "inconsistent
// result" about a list the configuration never sets. After a failed step it adds nothing:
// that step's error explains the drift.
func (r *vmResource[M, PM]) readBack(ctx context.Context, m *M, conn *guest.Conn, created bool, diags *diag.Diagnostics) {
	failed := diags.HasError()
	r.read(ctx, m, false, conn, diags)
	d := PM(m).core().Drift
	if failed || diags.HasError() || !known(d) {
		return
	}
	var drift []string
	diags.Append(d.ElementsAs(ctx, &drift, false)...)
	if len(drift) == 0 {
		return
	}
	next := "The state records this, and the next apply tries again."
	if created && r.keepsFailedCreate() {
		// Terraform taints a resource whose create failed.
		next = "The VM is kept in the state, tainted: the next apply replaces it (`terraform untaint` to try again on this one)."
	} else if created {
		next = "The new VM is destroyed again (a warning says so, or an error why it could not be): the next apply creates it afresh."
	}
	diags.AddAttributeError(path.Root("drift"), "The guest still differs from the configuration after the apply",
		"Read back after configuring it: "+strings.Join(drift, "; ")+". "+next)
}

// configure pushes the network identity, then the role's services, over one SSH connection,
// and returns it for the read-back when every step succeeded. After a failure it is closed
// (nil): the read-back dials afresh and finds the guest wherever the failure left it.
func (r *vmResource[M, PM]) configure(ctx context.Context, plan, state *M, diags *diag.Diagnostics) *guest.Conn {
	var prior *vmCore
	if state != nil {
		prior = PM(state).core()
	}
	conn := r.vm.configureGuest(ctx, PM(plan).core(), prior, r.role.flavor(), diags)
	if conn == nil {
		return nil
	}
	errs := diags.ErrorsCount()
	r.role.apply(ctx, conn, plan, state, diags)
	if diags.ErrorsCount() > errs {
		conn.Close()
		return nil
	}
	return conn
}

// read refreshes m from vSphere and, when the resource manages it, from the guest (over open
// when the caller has a connection to it, else over a new one).
func (r *vmResource[M, PM]) read(ctx context.Context, m *M, imported bool, open *guest.Conn, diags *diag.Diagnostics) bool {
	c := PM(m).core()
	info, found := r.vm.readVM(ctx, c, diags)
	if !found || info == nil {
		return found
	}
	if len(info.Disks) > 1 {
		r.role.setExtraDisks(m, info.Disks[1:])
	}
	if !c.isOn() {
		// A guest that is not running cannot answer: do not spend an SSH timeout on it. The
		// plan shows power_state going back to on, and that apply configures the guest again.
		return true
	}
	if out, ok := r.vm.readGuest(ctx, c, info.GuestIP, r.role.flavor(), imported, func() string { return r.role.readScript(m) }, open, diags); ok {
		r.role.parse(ctx, out, m, imported, diags)
	}
	return true
}

// reads counts the resources' refreshes (Read calls), so that tests and benchmarks can relate
// vSphere round trips and SSH commands to them.
var reads atomic.Int64

// Reads is the number of resource refreshes this process has made.
func Reads() int64 { return reads.Load() }

func (r *vmResource[M, PM]) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	reads.Add(1)
	var m M
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	imported := isImport(ctx, req.Private)
	if imported {
		PM(&m).core().importDefaults()
	}
	if !r.read(ctx, &m, imported, nil, &resp.Diagnostics) {
		resp.State.RemoveResource(ctx)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	if imported {
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, importKey, nil)...)
	}
}

func (r *vmResource[M, PM]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state M
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c, prior := PM(&plan).core(), PM(&state).core()
	r.beginApply(&plan)
	defer r.recordOutcome(&plan, &resp.Diagnostics)
	ctx, cancel, ok := withTimeout(ctx, c.Timeouts.Update, defaultUpdateTimeout, &resp.Diagnostics)
	defer cancel()
	var conn *guest.Conn
	// vSphere changes the hardware of a VM that is on or off, not of a suspended one: resume
	// that first. One found off is resized before it is powered on, without a power cycle.
	resumeFirst := prior.PowerState.ValueString() == powerSuspended
	ok = ok && r.vm.checkSSH(c, &resp.Diagnostics)
	if ok && resumeFirst {
		r.vm.powerOnAgain(ctx, c, prior, &resp.Diagnostics)
	}
	if ok && !resp.Diagnostics.HasError() {
		r.vm.resizeVM(ctx, c, prior, r.role.extraDisks(&plan), &resp.Diagnostics)
	}
	if ok && !resumeFirst && !resp.Diagnostics.HasError() {
		r.vm.powerOnAgain(ctx, c, prior, &resp.Diagnostics)
	}
	if !resp.Diagnostics.HasError() {
		conn = r.configure(ctx, &plan, &state, &resp.Diagnostics)
	}
	if conn != nil {
		defer conn.Close()
	}
	// Terraform records the planned values when an update fails unless the provider says
	// otherwise, and the next plan would no longer show what did not happen. So after a
	// failure the read-back starts from the prior state, not the plan: what the read reaches
	// (vSphere's sizing, the guest wherever the failure left it) is recorded as it really is,
	// and everything else keeps its old value, which the next plan shows as still to do.
	result := &plan
	if resp.Diagnostics.HasError() {
		result = &state
	}
	rctx, rcancel := afterwards(ctx)
	defer rcancel()
	r.readBack(rctx, result, conn, false, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, result)...)
	nullUnknowns(&resp.State)
}

func (r *vmResource[M, PM]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m M
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := PM(&m).core()
	ctx, cancel, ok := withTimeout(ctx, c.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	if rec, ok := r.role.(destroyRecorder[M]); ok {
		end := rec.beginDestroy(&m)
		defer func() { end(!resp.Diagnostics.HasError()) }()
	}
	r.vm.deleteVM(ctx, c, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		// A failure recorded for its address must not fail a later wait there.
		if rec, ok := r.role.(outcomeRecorder[M]); ok {
			rec.forget(&m)
		}
	}
}

func (r *vmResource[M, PM]) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importVM(ctx, r.vm, req, resp)
}
