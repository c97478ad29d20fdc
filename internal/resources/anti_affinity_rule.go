package resources

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

var (
	_ resource.ResourceWithConfigure      = (*antiAffinityRule)(nil)
	_ resource.ResourceWithValidateConfig = (*antiAffinityRule)(nil)
	_ resource.ResourceWithModifyPlan     = (*antiAffinityRule)(nil)
	_ resource.ResourceWithImportState    = (*antiAffinityRule)(nil)
)

// NewAntiAffinityRuleResource is hipchatdc_anti_affinity_rule: the guide's "one VMWare host for
// the Hipchat node, another VMWare host for all three data stores", as a DRS VM-VM
// anti-affinity rule (named like the vsphere provider's
// vsphere_compute_cluster_vm_anti_affinity_rule) plus a check of where the VMs really run.
func NewAntiAffinityRuleResource() resource.Resource { return &antiAffinityRule{} }

type antiAffinityRule struct{ vm vmOps }

type antiAffinityRuleModel struct {
	ID                types.String `tfsdk:"id"`
	Name              types.String `tfsdk:"name"`
	Datacenter        types.String `tfsdk:"datacenter"`
	ComputeClusterID  types.String `tfsdk:"compute_cluster_id"`
	VirtualMachineIDs types.List   `tfsdk:"virtual_machine_ids"`
	Enforce           types.Bool   `tfsdk:"enforce"`
	DRSEnabled        types.Bool   `tfsdk:"drs_enabled"`
	Hosts             types.Map    `tfsdk:"hosts"`
	Drift             types.List   `tfsdk:"drift"`
}

func (m *antiAffinityRuleModel) vms(ctx context.Context, diags *diag.Diagnostics) []string {
	var ids []string
	diags.Append(m.VirtualMachineIDs.ElementsAs(ctx, &ids, false)...)
	return ids
}

// clusterMoid is the cluster part of the ID, "<cluster moid>:<rule name>".
func (m *antiAffinityRuleModel) clusterMoid() string {
	moid, _, _ := strings.Cut(m.ID.ValueString(), ":")
	return moid
}

func (r *antiAffinityRule) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_anti_affinity_rule"
}

func (r *antiAffinityRule) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Keeps VMs on different ESXi hosts: the small-scale guide's \"one VMWare host for the Hipchat node, another VMWare host for all three data stores\". " +
			"In a cluster with DRS it is a DRS VM-VM anti-affinity rule (as the vsphere provider's `vsphere_compute_cluster_vm_anti_affinity_rule`); " +
			"in every cluster the apply and each refresh also compare the hosts the VMs really run on (`runtime.host`). " +
			"See the guide below for what happens when they share a host.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "`<cluster managed object ID>:<name>`. `terraform import` takes `<cluster>:<name>`, the cluster by managed object ID, inventory path or name: write it as `compute_cluster_id` has it in the configuration.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name of the DRS rule, unique in the cluster. Changing it replaces the rule.",
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 80)},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"datacenter": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Datacenter of the cluster (name, inventory path or managed object ID), for a cluster given by name. Default: the only datacenter. " +
					"Changing it replaces the rule, unless the cluster stays the same one (as after `terraform import`, which records no datacenter).",
			},
			"compute_cluster_id": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The cluster the VMs run in, by name, inventory path or managed object ID (the VM resources' `cluster`). " +
					"With DRS off no rule can be made there: the plan warns, and the host comparison alone keeps the VMs apart. " +
					"Not on a standalone ESXi host, which has no clusters (see `modules/small-scale-standalone-esxi`). " +
					"Moving to another cluster replaces the rule; another way of writing the same cluster (name, inventory path, managed object ID) only updates the state.",
			},
			"virtual_machine_ids": schema.ListAttribute{
				ElementType: types.StringType, Required: true,
				MarkdownDescription: "Managed object IDs of the VMs to keep apart (the VM resources' `id`), at least two. " +
					"When two share a host in a DRS cluster, the first keeps its host and the apply moves the others.",
				Validators: []validator.List{listvalidator.SizeAtLeast(2), listvalidator.UniqueValues()},
			},
			"enforce": schema.BoolAttribute{
				Optional: true, Computed: true,
				Default: booldefault.StaticBool(true),
				MarkdownDescription: "Default `true`: VMs that share a host fail the apply (after the provider has moved them apart where DRS allows it) and show as `drift`. " +
					"`false` accepts them on one host with a warning at each plan and apply, and moves nothing; the DRS rule is still made. For an evaluation install on one host.",
			},
			"drs_enabled": schema.BoolAttribute{
				Computed:            true,
				MarkdownDescription: "Whether DRS runs in the cluster, read from its `configurationEx`: only then is the rule made.",
				PlanModifiers:       []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
			},
			"hosts": schema.MapAttribute{
				ElementType: types.StringType, Computed: true,
				MarkdownDescription: "The ESXi host each VM runs on, by VM ID, read from `runtime.host` at the last refresh.",
			},
			"drift": schema.ListAttribute{
				ElementType: types.StringType, Optional: true, Computed: true,
				Default: listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
				MarkdownDescription: "What refresh found different from the configuration: the DRS rule deleted, disabled or changed in vSphere, " +
					"or (with `enforce`) VMs moved onto one host. Always planned back to empty: the next apply makes the rule again and moves the VMs apart, or fails saying why. Leave unset.",
				Validators: []validator.List{listvalidator.SizeAtMost(0)},
			},
		},
	}
}

