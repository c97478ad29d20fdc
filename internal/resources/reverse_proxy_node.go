package resources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nginx"
)

var (
	_ resource.ResourceWithConfigure      = (*proxyNodeResource)(nil)
	_ resource.ResourceWithValidateConfig = (*proxyNodeResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*proxyNodeResource)(nil)
	_ resource.ResourceWithImportState    = (*proxyNodeResource)(nil)
)

// NewReverseProxyNodeResource is hipchatdc_reverse_proxy_node: one node in the reverse proxy's
// upstream, a resource of its own (as aws_lb_target_group_attachment is) so that a node
// replaced with create_before_destroy is added to the proxy before the old one is drained,
// taken out and destroyed.
func NewReverseProxyNodeResource() resource.Resource { return &proxyNodeResource{} }

type proxyNodeResource struct{ vm vmOps }

type proxyNodeModel struct {
	ID           types.String     `tfsdk:"id"`
	ProxyAddress types.String     `tfsdk:"proxy_address"`
	NodeAddress  types.String     `tfsdk:"node_address"`
	DrainTimeout types.Int64      `tfsdk:"drain_timeout"`
	File         types.String     `tfsdk:"file"`
	Drift        types.List       `tfsdk:"drift"`
	Connection   *ConnectionModel `tfsdk:"ssh"`
}

func (m *proxyNodeModel) member() nginx.Member {
	return nginx.Member{Node: m.NodeAddress.ValueString(), Drain: time.Duration(m.DrainTimeout.ValueInt64()) * time.Second}
}

// proxyNodeID is "<proxy_address>/<node host:port>".
func proxyNodeID(proxy, node string) string {
	if hp, err := nginx.NormalizeNode(node); err == nil {
		node = hp
	}
	return proxy + "/" + node
}

// userNode writes host:port as users write it: the default port left out.
func userNode(hp string) string {
	return strings.TrimSuffix(hp, ":"+strconv.Itoa(nginx.DefaultPort))
}

func (r *proxyNodeResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_reverse_proxy_node"
}

func (r *proxyNodeResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = proxyNodeSchema()
}

func proxyNodeSchema() schema.Schema {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	drain := int64(nginx.DefaultDrainTimeout / time.Second)
	return schema.Schema{
		MarkdownDescription: "One Hipchat node in the reverse proxy's upstream: a file of its own on the proxy (`" + nginx.MembersDir + "/<host>_<port>.conf`), " +
			"included by the upstream block of `hipchatdc_reverse_proxy`, so that a node can join and leave the proxy without the proxy resource changing. " +
			"Creating it checks from the proxy that the node answers HTTP, writes the file, runs `nginx -t` and reloads NGINX gracefully. " +
			"Destroying it removes the file and reloads: new requests, also those of sessions whose route cookie pointed at this node, go to the remaining nodes; " +
			"requests in flight finish, for at most `drain_timeout` seconds, before the destroy returns. " +
			"With `lifecycle { create_before_destroy = true }` on it and on the node, replacing the node (a new OVA release) adds the new node before the old one is drained and destroyed: see the guide \"Upgrade the Hipchat node\".",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "`<proxy_address>/<node host>:<port>`, the ID `terraform import` takes.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"proxy_address": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "Address of the reverse proxy VM to configure over SSH, usually `hipchatdc_reverse_proxy.<name>.ipv4_address`. " +
					"Its site must come from `hipchatdc_reverse_proxy` of this provider version (the upstream block includes the membership files). Changing it replaces the membership.",
				PlanModifiers: replace,
			},
			"node_address": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "Address of the Hipchat node, as the proxy reaches it: an IP address or host name, optionally with `:port` (port 80 by default), " +
					"usually `hipchatdc_node.<name>.ipv4_address`. While it is also in the proxy's `nodes` (the first step of moving it from there) it is accepted with a warning. Changing it replaces the membership (the new node is added before the old one is drained with `create_before_destroy`).",
				PlanModifiers: replace,
				Validators:    []validator.String{nodeAddressValidator{}},
			},
			"drain_timeout": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(drain),
				MarkdownDescription: fmt.Sprintf("Seconds that destroying the membership lets requests already sent to the node finish (default %d). "+
					"The destroy returns as soon as they have; NGINX workers still serving at the end are stopped and their clients reconnect, to a live node. "+
					"It is also NGINX's `worker_shutdown_timeout` on the proxy (the largest of its memberships'), which bounds every graceful reload. "+
					"WebSockets and long polls through the proxy last until this cut-off. Changing it rewrites the membership file and reloads NGINX gracefully.", drain),
				Validators: []validator.Int64{int64validator.Between(1, int64(nginx.MaxDrainTimeout/time.Second))},
			},
			"file": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The membership file on the proxy, which holds the node's `server` line.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"drift": schema.ListAttribute{
				ElementType: types.StringType, Optional: true, Computed: true,
				Default: listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
				MarkdownDescription: "What refresh found different on the proxy (for example the membership file removed or edited by hand, NGINX not running, or the proxy not reachable). " +
					"Always planned back to empty: the next apply writes the file again. Leave unset.",
				Validators: []validator.List{listvalidator.SizeAtMost(0)},
			},
		},
		Blocks: map[string]schema.Block{
			"ssh": schema.SingleNestedBlock{
				MarkdownDescription: "How to reach the proxy over SSH, as in `hipchatdc_reverse_proxy` (named like Terraform's `connection` block, which Terraform reserves for provisioners); " +
					"unset attributes come from the provider's `ssh` block. `host` defaults to `proxy_address`.",
				Attributes: connectionAttributes(),
			},
		},
	}
}

