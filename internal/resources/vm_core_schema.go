package resources

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// vmCore is the part of every resource's model that describes the VM: placement, source,
// sizing, network identity and how to reach it. Resource models embed it.
type vmCore struct {
	ID               types.String `tfsdk:"id"`
	Name             types.String `tfsdk:"name"`
	Datacenter       types.String `tfsdk:"datacenter"`
	Cluster          types.String `tfsdk:"cluster"`
	Host             types.String `tfsdk:"host"`
	ResourcePool     types.String `tfsdk:"resource_pool"`
	Folder           types.String `tfsdk:"folder"`
	Datastore        types.String `tfsdk:"datastore"`
	Network          types.String `tfsdk:"network"`
	OVAPath          types.String `tfsdk:"ova_path"`
	OVAURL           types.String `tfsdk:"ova_url"`
	OVACAFile        types.String `tfsdk:"ova_ca_file"`
	Template         types.String `tfsdk:"template"`
	LibraryItem      types.String `tfsdk:"library_item"`
	NumCPUs          types.Int64  `tfsdk:"num_cpus"`
	Memory           types.Int64  `tfsdk:"memory"`
	DiskSize         types.Int64  `tfsdk:"disk_size"`
	UUID             types.String `tfsdk:"uuid"`
	DefaultIPAddress types.String `tfsdk:"default_ip_address"`
	PowerState       types.String `tfsdk:"power_state"`

	Hostname        types.String `tfsdk:"hostname"`
	IPv4Address     types.String `tfsdk:"ipv4_address"`
	IPv4Netmask     types.Int64  `tfsdk:"ipv4_netmask"`
	IPv4Gateway     types.String `tfsdk:"ipv4_gateway"`
	DNSServers      types.List   `tfsdk:"dns_servers"`
	NTPServers      types.List   `tfsdk:"ntp_servers"`
	Timezone        types.String `tfsdk:"timezone"`
	AllowPublicIPv4 types.Bool   `tfsdk:"allow_public_ipv4"`
	AllowSlowCPU    types.Bool   `tfsdk:"allow_slow_cpu"`

	Connection *ConnectionModel `tfsdk:"ssh"`
	Timeouts   timeouts.Value   `tfsdk:"timeouts"`

	// Drift is every role's, but each declares it (driftAttribute) with examples of its own.
	Drift types.List `tfsdk:"drift"`

	// As in the vsphere provider; read back from config.cpuHotAddEnabled/memoryHotAddEnabled.
	CPUHotAddEnabled    types.Bool `tfsdk:"cpu_hot_add_enabled"`
	MemoryHotAddEnabled types.Bool `tfsdk:"memory_hot_add_enabled"`
}

// placementAttr describes one placement argument once.
var placementAttrs = []struct{ name, doc string }{
	{"datacenter", "Datacenter name, inventory path or managed object ID. Default: the only datacenter (`ha-datacenter` on a standalone ESXi host, the only one it accepts)."},
	{"cluster", "Cluster to place the VM in (its root resource pool). One of `cluster`, `host`, `resource_pool`, or none when the datacenter has one. Not on a standalone ESXi host, which has no clusters."},
	{"host", "ESXi host to place the VM on. Its CPU clock (`summary.hardware.cpuMhz`) must meet the guide's minimum for the role unless `allow_slow_cpu`."},
	{"resource_pool", "Resource pool, by inventory path (`/DC0/host/C0/Resources/pool`) or managed object ID."},
	{"folder", "VM folder, relative to the datacenter's VM folder (`hipchat/prod`). Default: the root VM folder."},
	{"datastore", "Datastore for the VM's files and disks. Default: the only datastore. It must have room for the VM before the upload starts: the OVA's disks (what they hold for thin disks, their capacity for thick ones) or the template's, plus any disk the resource adds (the data stores' NFS volume, at its full size)."},
	{"network", "Network (port group) of the VM's first NIC. Default: the OVA's network mapping or the template's."},
}