func (r *antiAffinityRule) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.vm.data = configureData(req, &resp.Diagnostics)
}

func (r *antiAffinityRule) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m antiAffinityRuleModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || !known(m.Name) {
		return
	}
	if strings.TrimSpace(m.Name.ValueString()) != m.Name.ValueString() {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Invalid name",
			fmt.Sprintf("name = %q: a DRS rule name without leading or trailing spaces, as vSphere shows it.", m.Name.ValueString()))
	}
}

// ModifyPlan checks, when the plan changes something and vSphere can be asked without
// connecting, the cluster (does it exist, does DRS run there) and where VMs that already exist
// run; with enforce off it warns at every plan while the refreshed VMs share a host.
func (r *antiAffinityRule) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan antiAffinityRuleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !req.State.Raw.IsNull() && known(plan.Enforce) && !plan.Enforce.ValueBool() {
		var state antiAffinityRuleModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		hosts := map[string]string{}
		if !resp.Diagnostics.HasError() && known(state.Hosts) {
			resp.Diagnostics.Append(state.Hosts.ElementsAs(ctx, &hosts, false)...)
			var places []vsphere.VMPlace
			for _, id := range state.vms(ctx, &resp.Diagnostics) {
				places = append(places, vsphere.VMPlace{Moid: id, Name: id, Found: hosts[id] != "", Host: hosts[id], HostName: hosts[id]})
			}
			reportShared(places, false, &resp.Diagnostics)
		}
	}
	if !req.State.Raw.IsNull() && req.Plan.Raw.Equal(req.State.Raw) {
		return
	}
	var c *vsphere.Client
	if d := r.vm.data; d != nil && d.Connected && d.VSphere != nil {
		c, _ = d.VSphere(ctx) // nil on failure: the apply reports it
	}
	if c != nil && c.IsESXi() {
		// Whatever the cluster's value, known or not: an ESXi host has none.
		_, err := c.FindCluster(ctx, "", plan.ComputeClusterID.ValueString(), "compute_cluster_id")
		clusterError(&resp.Diagnostics, err)
		return
	}
	var moid string
	if c != nil && known(plan.ComputeClusterID) && !plan.Datacenter.IsUnknown() {
		var err error
		if moid, err = c.FindCluster(ctx, plan.Datacenter.ValueString(), plan.ComputeClusterID.ValueString(), "compute_cluster_id"); err != nil {
			clusterError(&resp.Diagnostics, err)
			return
		}
	}
	if !req.State.Raw.IsNull() {
		var state antiAffinityRuleModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() {
			return
		}
		// The rule moves to another cluster only by being made again there. Another way of
		// writing the same cluster (an import records it as its ID gave it, and no
		// datacenter) changes only the state.
		if moid == "" || moid != state.clusterMoid() {
			for _, a := range []struct {
				name        string
				plan, state types.String
			}{{"datacenter", plan.Datacenter, state.Datacenter}, {"compute_cluster_id", plan.ComputeClusterID, state.ComputeClusterID}} {
				if !a.plan.Equal(a.state) {
					resp.RequiresReplace = append(resp.RequiresReplace, path.Root(a.name))
				}
			}
		}
	}
	if moid == "" {
		return
	}
	cl, err := c.ReadCluster(ctx, moid, plan.Name.ValueString())
	if err != nil {
		return // the apply reports it
	}
	if req.State.Raw.IsNull() && cl.Rule != nil {
		ruleExists(&plan, cl, &resp.Diagnostics)
		return
	}
	if !cl.DRS {
		warnNoDRS(plan.ComputeClusterID.ValueString(), &resp.Diagnostics)
	}
	// VMs created by the same apply have no ID yet: the apply checks them.
	var elems []types.String
	if !known(plan.VirtualMachineIDs) || plan.VirtualMachineIDs.ElementsAs(ctx, &elems, false).HasError() ||
		slices.ContainsFunc(elems, func(e types.String) bool { return !known(e) }) {
		return
	}
	ids := plan.vms(ctx, &resp.Diagnostics)
	places, err := c.VMHosts(ctx, ids)
	if err != nil {
		return
	}
	if plan.Enforce.ValueBool() && cl.DRS {
		for _, g := range vsphere.SharedHosts(places) {
			resp.Diagnostics.AddAttributeWarning(path.Root("virtual_machine_ids"), "VMs share an ESXi host: the apply moves them apart",
				fmt.Sprintf("%s: %s. The apply makes the DRS rule and moves %s to another host of cluster %q (vMotion), as DRS would on its next pass.",
					describeShared(g), spec.SeparateHosts, vmList(g[1:]), cl.Name))
		}
		return
	}
	reportShared(places, plan.Enforce.ValueBool(), &resp.Diagnostics)
}