// nodeAddressValidator refuses, at plan time, a node_address NGINX could not use.
type nodeAddressValidator struct{}

func (nodeAddressValidator) Description(context.Context) string {
	return "an IP address or host name, optionally with :port"
}
func (v nodeAddressValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (nodeAddressValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if !known(req.ConfigValue) {
		return
	}
	if _, err := nginx.NormalizeNode(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid node_address",
			fmt.Sprintf("node_address = %q: %v. Give the node's IP address or host name as the proxy reaches it, optionally with :port (80 by default), "+
				"for example hipchatdc_node.app.ipv4_address.", req.ConfigValue.ValueString(), err))
	}
}

func (r *proxyNodeResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.vm.data = configureData(req, &resp.Diagnostics)
}

func (r *proxyNodeResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m proxyNodeModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if known(m.ProxyAddress) {
		v := m.ProxyAddress.ValueString()
		_, err := nginx.NormalizeNode(v)
		if _, _, perr := net.SplitHostPort(v); err == nil && perr == nil {
			err = errors.New("give it without a port: the proxy is reached over SSH, on ssh.port (22 by default)")
		}
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("proxy_address"), "Invalid proxy_address",
				fmt.Sprintf("proxy_address = %q: not an IP address or host name: %v. Use the proxy VM's address, for example hipchatdc_reverse_proxy.edge.ipv4_address.", v, err))
		}
	}
	ValidateHostKeySettings(m.Connection, path.Root("ssh"), resourceBlock, &resp.Diagnostics)
}