// vmCoreSchema returns the VM core attributes and blocks for a role. A resource adds its own.
func vmCoreSchema(ctx context.Context, role spec.Role) (map[string]schema.Attribute, map[string]schema.Block) {
	min := spec.Hardware[role]
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	sourceReplace := []planmodifier.String{
		// An imported VM has no recorded source; adding one to the configuration afterwards
		// must not rebuild the VM.
		stringplanmodifier.RequiresReplaceIf(func(_ context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
			resp.RequiresReplace = !req.StateValue.IsNull()
		}, "Changing the source replaces the VM.", "Changing the source replaces the VM."),
	}
	sources := path.Expressions{path.MatchRoot("ova_path"), path.MatchRoot("ova_url"), path.MatchRoot("template"), path.MatchRoot("library_item")}
	// The data stores node and the reverse proxy exist to be configured over SSH at their static
	// address; only the node can also be just a VM.
	identityRequired := role != spec.RoleNode
	identityDoc := "Required, with `hostname`, `ipv4_address` and `ipv4_netmask`: the provider configures this VM's guest over SSH at that address."
	if !identityRequired {
		identityDoc = "Setting `hostname`, `ipv4_address` and `ipv4_netmask` (together) makes the provider configure the guest over SSH; without them the node is only a VM."
	}

	attrs := map[string]schema.Attribute{
		"id": schema.StringAttribute{
			Computed:            true,
			MarkdownDescription: "The VM's managed object ID (`vm-42`).",
			PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		},
		"name": schema.StringAttribute{
			Required:            true,
			MarkdownDescription: "VM name in vSphere. Changing it replaces the VM.",
			PlanModifiers:       replace,
			Validators:          []validator.String{stringvalidator.LengthBetween(1, 80)},
		},
		"ova_path": schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "Local path of the OVA (or OVF) to import. Exactly one of `ova_path`, `ova_url`, `template`, `library_item`. Not read back on import.",
			PlanModifiers:       sourceReplace,
			Validators:          []validator.String{stringvalidator.ExactlyOneOf(sources...)},
		},
		"ova_url": schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "http(s) URL of the OVA, streamed to vSphere without a local copy; any other scheme is refused at plan time. Not read back on import. The provider's logs and errors show it without user info or query string; when it carries credentials (a password, a signed query), set it from a `sensitive` variable so that plans hide it too (the state still holds it).",
			PlanModifiers:       sourceReplace,
			Validators:          []validator.String{ovaURLScheme{}},
		},
		"ova_ca_file": schema.StringAttribute{
			Optional: true,
			MarkdownDescription: "PEM file of the CA certificates that a signed OVA's signing certificate must chain to, instead of the system's trusted CAs: for an OVA signed by a publisher whose CA is not a public one. " +
				"Used only when the VM is imported from `ova_path` or `ova_url`; changing it does not replace the VM. Not read back on import.",
			Validators: []validator.String{ovaCAFile{}, stringvalidator.ConflictsWith(path.MatchRoot("template"), path.MatchRoot("library_item"))},
		},
		"template": schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "VM or template to clone, by name, inventory path or managed object ID. Not read back on import.",
			PlanModifiers:       sourceReplace,
		},
		"library_item": schema.StringAttribute{
			Optional: true,
			MarkdownDescription: "ID of a content library item to deploy (`hipchatdc_library_item.x.id`): vCenter copies the item's files to the new VM inside vSphere, " +
				"so that several VMs deploy from one upload of the OVA (an Enterprise-scale deployment's three nodes read it once). " +
				"The hosts and the datastore's space are checked before the deploy, as for an import; a deploy that fails leaves no VM. Not read back on import.",
			PlanModifiers: sourceReplace,
		},
		"num_cpus": schema.Int64Attribute{
			Optional: true, Computed: true,
			MarkdownDescription: fmt.Sprintf("Number of vCPUs. The guide asks for at least %d; default %d. vSphere allows at most %d per VM (vSphere 8 configuration maximums): more is refused at plan time. ", min.NumCPUs, min.NumCPUs, spec.VSphereLimits.MaxNumCPUs) + powerCycleDoc("cpu_hot_add_enabled", "vCPUs"),
			PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			Validators:          []validator.Int64{int64validator.AtLeast(1)},
		},
		"memory": schema.Int64Attribute{
			Optional: true, Computed: true,
			MarkdownDescription: fmt.Sprintf("Memory in MiB. The guide asks for at least %d (%d GB); default %d. vSphere requires a multiple of %d MB: another size is refused at plan time. ", min.MemoryMB, min.MemoryMB/1024, min.MemoryMB, spec.VSphereLimits.MemoryStepMB) + powerCycleDoc("memory_hot_add_enabled", "memory"),
			PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			Validators:          []validator.Int64{int64validator.AtLeast(4)},
		},
		"cpu_hot_add_enabled": schema.BoolAttribute{
			Optional: true, Computed: true,
			Default:             booldefault.StaticBool(false),
			MarkdownDescription: hotAddDoc("CPU", "cpuHotAddEnabled", "num_cpus"),
		},
		"memory_hot_add_enabled": schema.BoolAttribute{
			Optional: true, Computed: true,
			Default:             booldefault.StaticBool(false),
			MarkdownDescription: hotAddDoc("memory", "memoryHotAddEnabled", "memory"),
		},
		"disk_size": schema.Int64Attribute{
			Optional: true, Computed: true,
			MarkdownDescription: diskDoc(min),
			PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			Validators:          []validator.Int64{int64validator.AtLeast(1)},
		},
		"uuid": schema.StringAttribute{
			Computed:            true,
			MarkdownDescription: "The VM's BIOS UUID.",
			PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		},
		"default_ip_address": schema.StringAttribute{
			Computed:            true,
			MarkdownDescription: "The IPv4 address VMware Tools reports for the VM. Create waits for it (up to 5 minutes, as the vsphere provider's default `wait_for_guest_net_timeout`; a guest without VMware Tools waits that long and gets a warning), so that the state holds the address the VM booted with.",
		},
		"power_state": schema.StringAttribute{
			Computed:            true,
			MarkdownDescription: "The VM's power state as vSphere reports it: `on`, `off` or `suspended` (as in the vsphere provider). The provider keeps the VM running: a VM found off or suspended shows as a change to `on` in the plan, and the apply powers it on and configures its guest again. Refresh does not try to reach the guest of a VM that is not on.",
		},
		"hostname": schema.StringAttribute{
			Required: identityRequired, Optional: !identityRequired,
			MarkdownDescription: "Host name set on the guest (must be unique in the cluster, not `hipchat`, not the public DNS name). In lower case and without a trailing dot: `Node-1.example.com` or `node-1.example.com.` is refused at plan time with the spelling to use, because the guest keeps a host name as written while DNS ignores case, and a trailing dot marks a DNS name, not a host name; the provider does not rewrite it, so that plan, state and guest say the same. " + identityDoc,
		},
		"ipv4_address": schema.StringAttribute{
			Required: identityRequired, Optional: !identityRequired,
			MarkdownDescription: "Static IPv4 address written to `/etc/network/interfaces` (the guide's step \"Configure the Hipchat VM network\"). Must be private unless `allow_public_ipv4`, and a host address of its network: not its network or broadcast address (`10.0.0.0` or `10.0.0.255` with `ipv4_netmask = 24`). " + identityDoc,
		},
		"ipv4_netmask": schema.Int64Attribute{
			Required: identityRequired, Optional: !identityRequired,
			MarkdownDescription: "Prefix length of `ipv4_address` (24 for 255.255.255.0), as in the vsphere provider's customization. " + identityDoc,
			Validators:          []validator.Int64{int64validator.Between(1, 30)},
		},
		"ipv4_gateway": schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "Default gateway; must be a host address inside the address's network (not its network or broadcast address, not `ipv4_address`).",
		},
		"dns_servers": schema.ListAttribute{
			ElementType:         types.StringType,
			Optional:            true,
			MarkdownDescription: "DNS servers (`dns-nameservers`).",
		},
		"ntp_servers": schema.ListAttribute{
			ElementType:         types.StringType,
			Optional:            true,
			MarkdownDescription: "NTP servers, each listed once (names compare without case and trailing dot). The guide's default is Atlassian's pool (`0.atlassian.pool.ntp.org`, `1.atlassian.pool.ntp.org`); networks without internet access must set their own.",
			Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
		},
		"timezone": schema.StringAttribute{
			Optional: true, Computed: true,
			Default:             stringdefault.StaticString("UTC"),
			MarkdownDescription: "The guest's timezone. The guide requires UTC, the only accepted value; a guest found in another timezone is set back to UTC.",
			Validators:          []validator.String{stringvalidator.OneOf("UTC")},
		},
		"allow_public_ipv4": schema.BoolAttribute{
			Optional:            true,
			MarkdownDescription: "Allow a public `ipv4_address`. The guide deploys the cluster on a private network.",
		},
		"allow_slow_cpu": schema.BoolAttribute{
			Optional: true,
			MarkdownDescription: fmt.Sprintf("Deploy on ESXi hosts whose CPUs are slower than the guide's %.1f GHz for %s, with a warning instead of an error: for an evaluation install. "+
				"Without it, a `host` slower than that fails the plan (when the provider's connection is known at plan time) or the apply before the OVA upload starts; "+
				"a `cluster` or `resource_pool` is refused when any of its hosts is slower, since DRS may start or move the VM on any of them.", float64(spec.MinCPUMHz[role])/1000, role.Title()),
		},
	}
	for _, p := range placementAttrs {
		attrs[p.name] = schema.StringAttribute{
			Optional: true, Computed: true,
			MarkdownDescription: p.doc + " Changing it replaces the VM.",
			PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplaceIfConfigured()},
		}
	}
	blocks := map[string]schema.Block{
		"ssh": schema.SingleNestedBlock{
			MarkdownDescription: "How to reach the guest over SSH, named like Terraform's `connection` block (which Terraform reserves for provisioners); unset attributes come from the provider's `ssh` block.",
			Attributes:          connectionAttributes(),
		},
		"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
	}
	return attrs, blocks
}