// clusterError reports a cluster that FindCluster could not resolve: on a standalone ESXi host,
// or not found.
func clusterError(diags *diag.Diagnostics, err error) {
	var ee *vsphere.EndpointError
	if errors.As(err, &ee) {
		diags.AddAttributeError(path.Root(ee.Field), "Placement does not fit the vSphere endpoint", ee.Error()+". Nothing was created.")
		return
	}
	addVSphereError(diags, "compute_cluster_id", "Cluster not found", err)
}

// ruleExists refuses to create a rule whose name the cluster has already, with DRS on or off:
// Delete removes the rule of that name, which must be one this resource made.
func ruleExists(m *antiAffinityRuleModel, cl *vsphere.Cluster, diags *diag.Diagnostics) {
	diags.AddAttributeError(path.Root("name"), "Rule exists already",
		fmt.Sprintf("name = %q: cluster %q has a rule of this name already (made outside this configuration). Choose another name, or take it over with "+
			"`terraform import <address> %s:%s`.", m.Name.ValueString(), cl.Name, m.ComputeClusterID.ValueString(), m.Name.ValueString()))
}

// warnNoDRS: the chosen behaviour for a cluster without DRS, where no VM-VM rule can exist.
func warnNoDRS(cluster string, diags *diag.Diagnostics) {
	diags.AddAttributeWarning(path.Root("compute_cluster_id"), "DRS is off: no anti-affinity rule is made",
		fmt.Sprintf("compute_cluster_id = %q: DRS is not enabled in this cluster, so vSphere cannot keep a VM-VM anti-affinity rule there. "+
			"The provider falls back to comparing the hosts the VMs run on, at every apply and refresh (a VM moved onto the other's host shows as drift), and moves nothing. "+
			"Enable DRS in the cluster for vSphere itself to keep the VMs apart.", cluster))
}

func describeShared(g []vsphere.VMPlace) string {
	return fmt.Sprintf("%s all run on ESXi host %q", vmList(g), g[0].HostName)
}