// ModifyPlan fills the ID and the file, which follow from the addresses.
func (r *proxyNodeResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan proxyNodeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if known(plan.NodeAddress) {
		plan.File = types.StringValue(nginx.MemberFile(plan.NodeAddress.ValueString()))
		if known(plan.ProxyAddress) {
			plan.ID = types.StringValue(proxyNodeID(plan.ProxyAddress.ValueString(), plan.NodeAddress.ValueString()))
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// dial connects to the proxy with the resource's ssh block over the provider's. A budget above
// zero caps the connect time: a refresh or a destroy must not wait minutes for a proxy that is
// gone.
func (r *proxyNodeResource) dial(ctx context.Context, m *proxyNodeModel, budget time.Duration) (*guest.Conn, string, error) {
	c := &vmCore{Connection: m.Connection}
	host := m.ProxyAddress.ValueString()
	if m.Connection != nil && known(m.Connection.Host) {
		host = m.Connection.Host.ValueString()
	}
	cfg, err := r.vm.guestConfig(c, host)
	if err != nil {
		return nil, host, err
	}
	if budget > 0 && (cfg.Timeout == 0 || cfg.Timeout > budget) {
		cfg.Timeout = budget
	}
	conn, err := guest.Dial(ctx, cfg)
	return conn, host, err
}

// sshError is err from dial in words, with how the host key was checked when that failed.
func (r *proxyNodeResource) sshError(m *proxyNodeModel, err error) string {
	return r.vm.sshError(&vmCore{Connection: m.Connection}, err)
}

// readBudget bounds the SSH connect of a refresh, an import and a destroy, as the VM
// resources' refresh does.
const readBudget = 30 * time.Second

func (r *proxyNodeResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan proxyNodeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ok, live := r.apply(ctx, &plan, &resp.Diagnostics)
	if !ok && !live {
		// Nothing was added (AddMember puts back what it changed when a step fails): the
		// membership does not go to the state, and the proxy serves as before.
		return
	}
	// Done, or failed after the file may have gone live (a reload that did not finish, a
	// cancelled apply, a read-back that differs): the state takes the membership, with the
	// error Terraform marks it tainted, and the next apply or destroy removes the file; no
	// file is left behind that no state knows.
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *proxyNodeResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state proxyNodeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if ok, live := r.apply(ctx, &plan, &resp.Diagnostics); !ok && !live {
		// As the VM resources do: after a failure the state keeps what was there, and the next
		// plan shows what is still to do.
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
		return
	}
	// Failed after the new file may have gone live: the state says so, and refresh reports
	// any difference as drift.
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply adds the node to the proxy and reads the membership back into m. ok is false when it
// failed; live then says that the proxy may have been changed (the membership file in place).
// m's computed attributes are known either way.
func (r *proxyNodeResource) apply(ctx context.Context, m *proxyNodeModel, diags *diag.Diagnostics) (ok, live bool) {
	m.ID = types.StringValue(proxyNodeID(m.ProxyAddress.ValueString(), m.NodeAddress.ValueString()))
	m.File = types.StringValue(nginx.MemberFile(m.NodeAddress.ValueString()))
	// The module takes proxy_address from its variable, not from the proxy VM (a dependency
	// would give the proxy VM create_before_destroy), so Terraform may run this beside the proxy
	// VM's create or update: wait for it to end (its own timeout bounds it), and stop when it
	// failed.
	if err := proxies.settle(ctx, m.ProxyAddress.ValueString()); err != nil {
		diags.AddAttributeError(path.Root("proxy_address"), "The reverse proxy failed",
			fmt.Sprintf("proxy_address = %q: %s. Nothing was changed on the proxy; fix what failed there and apply again.", m.ProxyAddress.ValueString(), err))
		return false, false
	}
	conn, host, err := r.dial(ctx, m, 0)
	if err != nil {
		diags.AddAttributeError(path.Root("proxy_address"), "Cannot reach the proxy over SSH",
			fmt.Sprintf("proxy_address = %q: SSH to %s failed: %s. Nothing was changed on the proxy.", m.ProxyAddress.ValueString(), host, r.sshError(m, err)))
		return false, false
	}
	defer conn.Close()
	mem := m.member()
	res, err := nginx.AddMember(ctx, conn, mem)
	if err != nil {
		var unreachable *nginx.NodeUnreachableError
		var rej *nginx.RejectedError
		switch {
		case errors.As(err, &unreachable):
			diags.AddAttributeError(path.Root("node_address"), "The node does not answer from the proxy",
				fmt.Sprintf("node_address = %q: the proxy %s got no HTTP answer from %s: %s. Nothing was written and the proxy serves as before. "+
					"Check that the node is running and serves HTTP on that port, and that the proxy can reach it (firewall, routing, the address).",
					m.NodeAddress.ValueString(), m.ProxyAddress.ValueString(), unreachable.Node, unreachable.Output))
		case errors.As(err, &rej):
			// node_address is validated, so the membership's server line is well-formed: what
			// NGINX refuses is the proxy's configuration (a host name it cannot resolve is the one
			// case that is the node's, and the output says so).
			diags.AddAttributeError(path.Root("proxy_address"), "NGINX rejected the configuration",
				fmt.Sprintf("proxy_address = %q: with node_address = %q added, nginx -t failed on the proxy and the previous files were put back: %v. "+
					"If the output names the node's host name, make it resolvable from the proxy or use its IP address; otherwise fix the proxy's NGINX configuration.",
					m.ProxyAddress.ValueString(), m.NodeAddress.ValueString(), err))
		case res.MayHaveChanged:
			diags.AddAttributeError(path.Root("proxy_address"), "Adding the node to the proxy did not finish",
				fmt.Sprintf("proxy_address = %q, node_address = %q: %v. The membership file may be in place and NGINX reloaded: the membership is kept in the state, marked for replacement, and the next apply (or a destroy) takes it over.",
					m.ProxyAddress.ValueString(), m.NodeAddress.ValueString(), err))
		default:
			diags.AddAttributeError(path.Root("proxy_address"), "Cannot add the node to the proxy",
				fmt.Sprintf("proxy_address = %q, node_address = %q: %v. Nothing was changed on the proxy.", m.ProxyAddress.ValueString(), m.NodeAddress.ValueString(), err))
		}
		return false, res.MayHaveChanged
	}
	if res.Before.InSiteNodes {
		diags.AddAttributeWarning(path.Root("node_address"), "The node is also in the proxy's nodes",
			fmt.Sprintf("node_address = %q is also in hipchatdc_reverse_proxy's nodes on proxy %q: NGINX lists it twice, which works, but destroying this membership does not take the node out of service while it stays there. "+
				"If you are moving the node from nodes to memberships, the next step is to remove it from nodes (nodes = [] once every node has a membership).",
				m.NodeAddress.ValueString(), m.ProxyAddress.ValueString()))
	}
	if res.Changed || res.Reloaded || res.Started {
		tflog.Info(ctx, "reverse proxy node added", map[string]any{"node": mem.WithDefaults().Node, "reloaded": res.Reloaded, "started": res.Started})
	}
	// Read back what is there now: a step that did not take effect is an error naming it.
	st, err := nginx.ReadMember(ctx, conn, mem.Node)
	if err != nil {
		diags.AddAttributeError(path.Root("proxy_address"), "Cannot read the membership back",
			fmt.Sprintf("proxy_address = %q: node %s was added, but reading the proxy back failed: %v. The membership is kept in the state; the next refresh checks it.", m.ProxyAddress.ValueString(), m.NodeAddress.ValueString(), err))
		return false, true
	}
	drift := r.fill(m, st)
	if len(drift) > 0 {
		diags.AddAttributeError(path.Root("drift"), "The proxy still differs from the configuration after the apply",
			"Read back after adding the node: "+strings.Join(drift, "; ")+". The next apply tries again.")
		return false, true
	}
	return true, false
}

// fill records in m what the proxy has (the file, the drain timeout it records) and returns
// the drift.
func (r *proxyNodeResource) fill(m *proxyNodeModel, st nginx.MemberState) []string {
	drift := st.Drift(m.member())
	m.File = types.StringValue(st.File)
	m.ID = types.StringValue(proxyNodeID(m.ProxyAddress.ValueString(), m.NodeAddress.ValueString()))
	if st.Present && st.Member.Drain > 0 {
		m.DrainTimeout = types.Int64Value(int64(st.Member.Drain / time.Second))
	}
	m.Drift = stringList(drift, types.ListValueMust(types.StringType, nil))
	return drift
}

func (r *proxyNodeResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	reads.Add(1)
	var m proxyNodeModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	conn, host, err := r.dial(ctx, &m, readBudget)
	if err != nil {
		// As the VM resources treat a guest they cannot reach: not an error (the proxy may be
		// replaced in this very apply), but not taken for a clean membership either.
		resp.Diagnostics.AddWarning("Reverse proxy membership not verified",
			fmt.Sprintf("Could not reach the proxy at %s to check that node %s is still in its upstream: %s. The plan lists this under drift.", host, m.NodeAddress.ValueString(), r.sshError(&m, err)))
		m.Drift = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("proxy not verified: SSH to " + host + " failed: " + err.Error())})
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
		return
	}
	defer conn.Close()
	st, err := nginx.ReadMember(ctx, conn, m.NodeAddress.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("proxy_address"), "Cannot read the membership",
			fmt.Sprintf("proxy_address = %q: reading node %s's membership on the proxy failed: %v", m.ProxyAddress.ValueString(), m.NodeAddress.ValueString(), err))
		return
	}
	r.fill(&m, st)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *proxyNodeResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m proxyNodeModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	conn, host, err := r.dial(ctx, &m, readBudget)
	if err != nil && r.destroyedAlongside(ctx, &m, err, &resp.Diagnostics) {
		return
	}
	if err != nil {
		gone, why := r.proxyGone(ctx, &m, err)
		if gone {
			// The proxy VM is gone (destroyed in the same apply, or by hand): nothing is left to
			// drain, as a VM resource's destroy of a VM that is gone succeeds.
			resp.Diagnostics.AddAttributeWarning(path.Root("proxy_address"), "Reverse proxy gone: membership forgotten",
				fmt.Sprintf("proxy_address = %q: SSH to %s failed (%v) and %s. The membership of node %s is removed from the state.",
					m.ProxyAddress.ValueString(), host, err, why, m.NodeAddress.ValueString()))
			return
		}
		resp.Diagnostics.AddAttributeError(path.Root("proxy_address"), "Cannot reach the proxy over SSH",
			fmt.Sprintf("proxy_address = %q: SSH to %s failed: %s. Node %s was not taken out of the proxy, and the membership stays in the state (%s). "+
				"Run the destroy again once the proxy answers over SSH. If the proxy VM is gone for good, remove the membership from the state with `terraform state rm` on this resource.",
				m.ProxyAddress.ValueString(), host, r.sshError(&m, err), m.NodeAddress.ValueString(), why))
		return
	}
	defer conn.Close()
	res, err := nginx.RemoveMember(ctx, conn, m.member())
	if err != nil && r.destroyedAlongside(ctx, &m, err, &resp.Diagnostics) {
		return
	}
	if err != nil {
		var rej *nginx.RejectedError
		what := "Nothing was changed: the node is still in the proxy."
		switch {
		case errors.As(err, &rej):
			what = "nginx -t refused the proxy's configuration without the node; the file was put back and the node is still in the proxy. Fix the proxy's NGINX configuration and destroy again."
		case res.MayHaveChanged:
			what = "The membership file may already be removed and NGINX reloaded, so the node may no longer get new requests, but its requests may not have drained. " +
				"The membership stays in the state: destroy again, which waits for the draining workers (at most drain_timeout) even when the file is gone."
		}
		resp.Diagnostics.AddAttributeError(path.Root("proxy_address"), "Cannot remove the node from the proxy",
			fmt.Sprintf("proxy_address = %q, node_address = %q: %v. %s", m.ProxyAddress.ValueString(), m.NodeAddress.ValueString(), err, what))
		return
	}
	tflog.Info(ctx, "reverse proxy node removed", map[string]any{
		"node": m.member().WithDefaults().Node, "was_present": res.Before.Present, "drained_ms": res.Drained.Milliseconds(), "cut_off_workers": res.CutOff,
	})
	if res.CutOff > 0 {
		resp.Diagnostics.AddAttributeWarning(path.Root("drain_timeout"), "Requests still running after drain_timeout were cut off",
			fmt.Sprintf("drain_timeout = %d: %d NGINX worker(s) still served requests (long polls, WebSockets or slow downloads) %d s after node %s was taken out of the proxy; "+
				"they were stopped and their clients reconnect to the remaining nodes. Raise drain_timeout to let such requests finish.",
				m.DrainTimeout.ValueInt64(), res.CutOff, m.DrainTimeout.ValueInt64(), m.NodeAddress.ValueString()))
	}
}

// destroyedAlongside tells whether the removal failed (err) because this apply destroyed the
// proxy VM at proxy_address meanwhile, waiting for such a destroy in progress to end: the
// module gives the membership no dependency on the proxy VM, so Terraform destroys both at
// once, and the proxy's SSH session ends under the removal. With the proxy gone there is no
// file left to remove and nothing to drain: the membership is forgotten, with a warning.
func (r *proxyNodeResource) destroyedAlongside(ctx context.Context, m *proxyNodeModel, err error, diags *diag.Diagnostics) bool {
	if !proxies.destroyedHere(ctx, m.ProxyAddress.ValueString()) {
		return false
	}
	diags.AddAttributeWarning(path.Root("proxy_address"), "Reverse proxy destroyed: membership forgotten",
		fmt.Sprintf("proxy_address = %q: the hipchatdc_reverse_proxy VM at this address was destroyed in this apply while node %s was being taken out of it (%v). "+
			"Nothing of the membership is left; it is removed from the state.", m.ProxyAddress.ValueString(), m.NodeAddress.ValueString(), err))
	return true
}

// proxyGone says whether the proxy of m is really gone after dialErr, and in words why or why
// not. Only a proxy that refuses or ignores connections and that no VM in vSphere reports the
// address of counts as gone: a cancelled apply, a failed login, a network blip or a proxy that
// vSphere still has (rebooting, sshd restarting) keep the membership, whose file would
// otherwise stay on the proxy and send requests to a destroyed node.
func (r *proxyNodeResource) proxyGone(ctx context.Context, m *proxyNodeModel, dialErr error) (bool, string) {
	var ce *guest.ConnectError
	switch {
	case ctx.Err() != nil:
		return false, "the apply was cancelled"
	case !errors.As(dialErr, &ce):
		return false, "the proxy answered but the SSH session failed"
	}
	var diags diag.Diagnostics
	vc := r.vm.client(ctx, &diags)
	if vc == nil {
		return false, "vSphere could not be asked whether the proxy VM still exists"
	}
	// Any VM that still reports the address, running or not: a proxy VM on a host vCenter lost
	// may come back, with the member file on it.
	vms, err := vc.VMsWithAddress(ctx, "", m.ProxyAddress.ValueString())
	switch {
	case err != nil:
		return false, err.Error()
	case len(vms) > 0:
		names := make([]string, len(vms))
		for i, vm := range vms {
			names[i] = vm.Name
		}
		return false, fmt.Sprintf("vSphere still has VM %s with that address", strings.Join(names, ", "))
	}
	return true, "vSphere has no VM with that address"
}

// ImportState takes "<proxy_address>/<node address>" (the node with or without :port) and
// reads the membership file: one that is not there is not imported.
func (r *proxyNodeResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	proxy, node, ok := strings.Cut(req.ID, "/")
	hp, err := nginx.NormalizeNode(node)
	if !ok || proxy == "" || err != nil {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("%q: give `<proxy_address>/<node_address>`, for example 10.0.0.20/10.0.0.100:80 (the node's port 80 may be left out).", req.ID))
		return
	}
	m := proxyNodeModel{
		ProxyAddress: types.StringValue(proxy), NodeAddress: types.StringValue(userNode(hp)),
		DrainTimeout: types.Int64Value(int64(nginx.DefaultDrainTimeout / time.Second)),
	}
	conn, host, err := r.dial(ctx, &m, readBudget)
	if err != nil {
		resp.Diagnostics.AddError("Cannot reach the proxy over SSH", fmt.Sprintf("SSH to %s with the provider's ssh settings failed: %s", host, r.sshError(&m, err)))
		return
	}
	defer conn.Close()
	st, err := nginx.ReadMember(ctx, conn, hp)
	if err == nil && !st.Present {
		err = fmt.Errorf("proxy %s has no membership file %s: node %s was not added by hipchatdc_reverse_proxy_node", proxy, st.File, hp)
	}
	if err != nil {
		resp.Diagnostics.AddError("Membership not found", err.Error())
		return
	}
	r.fill(&m, st)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
