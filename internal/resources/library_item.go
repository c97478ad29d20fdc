package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

var (
	_ resource.Resource                = (*libraryItemResource)(nil)
	_ resource.ResourceWithConfigure   = (*libraryItemResource)(nil)
	_ resource.ResourceWithImportState = (*libraryItemResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*libraryItemResource)(nil)
)

// NewLibraryItemResource is hipchatdc_library_item: an OVA stored once in a vSphere content
// library, from which the VM resources deploy (their library_item) without reading the OVA
// again.
func NewLibraryItemResource() resource.Resource { return &libraryItemResource{} }

type libraryItemResource struct{ vm vmOps }

type libraryItemModel struct {
	ID         types.String   `tfsdk:"id"`
	Library    types.String   `tfsdk:"library"`
	LibraryID  types.String   `tfsdk:"library_id"`
	Name       types.String   `tfsdk:"name"`
	Datacenter types.String   `tfsdk:"datacenter"`
	Datastore  types.String   `tfsdk:"datastore"`
	OVAPath    types.String   `tfsdk:"ova_path"`
	OVAURL     types.String   `tfsdk:"ova_url"`
	OVACAFile  types.String   `tfsdk:"ova_ca_file"`
	Size       types.Int64    `tfsdk:"size"`
	Files      types.List     `tfsdk:"files"`
	Timeouts   timeouts.Value `tfsdk:"timeouts"`
}

func (r *libraryItemResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_library_item"
}

func (r *libraryItemResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = libraryItemSchema(ctx)
}

func libraryItemSchema(ctx context.Context) schema.Schema {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	// An imported item has no recorded source nor placement (vCenter does not keep them): adding
	// them to the configuration afterwards must not upload the item again, nor replace the VMs
	// deployed from it.
	importedReplace := []planmodifier.String{stringplanmodifier.RequiresReplaceIf(func(_ context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = !req.StateValue.IsNull()
	}, "Changing it replaces the item.", "Changing it replaces the item.")}
	// The library, as a name or as an ID: the state holds the name after an import.
	libraryReplace := []planmodifier.String{stringplanmodifier.RequiresReplaceIf(func(ctx context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
		var id types.String
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("library_id"), &id)...)
		resp.RequiresReplace = req.PlanValue.ValueString() != id.ValueString()
	}, "Changing it replaces the item.", "Changing it replaces the item.")}
	sources := path.Expressions{path.MatchRoot("ova_path"), path.MatchRoot("ova_url")}
	return schema.Schema{
		MarkdownDescription: "An OVA stored once in a vSphere content library, so that several VMs deploy from one upload: " +
			"`hipchatdc_node`, `hipchatdc_datastore_node` and `hipchatdc_reverse_proxy` take its `id` as `library_item`, and vCenter copies the item's files to each VM inside vSphere. " +
			"Three Hipchat nodes of an Enterprise-scale deployment then read the OVA once, not three times. " +
			"From `ova_path` the provider uploads the OVA, checked against its manifest and signature as an import is; from `ova_url` vCenter downloads it itself and no byte passes through the machine running Terraform.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The library item's ID (a UUID), what the VM resources' `library_item` takes.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"library": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "Name or ID of the content library. A local library of that name is used as it is; when there is none, the provider creates a local library on `datastore` " +
					"and deletes it again with its last item. A subscribed library is refused (it takes only its publisher's items). Changing it replaces the item.",
				PlanModifiers: libraryReplace,
				Validators:    []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"library_id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The content library's ID.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The item's name in the library. An item of that name already in the library is refused, not overwritten (VMs may be deployed from it): " +
					"choose another name or `terraform import` it. Changing it replaces the item.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.LengthBetween(1, 80)},
			},
			"datacenter": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Datacenter where `datastore` is looked up. Default: the only datacenter.",
				PlanModifiers:       importedReplace,
			},
			"datastore": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Datastore of a library the provider creates. Default: the only datastore. It must have room for the OVA (its size) before the upload starts. " +
					"For an existing library it must be the library's own datastore, or unset.",
				PlanModifiers: importedReplace,
			},
			"ova_path": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Local path of the OVA to upload, read once. Its manifest (and signature, see `ova_ca_file`) is checked as for an import; a mismatch leaves no item. " +
					"Exactly one of `ova_path`, `ova_url`. Changing it replaces the item.",
				PlanModifiers: importedReplace,
				Validators:    []validator.String{stringvalidator.ExactlyOneOf(sources...)},
			},
			"ova_url": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "http(s) URL of the OVA for vCenter to download itself (a content library pull): nothing passes through the machine running Terraform, and vCenter, " +
					"which must reach the URL, checks the OVA as its own OVA import does. Changing it replaces the item.",
				PlanModifiers: importedReplace,
				Validators:    []validator.String{ovaURLScheme{}},
			},
			"ova_ca_file": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "PEM file of the CAs a signed OVA's certificate must chain to, as for the VM resources; used with `ova_path`.",
				Validators:          []validator.String{ovaCAFile{}, stringvalidator.ConflictsWith(path.MatchRoot("ova_url"))},
			},
			"size": schema.Int64Attribute{
				Computed:            true,
				MarkdownDescription: "Bytes the item's files take in the library.",
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"files": schema.ListAttribute{
				Computed:            true,
				ElementType:         types.StringType,
				MarkdownDescription: "The item's files (the OVF descriptor and its disks).",
				PlanModifiers:       []planmodifier.List{listplanmodifier.UseStateForUnknown()},
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		},
	}
}