func vmList(g []vsphere.VMPlace) string {
	var names []string
	for _, p := range g {
		if p.Name == p.Moid { // known only by ID (a plan that reads the state's hosts)
			names = append(names, "VM "+p.Moid)
			continue
		}
		names = append(names, fmt.Sprintf("VM %q (%s)", p.Name, p.Moid))
	}
	if len(names) == 2 {
		return names[0] + " and " + names[1]
	}
	return strings.Join(names, ", ")
}

// reportShared adds an error (enforce) or a warning for each host that runs more than one of
// the VMs, naming the VMs and the host.
func reportShared(places []vsphere.VMPlace, enforce bool, diags *diag.Diagnostics) {
	for _, g := range vsphere.SharedHosts(places) {
		msg := describeShared(g) + "; " + spec.SeparateHosts + "."
		if enforce {
			diags.AddAttributeError(path.Root("virtual_machine_ids"), "VMs share an ESXi host",
				msg+" Move one of them to another host (vMotion, or `host` on its resource), enable DRS in the cluster for the provider to move it, "+
					"or set enforce = false to accept this with a warning (evaluation installs).")
		} else {
			diags.AddAttributeWarning(path.Root("enforce"), "VMs share an ESXi host", msg+" Accepted because enforce = false.")
		}
	}
}

func (r *antiAffinityRule) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan antiAffinityRuleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := r.vm.client(ctx, &resp.Diagnostics)
	if c == nil {
		return
	}
	moid, err := c.FindCluster(ctx, plan.Datacenter.ValueString(), plan.ComputeClusterID.ValueString(), "compute_cluster_id")
	if err != nil {
		clusterError(&resp.Diagnostics, err)
		return
	}
	cl, err := c.ReadCluster(ctx, moid, plan.Name.ValueString())
	if err != nil {
		addVSphereError(&resp.Diagnostics, "compute_cluster_id", "Cannot read the cluster", err)
		return
	}
	if cl.Rule != nil {
		ruleExists(&plan, cl, &resp.Diagnostics)
		return
	}
	plan.ID = types.StringValue(moid + ":" + plan.Name.ValueString())
	r.apply(ctx, c, &plan, cl, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	nullUnknowns(&resp.State)
}

func (r *antiAffinityRule) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan antiAffinityRuleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := r.vm.client(ctx, &resp.Diagnostics)
	if c == nil {
		return
	}
	cl, err := c.ReadCluster(ctx, plan.clusterMoid(), plan.Name.ValueString())
	if err != nil {
		addVSphereError(&resp.Diagnostics, "compute_cluster_id", "Cannot read the cluster", err)
		return
	}
	r.apply(ctx, c, &plan, cl, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	nullUnknowns(&resp.State)
}

// apply makes the rule what the plan says (in a DRS cluster), moves VMs that share a host apart
// where DRS allows it, and reads everything back: what still differs is an error (a warning for
// shared hosts with enforce off).
func (r *antiAffinityRule) apply(ctx context.Context, c *vsphere.Client, m *antiAffinityRuleModel, cl *vsphere.Cluster, diags *diag.Diagnostics) {
	ids := m.vms(ctx, diags)
	if diags.HasError() {
		return
	}
	enforce := m.Enforce.ValueBool()
	want := vsphere.AntiAffinityRule{Name: m.Name.ValueString(), Enabled: true, VMs: ids}
	places, err := c.VMHosts(ctx, ids)
	if err != nil {
		diags.AddError("Cannot read the VMs' hosts", err.Error())
		return
	}
	for i, p := range places {
		if !p.Found {
			diags.AddAttributeError(path.Root("virtual_machine_ids").AtListIndex(i), "VM not found",
				fmt.Sprintf("virtual_machine_ids[%d] = %q: no VM has this managed object ID; give the VM resources' `id`.", i, p.Moid))
		}
	}
	if diags.HasError() {
		return
	}
	if !cl.DRS {
		warnNoDRS(m.ComputeClusterID.ValueString(), diags)
	} else {
		if cl.Rule == nil || !sameRule(cl.Rule, &want) {
			if err := c.SetAntiAffinityRule(ctx, cl.Moid, want, cl.Rule); err != nil {
				diags.AddAttributeError(path.Root("name"), "Cannot make the DRS rule",
					fmt.Sprintf("name = %q in cluster %q: %v", want.Name, cl.Name, err))
				return
			}
		}
		if enforce {
			separate(ctx, c, cl, want.Name, places, diags)
		}
	}
	if diags.HasError() {
		return
	}
	if cl, err = c.ReadCluster(ctx, cl.Moid, want.Name); err != nil {
		addVSphereError(diags, "compute_cluster_id", "Cannot read the cluster", err)
		return
	}
	drift, places := r.read(ctx, c, cl, m, diags)
	if diags.HasError() {
		return
	}
	reportShared(places, enforce, diags)
	if len(drift) > 0 && !diags.HasError() {
		diags.AddAttributeError(path.Root("drift"), "The rule still differs from the configuration after the apply",
			"Read back after the apply: "+strings.Join(drift, "; ")+". The state records this, and the next apply tries again.")
	}
}

