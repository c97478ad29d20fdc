package resources

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

var (
	_ resource.ResourceWithConfigure      = (*nodeResource)(nil)
	_ resource.ResourceWithImportState    = (*nodeResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*nodeResource)(nil)
	_ resource.ResourceWithValidateConfig = (*nodeResource)(nil)
)

// NewNodeResource is hipchatdc_node: the Hipchat application node, imported from the Hipchat OVA.
func NewNodeResource() resource.Resource { return &nodeResource{} }

type nodeResource struct{ vm vmOps }

type nodeModel struct {
	vmCore
}

func (r *nodeResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_node"
}

func (r *nodeResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs, blocks := vmCoreSchema(ctx, spec.RoleNode)
	resp.Schema = schema.Schema{
		MarkdownDescription: "The Hipchat Data Center node: a VM imported from the Hipchat OVA (or cloned), sized to the small-scale guide " +
			"(at least 8 vCPU, 16 GB RAM, 40 GB disk), with its static IPv4 address, host name, NTP servers and UTC timezone pushed over SSH " +
			"the way the guide does by hand (`/etc/network/interfaces`, `dont-blame-hipchat -c \"hostnamectl set-hostname ...\"`, `hipchat service --ntp-servers`).",
		Attributes: attrs,
		Blocks:     blocks,
	}
}

func (r *nodeResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.vm.data = configureData(req, &resp.Diagnostics)
}

func (r *nodeResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m nodeModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m.validate(ctx, spec.RoleNode, "", &resp.Diagnostics)
}

func (r *nodeResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan nodeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	var state *nodeModel
	if !req.State.Raw.IsNull() {
		state = &nodeModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	var stateCore *vmCore
	if state != nil {
		stateCore = &state.vmCore
	}
	plan.modifyPlan(spec.RoleNode, stateCore, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *nodeResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan nodeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()

	plan.ID = stringValue(r.vm.createVM(ctx, &plan.vmCore, spec.RoleNode, nil, &resp.Diagnostics))
	if resp.Diagnostics.HasError() {
		return
	}
	// From here on the VM exists: record it even if configuring the guest fails, so that it is
	// neither lost nor duplicated by the next apply.
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), plan.ID)...)
	r.apply(ctx, &plan, nil, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		r.read(ctx, &plan, false, &resp.Diagnostics)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply configures the guest: its network identity, the appliance's way.
func (r *nodeResource) apply(ctx context.Context, plan, state *nodeModel, diags *diag.Diagnostics) {
	var prior *vmCore
	if state != nil {
		prior = &state.vmCore
	}
	conn := r.vm.configureGuest(ctx, &plan.vmCore, prior, identity.Appliance, diags)
	if conn != nil {
		conn.Close()
	}
}

func (r *nodeResource) read(ctx context.Context, m *nodeModel, imported bool, diags *diag.Diagnostics) bool {
	info, found := r.vm.readVM(ctx, &m.vmCore, spec.RoleNode, diags)
	if !found || info == nil {
		return found
	}
	if conn := r.vm.readGuest(ctx, &m.vmCore, info.GuestIP, identity.Appliance, imported, diags); conn != nil {
		conn.Close()
	}
	return true
}

func (r *nodeResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m nodeModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	imported := isImport(ctx, req.Private)
	if imported {
		m.importDefaults()
	}
	if !r.read(ctx, &m, imported, &resp.Diagnostics) {
		resp.State.RemoveResource(ctx)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	if imported {
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, importKey, nil)...)
	}
}

func (r *nodeResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state nodeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Update, defaultUpdateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	r.vm.resizeVM(ctx, &plan.vmCore, spec.RoleNode, nil, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.apply(ctx, &plan, &state, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.read(ctx, &plan, false, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *nodeResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m nodeModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, m.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	r.vm.deleteVM(ctx, &m.vmCore, &resp.Diagnostics)
}

func (r *nodeResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importVM(ctx, r.vm, req, resp)
}