// powerCycleDoc says when a change of num_cpus or memory power-cycles the VM; attr is the
// hot-add attribute that lets it grow while the VM runs, adds what it adds.
func powerCycleDoc(attr, adds string) string {
	return fmt.Sprintf("Changing it is an in-place update, but one that power-cycles the VM when it shrinks, or when it grows with `%s` off (the default); the plan warns which VM and why. "+
		"The provider then shuts the guest down through VMware Tools, powers the VM off hard only if the guest has not stopped within %d minutes "+
		"(at once when VMware Tools is not running), applies the change and powers the VM on again. With `%s = true`, growing it is made while the VM runs (no power cycle); "+
		"vSphere cannot remove %s from a running VM, so shrinking it always power-cycles the VM.",
		attr, int(vsphere.ShutdownTimeout.Minutes()), attr, adds)
}

// hotAddDoc describes cpu_hot_add_enabled or memory_hot_add_enabled.
func hotAddDoc(what, key, attr string) string {
	return fmt.Sprintf("Enable %s hot add (vSphere's `config.%s`), as in the vsphere provider. Default `false`. "+
		"With it on, growing `%s` is made while the VM runs; shrinking `%s` still power-cycles the VM. vSphere changes this setting only on a powered-off VM: "+
		"changing it power-cycles the VM once, as described under `num_cpus` (the plan warns), together with any change of `num_cpus` or `memory` in the same apply. "+
		"Read back from vSphere, so a change made there shows as drift and an import records it.",
		what, key, attr, attr)
}

func diskDoc(min spec.Minimums) string {
	if min.DiskGiB == 0 {
		return "System disk size in GiB. Default: the size in the OVA or template. Growing it is an in-place update; shrinking is refused."
	}
	return fmt.Sprintf("System disk size in GiB; the guide asks for at least %d. Default: the size in the OVA or template. Growing it is an in-place update; shrinking is refused.", min.DiskGiB)
}