// separate moves every VM that shares a host with an earlier one of the list to a usable host
// of the cluster that runs none of them, which is what DRS does for a violated VM-VM rule on its
// next pass: the apply does it at once, so that it ends with the VMs apart or says why not.
func separate(ctx context.Context, c *vsphere.Client, cl *vsphere.Cluster, rule string, places []vsphere.VMPlace, diags *diag.Diagnostics) {
	used := map[string]bool{}
	for _, p := range places {
		used[p.Host] = true
	}
	for _, g := range vsphere.SharedHosts(places) {
		for _, p := range g[1:] {
			i := slices.IndexFunc(cl.Hosts, func(h vsphere.Host) bool { return h.Usable && !used[h.Moid] })
			if i < 0 {
				diags.AddAttributeError(path.Root("compute_cluster_id"), "No free host in the cluster",
					fmt.Sprintf("%s; %s, and cluster %q has no other usable host (connected, not in maintenance mode) that runs none of the rule's VMs. "+
						"Add a host to the cluster, or set enforce = false to accept this with a warning (evaluation installs).", describeShared(g), spec.SeparateHosts, cl.Name))
				return
			}
			to := cl.Hosts[i]
			if err := c.MoveVM(ctx, p.Moid, to.Moid); err != nil {
				diags.AddAttributeError(path.Root("virtual_machine_ids"), "Cannot move the VM to another host",
					fmt.Sprintf("%s; moving VM %q to host %q failed: %v", describeShared(g), p.Name, to.Name, err))
				return
			}
			used[to.Moid] = true
			diags.AddAttributeWarning(path.Root("virtual_machine_ids"), "VM moved to another ESXi host",
				fmt.Sprintf("VM %q (%s) ran on ESXi host %q with VM %q; the provider moved it to host %q (vMotion) to honour rule %q (%s).",
					p.Name, p.Moid, p.HostName, g[0].Name, to.Name, rule, spec.SeparateHosts))
		}
	}
}

// sameRule: the rule is enabled and lists the same VMs.
func sameRule(have, want *vsphere.AntiAffinityRule) bool {
	a, b := slices.Clone(have.VMs), slices.Clone(want.VMs)
	sort.Strings(a)
	sort.Strings(b)
	return have.Enabled == want.Enabled && slices.Equal(a, b)
}