func (r *libraryItemResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.vm.data = configureData(req, &resp.Diagnostics)
}

// ModifyPlan refuses a new item on a standalone ESXi host, which has no content library, when
// the provider is connected at plan time; the apply checks it again before anything is made.
func (r *libraryItemResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() {
		return // destroy, or an item that exists
	}
	if r.vm.data == nil || !r.vm.data.Connected || r.vm.data.VSphere == nil {
		return
	}
	vc, err := r.vm.data.VSphere(ctx)
	if err != nil {
		return
	}
	var ee *vsphere.EndpointError
	if errors.As(vc.CheckContentLibrary("library"), &ee) {
		var lib types.String
		resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("library"), &lib)...)
		resp.Diagnostics.AddAttributeError(path.Root("library"), "No content library on a standalone ESXi host", fmt.Sprintf("library = %q: %v. Nothing was created.", lib.ValueString(), ee.Err))
	}
}

func (r *libraryItemResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m libraryItemModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, m.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	vc := r.vm.client(ctx, &resp.Diagnostics)
	if vc == nil {
		return
	}
	attr, src := "ova_path", m.OVAPath.ValueString()
	if known(m.OVAURL) {
		attr, src = "ova_url", m.OVAURL.ValueString()
	}
	item, err := vc.CreateLibraryItem(ctx, vsphere.LibraryItemSpec{
		Library: m.Library.ValueString(), Datacenter: m.Datacenter.ValueString(), Datastore: m.Datastore.ValueString(),
		Name: m.Name.ValueString(), Source: src, CAFile: m.OVACAFile.ValueString(),
		Warn: func(msg string) { resp.Diagnostics.AddAttributeWarning(path.Root(attr), "OVA not fully verified", msg) },
	})
	var le *vsphere.LibraryError
	var pe *vsphere.PreflightError
	var ee *vsphere.EndpointError
	switch {
	case errors.As(err, &ee):
		resp.Diagnostics.AddAttributeError(path.Root(ee.Field), "No content library on a standalone ESXi host", fmt.Sprintf("library = %q: %v. Nothing was created.", m.Library.ValueString(), ee.Err))
		return
	case errors.As(err, &le):
		resp.Diagnostics.AddAttributeError(path.Root(le.Field), "Cannot use the content library", fmt.Sprintf("%s = %q: %v. Nothing was created or uploaded.", le.Field, fieldValue(m, le.Field), le.Err))
		return
	case errors.As(err, &pe):
		resp.Diagnostics.AddAttributeError(path.Root("datastore"), "Not enough space on the content library's datastore", fmt.Sprintf("library = %q: %v. Nothing was created or uploaded.", m.Library.ValueString(), pe.Err))
		return
	case err != nil:
		addVSphereError(&resp.Diagnostics, attr, "Cannot store the OVA in the content library", err)
		if item != nil {
			// The item is there and could not be removed: recorded (tainted), the next apply
			// deletes it and uploads again instead of refusing its name.
			m.fill(ctx, item)
			resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
		}
		return
	}
	m.fill(ctx, item)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// fieldValue is the configured value of a library item attribute that an error names.
func fieldValue(m libraryItemModel, field string) string {
	switch field {
	case "library":
		return m.Library.ValueString()
	case "datastore":
		return m.Datastore.ValueString()
	}
	return m.Name.ValueString()
}

func (m *libraryItemModel) fill(ctx context.Context, item *vsphere.LibraryItem) {
	m.ID = types.StringValue(item.ID)
	m.LibraryID = types.StringValue(item.LibraryID)
	m.Name = types.StringValue(item.Name)
	if !known(m.Library) || (m.Library.ValueString() != item.LibraryName && m.Library.ValueString() != item.LibraryID) {
		m.Library = types.StringValue(item.LibraryName)
	}
	m.Size = types.Int64Value(item.Size)
	files, _ := types.ListValueFrom(ctx, types.StringType, item.Files)
	m.Files = files
}

func (r *libraryItemResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m libraryItemModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	vc := r.vm.client(ctx, &resp.Diagnostics)
	if vc == nil {
		return
	}
	item, err := vc.ReadLibraryItem(ctx, m.ID.ValueString())
	if errors.Is(err, vsphere.ErrLibraryItemNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the content library item", err.Error())
		return
	}
	m.fill(ctx, item)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Update only takes ova_ca_file and timeouts: every other attribute replaces the item.
func (r *libraryItemResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state libraryItemModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ID, plan.LibraryID, plan.Size, plan.Files = state.ID, state.LibraryID, state.Size, state.Files
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *libraryItemResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m libraryItemModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, m.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	vc := r.vm.client(ctx, &resp.Diagnostics)
	if vc == nil {
		return
	}
	if err := vc.DeleteLibraryItem(ctx, m.ID.ValueString()); err != nil {
		resp.Diagnostics.AddError("Cannot delete the content library item",
			fmt.Sprintf("library item %q (%s) in %q: %v. vCenter refuses while a deploy from it is running: apply again once it has finished.", m.Name.ValueString(), m.ID.ValueString(), m.Library.ValueString(), err))
	}
}

// ImportState takes the item's ID or "library/item"; Read fills the rest.
func (r *libraryItemResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	vc := r.vm.client(ctx, &resp.Diagnostics)
	if vc == nil {
		return
	}
	id, err := vc.FindLibraryItem(ctx, req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Cannot import the content library item", fmt.Sprintf("%v. Give the item's ID or library/item (names).", err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
}