// read refreshes drs_enabled, hosts and drift from the cluster cl (just read) and the VMs.
func (r *antiAffinityRule) read(ctx context.Context, c *vsphere.Client, cl *vsphere.Cluster, m *antiAffinityRuleModel, diags *diag.Diagnostics) (drift []string, places []vsphere.VMPlace) {
	m.DRSEnabled = types.BoolValue(cl.DRS)
	ids := m.vms(ctx, diags)
	name := m.Name.ValueString()
	if cl.DRS {
		switch {
		case cl.Rule == nil:
			drift = append(drift, fmt.Sprintf("DRS rule %q is missing from cluster %q (deleted outside Terraform)", name, cl.Name))
		case !cl.Rule.Enabled:
			drift = append(drift, fmt.Sprintf("DRS rule %q is disabled", name))
		case !sameRule(cl.Rule, &vsphere.AntiAffinityRule{Enabled: true, VMs: ids}):
			drift = append(drift, fmt.Sprintf("DRS rule %q lists VMs %s, not %s", name, strings.Join(cl.Rule.VMs, ", "), strings.Join(ids, ", ")))
		}
	}
	places, err := c.VMHosts(ctx, ids)
	if err != nil {
		diags.AddError("Cannot read the VMs' hosts", err.Error())
		return nil, nil
	}
	hosts := map[string]string{}
	for _, p := range places {
		if !p.Found {
			drift = append(drift, fmt.Sprintf("VM %s no longer exists", p.Moid))
			continue
		}
		hosts[p.Moid] = p.HostName
	}
	if m.Enforce.ValueBool() {
		for _, g := range vsphere.SharedHosts(places) {
			drift = append(drift, describeShared(g))
		}
	}
	hm, d := types.MapValueFrom(ctx, types.StringType, hosts)
	diags.Append(d...)
	m.Hosts = hm
	// Never null: the plan has [] and a null would be an inconsistent result.
	dl, d := types.ListValueFrom(ctx, types.StringType, append([]string{}, drift...))
	diags.Append(d...)
	m.Drift = dl
	return drift, places
}

func (r *antiAffinityRule) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m antiAffinityRuleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := r.vm.client(ctx, &resp.Diagnostics)
	if c == nil {
		return
	}
	cl, err := c.ReadCluster(ctx, m.clusterMoid(), m.Name.ValueString())
	if errors.Is(err, vsphere.ErrNotFound) {
		resp.State.RemoveResource(ctx) // the cluster is gone, and its rules with it
		return
	}
	if err != nil {
		addVSphereError(&resp.Diagnostics, "compute_cluster_id", "Cannot read the cluster", err)
		return
	}
	r.read(ctx, c, cl, &m, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *antiAffinityRule) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m antiAffinityRuleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := r.vm.client(ctx, &resp.Diagnostics)
	if c == nil {
		return
	}
	cl, err := c.ReadCluster(ctx, m.clusterMoid(), m.Name.ValueString())
	if errors.Is(err, vsphere.ErrNotFound) || (err == nil && cl.Rule == nil) {
		return // gone already
	}
	if err == nil {
		err = c.RemoveRule(ctx, cl.Moid, cl.Rule.Key)
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Cannot remove the DRS rule", fmt.Sprintf("name = %q: %v", m.Name.ValueString(), err))
	}
}

// ImportState takes "<cluster>:<rule name>", the cluster by managed object ID, inventory path
// or name (in the only datacenter), and reads the VMs from the rule. compute_cluster_id keeps
// the cluster as the ID gives it, so that the plan after importing is empty for a
// configuration that writes it the same way.
func (r *antiAffinityRule) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	cluster, name, ok := strings.Cut(req.ID, ":")
	if !ok || cluster == "" || name == "" {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("%q: give `<cluster>:<rule name>`, the cluster by managed object ID (domain-c7), inventory path or name.", req.ID))
		return
	}
	c := r.vm.client(ctx, &resp.Diagnostics)
	if c == nil {
		return
	}
	moid, err := c.FindCluster(ctx, "", cluster, "compute_cluster_id")
	if err != nil {
		resp.Diagnostics.AddError("Cluster not found", err.Error())
		return
	}
	cl, err := c.ReadCluster(ctx, moid, name)
	if err == nil && cl.Rule == nil {
		err = fmt.Errorf("cluster %q has no VM-VM anti-affinity rule called %q", cl.Name, name)
	}
	if err != nil {
		resp.Diagnostics.AddError("Rule not found", err.Error())
		return
	}
	vms, d := types.ListValueFrom(ctx, types.StringType, cl.Rule.VMs)
	resp.Diagnostics.Append(d...)
	m := antiAffinityRuleModel{
		ID: types.StringValue(moid + ":" + name), Name: types.StringValue(name), Datacenter: types.StringNull(),
		ComputeClusterID: types.StringValue(cluster), VirtualMachineIDs: vms, Enforce: types.BoolValue(true),
		DRSEnabled: types.BoolValue(cl.DRS), Hosts: types.MapNull(types.StringType), Drift: types.ListValueMust(types.StringType, nil),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
