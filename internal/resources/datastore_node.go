package resources

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	slashpath "path"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/firewall"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nfs"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/packages"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/postgres"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/redis"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/restore"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// NewDatastoreNodeResource is hipchatdc_datastore_node: Redis, NFS v4 and Postgres on one VM.
func NewDatastoreNodeResource() resource.Resource {
	return &vmResource[datastoreModel, *datastoreModel]{role: datastoreRole{}}
}

type datastoreModel struct {
	vmCore
	NFSDiskSize      types.Int64  `tfsdk:"nfs_disk_size"`
	NFSExportPath    types.String `tfsdk:"nfs_export_path"`
	NFSServer        types.String `tfsdk:"nfs_server"`
	NFSDevice        types.String `tfsdk:"nfs_device"`
	AllowedCIDR      types.String `tfsdk:"allowed_cidr"`
	InstallPackages  types.Bool   `tfsdk:"install_packages"`
	RedisPort        types.Int64  `tfsdk:"redis_port"`
	RedisPassword    types.String `tfsdk:"redis_password"`
	PostgresPort     types.Int64  `tfsdk:"postgres_port"`
	PostgresDatabase types.String `tfsdk:"postgres_database"`
	PostgresUser     types.String `tfsdk:"postgres_user"`
	PostgresPassword types.String `tfsdk:"postgres_password"`
	Firewall         types.Bool   `tfsdk:"firewall"`
	FirewallSSH      types.List   `tfsdk:"firewall_ssh_sources"`
	FirewallExtra    types.List   `tfsdk:"firewall_extra_ports"`
	RestoreFrom      types.Object `tfsdk:"restore_from"`

	RedisHost       types.String `tfsdk:"redis_host"`
	PostgresHost    types.String `tfsdk:"postgres_host"`
	PostgresVersion types.String `tfsdk:"postgres_version"`
	RedisVersion    types.String `tfsdk:"redis_version"`
	NFSExport       types.String `tfsdk:"nfs_export"`
}

type datastoreRole struct{}

func (datastoreRole) spec() spec.Role         { return spec.RoleDataStores }
func (datastoreRole) flavor() identity.Flavor { return identity.Debian }
func (datastoreRole) typeSuffix() string      { return "_datastore_node" }

func (datastoreRole) description() string {
	return "The data stores node of the small-scale guide: one Debian or Ubuntu server VM (from an OVA or a template) running " +
		"Redis (with a password and exactly the guide's persistence settings), PostgreSQL (UTF-8, `max_connections = 1000`, a " +
		"database and a non-superuser owner) and an NFS v4 export on its own disk (anonymous read-write, root squashing off), " +
		"sized to at least 8 vCPU, 16 GB RAM and 60 GB disk. It exports the endpoints a Hipchat node needs."
}

func (datastoreRole) extraDisks(m *datastoreModel) []int64 {
	return []int64{m.NFSDiskSize.ValueInt64()}
}

// setExtraDisks records the NFS volume's size as vSphere reports it, so that a disk grown
// behind Terraform's back (or an imported VM's) shows.
func (datastoreRole) setExtraDisks(m *datastoreModel, gib []int64) {
	m.NFSDiskSize = types.Int64Value(gib[0])
}

func (datastoreRole) blocks() map[string]schema.Block { return nil }

func (datastoreRole) attributes() map[string]schema.Attribute {
	computed := func(doc string) schema.Attribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: doc}
	}
	return map[string]schema.Attribute{
		"nfs_disk_size": schema.Int64Attribute{
			Optional: true, Computed: true, Default: int64default.StaticInt64(spec.NFSVolumeMinGiB),
			MarkdownDescription: fmt.Sprintf("Size in GiB of the VM's second disk, the NFS volume. The guide asks for at least %d GB. Growing it is an in-place update.", spec.NFSVolumeMinGiB),
			Validators:          []validator.Int64{int64validator.AtLeast(1)},
		},
		"nfs_export_path": schema.StringAttribute{
			Optional: true, Computed: true, Default: stringdefault.StaticString(nfs.DefaultPath),
			MarkdownDescription: "Directory exported over NFS v4 to the Hipchat nodes. Default `" + nfs.DefaultPath + "`.",
			Validators:          []validator.String{matches(absPath, "must be an absolute path")},
		},
		"nfs_server": schema.StringAttribute{
			Optional: true, Computed: true, Default: stringdefault.StaticString(nfs.Kernel),
			MarkdownDescription: "NFS server: `kernel` (nfs-kernel-server, `/etc/exports`, `exportfs -ra`) or `ganesha` (nfs-ganesha, userspace). Default `" + nfs.Kernel + "`.",
			Validators:          []validator.String{stringvalidator.OneOf(nfs.Kernel, nfs.Ganesha)},
		},
		"nfs_device": schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "Block device of the NFS volume inside the guest, for example `/dev/sdb` or a stable link to it such as `/dev/disk/by-path/pci-0000:03:00.0-scsi-0:0:1:0`. It is formatted (ext4) only when it holds no file system yet, and mounted on the export's parent folder (in /etc/fstab too). The apply refuses, before changing anything, to mount it over another device (an earlier `nfs_device`) or over a folder that is not empty (such as the parent of an export that already holds files): to move, format the new device, mount it elsewhere, copy the files, unmount it and empty the folder (or unmount the old device and remove its `/etc/fstab` line), then apply. Unset: the export directory is used as it is.",
			Validators:          []validator.String{matches(devPath, "must be a /dev/ path")},
		},
		"allowed_cidr": schema.StringAttribute{
			Optional: true, Computed: true,
			MarkdownDescription: "Network of the Hipchat nodes, allowed to use Postgres (pg_hba) and the NFS export, and, with `firewall` on, the only one whose connections to Redis, Postgres, NFS and SSH the guest accepts (besides the provider's). Default: the network of `ipv4_address`.",
		},
		"install_packages": schema.BoolAttribute{
			Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			MarkdownDescription: "Install missing packages (redis-server, postgresql, nfs-kernel-server or nfs-ganesha) with apt from the guest's own sources. When false, missing packages fail the apply, naming them, before anything is changed.",
		},
		"redis_port": schema.Int64Attribute{
			Optional: true, Computed: true, Default: int64default.StaticInt64(spec.RedisDefaultPort),
			MarkdownDescription: "Redis port. The guide: \"Use the default Redis port of 6379.\"",
			Validators:          []validator.Int64{int64validator.Between(1, 65535)},
		},
		"redis_password": schema.StringAttribute{
			Required: true, Sensitive: true,
			MarkdownDescription: fmt.Sprintf("Redis `requirepass`, at least %d characters. The guide recommends enabling authentication with a password of your own.", spec.PasswordMinLength),
			Validators:          []validator.String{stringvalidator.LengthAtLeast(spec.PasswordMinLength)},
		},
		"postgres_port": schema.Int64Attribute{
			Optional: true, Computed: true, Default: int64default.StaticInt64(5432),
			MarkdownDescription: "Postgres port.",
			Validators:          []validator.Int64{int64validator.Between(1, 65535)},
		},
		"postgres_database": schema.StringAttribute{
			Required:            true,
			MarkdownDescription: "Name of the Hipchat database: starts with a letter, 8 to 30 characters, only letters, digits, dashes, periods and underscores (the guide's rule). Changing it creates another database; the old one is kept.",
		},
		"postgres_user": schema.StringAttribute{
			Required:            true,
			MarkdownDescription: "Database user that owns the database with GRANT ALL; never `postgres` or another superuser.",
		},
		"postgres_password": schema.StringAttribute{
			Required: true, Sensitive: true,
			MarkdownDescription: fmt.Sprintf("Password of `postgres_user`, at least %d characters (sent to psql on standard input, never on a command line).", spec.PasswordMinLength),
			Validators:          []validator.String{stringvalidator.LengthAtLeast(spec.PasswordMinLength)},
		},
		"firewall": firewallAttribute("Here Redis, Postgres and NFS (TCP 2049, NFS v4) accept connections only from `allowed_cidr`, the nodes' network (the guide: " +
			"\"Hipchat nodes must have unrestricted network access to the data stores\"), and SSH only from there, from the address the provider's SSH session comes from " +
			"(as the guest sees it: behind `ssh.bastion_host`, the bastion's), and from `firewall_ssh_sources`. The provider's address is the one of the last apply: " +
			"when the machine running Terraform moves to an address outside these, it can no longer connect, so list its addresses in `firewall_ssh_sources` before it moves " +
			"(or reach the guest through a bastion inside them; from the VM's console, `nft delete table inet hipchatdc` opens the guest until the next apply)."),
		"firewall_ssh_sources": schema.ListAttribute{
			ElementType: types.StringType, Optional: true,
			MarkdownDescription: "More IPv4 addresses or networks (`192.0.2.10`, `192.0.2.0/24`) allowed to connect over SSH when `firewall` is on: the addresses Terraform may run from, " +
				"such as a CI runner's range, and any jump host outside `allowed_cidr`.",
		},
		"firewall_extra_ports": firewallExtraPortsAttribute(),
		"restore_from":         restoreFromAttribute(),
		"drift":                driftAttribute("for example a Redis persistence setting or `max_connections` changed by hand, a password changed, or a firewall rule deleted"),
		"redis_host":           computed("Address the Hipchat nodes use for Redis (`ipv4_address`)."),
		"postgres_host":        computed("Address the Hipchat nodes use for Postgres (`ipv4_address`)."),
		"postgres_version":     computed("The Postgres server's version, read back from the server. The guide names " + spec.PostgresGuideMajor + "; another major version is a warning, given when it is news: on create, on import and when the version read back changes."),
		"redis_version":        computed("The Redis server's version, read back from the running server (`INFO server`), or from `redis-server --version` when none answers. The guide names " + spec.RedisGuideVersion + "; another version is a warning, given when it is news: on create, on import and when the version read back changes."),
		"nfs_export":           computed("The NFS export as `host:/path`, for the Hipchat node's shared storage."),
	}
}

func (datastoreRole) validate(ctx context.Context, m *datastoreModel, diags *diag.Diagnostics) {
	m.validate(ctx, spec.RoleDataStores, "", diags)
	if known(m.NFSDiskSize) {
		if err := spec.CheckNFSVolume(m.NFSDiskSize.ValueInt64()); err != nil {
			diags.AddAttributeError(path.Root("nfs_disk_size"), "Configuration breaks the small-scale guide", fmt.Sprintf("nfs_disk_size = %d: %s", m.NFSDiskSize.ValueInt64(), err))
		}
	}
	if known(m.PostgresDatabase) {
		if err := spec.CheckDatabaseName(m.PostgresDatabase.ValueString()); err != nil {
			diags.AddAttributeError(path.Root("postgres_database"), "Invalid database name", err.Error())
		}
	}
	if known(m.PostgresUser) {
		if err := spec.CheckDatabaseUser(m.PostgresUser.ValueString()); err != nil {
			diags.AddAttributeError(path.Root("postgres_user"), "Invalid database user", err.Error())
		}
	}
	if known(m.AllowedCIDR) {
		if _, err := netip.ParsePrefix(m.AllowedCIDR.ValueString()); err != nil {
			diags.AddAttributeError(path.Root("allowed_cidr"), "Invalid allowed_cidr", err.Error())
		}
	}
	eachKnownString(m.FirewallSSH, func(i int, s string) {
		if _, err := parseSource(s); err != nil {
			diags.AddAttributeError(path.Root("firewall_ssh_sources").AtListIndex(i), "Invalid firewall_ssh_sources entry",
				fmt.Sprintf("firewall_ssh_sources[%d]: %s.", i, err))
		}
	})
	validateExtraPorts(m.FirewallExtra, diags)
	validateRestore(ctx, m.RestoreFrom, diags)
	if known(m.RedisPort) && known(m.PostgresPort) && m.RedisPort.ValueInt64() == m.PostgresPort.ValueInt64() {
		diags.AddAttributeError(path.Root("postgres_port"), "Port clash", "redis_port and postgres_port are both "+m.RedisPort.String()+".")
	}
}

func (datastoreRole) modifyPlan(ctx context.Context, plan, state *datastoreModel, diags *diag.Diagnostics) {
	if plan.AllowedCIDR.IsUnknown() {
		if p, ok := plan.network(); ok {
			plan.AllowedCIDR = types.StringValue(p.String())
		}
	}
	endpoint := plan.IPv4Address
	if state != nil && plan.IPv4Address.Equal(state.IPv4Address) {
		plan.RedisHost, plan.PostgresHost, plan.NFSExport = state.RedisHost, state.PostgresHost, state.NFSExport
	} else if known(endpoint) {
		plan.RedisHost, plan.PostgresHost = endpoint, endpoint
	}
	if known(endpoint) && known(plan.NFSExportPath) {
		plan.NFSExport = types.StringValue(endpoint.ValueString() + ":" + plan.NFSExportPath.ValueString())
	}
	if state == nil && !diags.HasError() {
		warnRestore(ctx, plan.RestoreFrom, diags)
		// A backup that is readable now is refused now, before an OVA is uploaded.
		verifyRestore(ctx, plan.RestoreFrom, true, diags)
	}
	if state != nil {
		// Known once Postgres runs: an imported VM may not have it yet.
		plan.PostgresVersion = state.PostgresVersion
		if !known(state.PostgresVersion) {
			plan.PostgresVersion = types.StringUnknown()
		}
		plan.RedisVersion = state.RedisVersion
		if !known(state.RedisVersion) {
			plan.RedisVersion = types.StringUnknown()
		}
		if known(state.NFSDiskSize) && known(plan.NFSDiskSize) {
			if err := spec.CheckGrow(state.NFSDiskSize.ValueInt64(), plan.NFSDiskSize.ValueInt64()); err != nil {
				diags.AddAttributeError(path.Root("nfs_disk_size"), "Disk cannot shrink", "nfs_disk_size: "+err.Error())
			}
		}
	}
}

// warnVersion warns, on attr, that the server runs another version of product than the
// guide's when that is news: the version read back (now) is not the one the state held before
// (prior; null or unknown on create and import). Every plan and apply saying it again would
// teach users to skip warnings. A plan does not save its refresh, so one that finds a changed
// version says it on each plan until an apply records it.
func warnVersion(attr, product, guide string, prior, now types.String, diags *diag.Diagnostics) {
	if !known(now) || (known(prior) && prior.ValueString() == now.ValueString()) {
		return
	}
	if v := now.ValueString(); !spec.IsGuideVersion(guide, v) {
		diags.AddAttributeWarning(path.Root(attr), product+" version differs from the guide",
			"The server runs "+product+" "+v+"; the small-scale guide names "+guide+". Hipchat Data Center was validated against "+guide+".")
	}
}

// network is the network of the VM's static address.
func (c *vmCore) network() (netip.Prefix, bool) {
	if !known(c.IPv4Address) || !known(c.IPv4Netmask) {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(c.IPv4Address.ValueString())
	if err != nil {
		return netip.Prefix{}, false
	}
	p, err := a.Prefix(int(c.IPv4Netmask.ValueInt64()))
	return p, err == nil
}

// firewall is the guest firewall the configuration asks for.
func (m *datastoreModel) guestFirewall(ctx context.Context) firewall.Config {
	cidr, _ := netip.ParsePrefix(m.AllowedCIDR.ValueString())
	var extra []netip.Prefix
	for _, s := range listStrings(ctx, m.FirewallSSH) {
		if p, err := parseSource(s); err == nil {
			extra = append(extra, p)
		}
	}
	return firewallConfig(spec.RoleDataStores, "hipchatdc_datastore_node", m.Firewall.ValueBool(), cidr, extra,
		map[string]int{"Redis": int(m.RedisPort.ValueInt64()), "Postgres": int(m.PostgresPort.ValueInt64())}, extraPortRules(m.FirewallExtra))
}

func (m *datastoreModel) recipes() (redis.Config, postgres.Config, nfs.Config) {
	addr, _ := netip.ParseAddr(m.IPv4Address.ValueString())
	cidr, _ := netip.ParsePrefix(m.AllowedCIDR.ValueString())
	return redis.Config{Address: addr, Port: int(m.RedisPort.ValueInt64()), Password: m.RedisPassword.ValueString()},
		postgres.Config{Address: addr, Port: int(m.PostgresPort.ValueInt64()), AllowedCIDR: cidr,
			Database: m.PostgresDatabase.ValueString(), User: m.PostgresUser.ValueString(), Password: m.PostgresPassword.ValueString()},
		nfs.Config{Path: m.NFSExportPath.ValueString(), AllowedCIDR: cidr, Server: m.NFSServer.ValueString(), Device: m.NFSDevice.ValueString()}
}

// checkCreate refuses, before a VM exists, a backup to restore from that is missing or
// damaged (also one whose path was unknown at plan time).
func (datastoreRole) checkCreate(ctx context.Context, m *datastoreModel, diags *diag.Diagnostics) {
	verifyRestore(ctx, m.RestoreFrom, false, diags)
}

func (datastoreRole) apply(ctx context.Context, conn *guest.Conn, plan, state *datastoreModel, diags *diag.Diagnostics) {
	rc, pc, nc := plan.recipes()
	for _, v := range []struct {
		attr string
		err  error
	}{{"redis_password", rc.Validate()}, {"postgres_database", pc.Validate()}, {"nfs_export_path", nc.Validate()}} {
		if v.err != nil {
			diags.AddAttributeError(path.Root(v.attr), "Invalid data store settings", v.err.Error())
			return
		}
	}
	// All packages first: a guest that lacks one gets nothing configured at all.
	pkgs := slices.Concat(redis.Packages, postgres.Packages, nc.Packages())
	if plan.Firewall.ValueBool() {
		pkgs = append(pkgs, firewall.Packages...)
	}
	installed, err := packages.Ensure(ctx, conn, conn.Host(), plan.InstallPackages.ValueBool(), pkgs...)
	if err != nil {
		var me *packages.MissingError
		if errors.As(err, &me) {
			diags.AddAttributeError(path.Root("install_packages"), "Packages missing on the data stores node", err.Error())
		} else {
			diags.AddAttributeError(path.Root("install_packages"), "Cannot install packages", err.Error())
		}
		return
	}
	if len(installed) > 0 {
		tflog.Info(ctx, "installed packages", map[string]any{"packages": installed})
	}
	// A restore happens only at create, into data stores nothing uses yet: the backup is
	// copied and checked first, then each service's data goes in before it starts or opens.
	var rs *restoreSteps
	if state == nil {
		if rs = beginRestore(ctx, conn, plan, diags); diags.HasError() {
			return
		}
		defer rs.close()
	}
	if rs != nil && plan.Firewall.ValueBool() {
		// A node still running at this address with the same passwords (the old data stores
		// VM lost under it) would write into the empty database, or Redis, while the backup
		// goes in. Until the restore is done the firewall lets in SSH only: one rule set,
		// applied by the recipe that is applied last anyway, rather than keeping each of the
		// three services local-only and opening it afterwards. Without the firewall the
		// restore still refuses a database someone wrote into, and the export is published
		// after the files are in; the guide says to stop the nodes first.
		fw := plan.guestFirewall(ctx)
		fw.Rules = slices.DeleteFunc(fw.Rules, func(r firewall.Rule) bool { return !r.Provider })
		if applyFirewall(ctx, conn, fw, diags); diags.HasError() {
			return
		}
	}
	if res, err := redis.Apply(ctx, conn, rc); err != nil {
		diags.AddAttributeError(path.Root("redis_password"), "Cannot configure Redis", err.Error())
		return
	} else if len(res.Changed) > 0 {
		tflog.Info(ctx, "redis configured", map[string]any{"changed": res.Changed, "restarted": res.Restarted})
	}
	if res, err := postgres.Apply(ctx, conn, pc); err != nil {
		diags.AddAttributeError(path.Root("postgres_database"), "Cannot configure Postgres", err.Error())
		return
	} else {
		if len(res.Changed) > 0 {
			tflog.Info(ctx, "postgres configured", map[string]any{"changed": res.Changed})
		}
		if rs != nil {
			if err := restore.Postgres(ctx, conn, res.After.Port, pc.Database, postgres.SetupSQL(pc, res.After.Major)); err != nil {
				rs.fail(err, diags)
				return
			}
		}
	}
	if rs != nil {
		// The files go in before the directory is exported: no node mounts it half-filled.
		if _, err := nfs.Prepare(ctx, conn, nc); err != nil {
			diags.AddAttributeError(path.Root("nfs_export_path"), "Cannot configure the NFS export", err.Error())
			return
		}
		if err := restore.NFS(ctx, conn, plan.NFSExportPath.ValueString()); err != nil {
			rs.fail(err, diags)
			return
		}
	}
	if res, err := nfs.Apply(ctx, conn, nc); err != nil {
		diags.AddAttributeError(path.Root("nfs_export_path"), "Cannot configure the NFS export", err.Error())
		return
	} else if len(res.Changed) > 0 {
		tflog.Info(ctx, "nfs export configured", map[string]any{"changed": res.Changed})
	}
	if rs != nil {
		if rs.finish(ctx, conn, diags); diags.HasError() {
			return
		}
	}
	// Last: the services are up before the ports to them close to everyone else.
	applyFirewall(ctx, conn, plan.guestFirewall(ctx), diags)
}

// readScript reads the three services: each recipe's read script, run together (and with the
// network identity's) as one command, parsed apart.
func (datastoreRole) readScript(m *datastoreModel) string {
	defaults(m)
	_, pc, nc := m.recipes()
	return redis.ReadScript() + postgres.ReadScript(pc) + nfs.ReadScript(nc) + firewall.ReadScript()
}

func (datastoreRole) parse(ctx context.Context, out string, m *datastoreModel, imported bool, diags *diag.Diagnostics) {
	if m.AllowedCIDR.IsNull() || m.AllowedCIDR.IsUnknown() {
		if p, ok := m.network(); ok {
			m.AllowedCIDR = types.StringValue(p.String())
		}
	}
	rc, pc, nc := m.recipes()
	rs, err := redis.Parse(out)
	if err != nil {
		diags.AddError("Cannot read Redis", err.Error())
		return
	}
	ps, err := postgres.Parse(out)
	if err != nil {
		diags.AddError("Cannot read Postgres", err.Error())
		return
	}
	ns, err := nfs.Parse(out, nc)
	if err != nil {
		diags.AddError("Cannot read the NFS export", err.Error())
		return
	}
	if rs.ConfigPresent {
		m.RedisPort = types.Int64Value(int64(rs.Port))
		m.RedisPassword = types.StringValue(rs.Password)
		rc.Port, rc.Password = rs.Port, rs.Password
	}
	if ps.Port != 0 {
		m.PostgresPort = types.Int64Value(int64(ps.Port))
		pc.Port = ps.Port
	}
	if ps.Version != "" {
		prior := m.PostgresVersion
		m.PostgresVersion = types.StringValue(ps.Version)
		warnVersion("postgres_version", "Postgres", spec.PostgresGuideMajor, prior, m.PostgresVersion, diags)
	}
	if rs.Version != "" {
		prior := m.RedisVersion
		m.RedisVersion = types.StringValue(rs.Version)
		warnVersion("redis_version", "Redis", spec.RedisGuideVersion, prior, m.RedisVersion, diags)
	}
	var drift []string
	if imported {
		// An imported server holding one database of its own names it and its owner; with
		// several the configuration must say which (the password is never readable).
		if m.PostgresDatabase.IsNull() && len(ps.DatabaseOwners) == 1 {
			m.PostgresDatabase = types.StringValue(ps.DatabaseOwners[0][0])
			m.PostgresUser = types.StringValue(ps.DatabaseOwners[0][1])
		}
		// The export is nfs-ganesha's when its configuration has it and /etc/exports does not.
		if ns.ExportLine == "" && strings.Contains(ns.GaneshaConf, m.NFSExportPath.ValueString()) {
			m.NFSServer = types.StringValue(nfs.Ganesha)
		}
		// The volume: the device /etc/fstab names for the export's mount point, when it is the
		// one mounted there. A UUID= or LABEL= source is left to the configuration.
		if dev := ns.FstabVolume(); m.NFSDevice.IsNull() && devPath.MatchString(dev) && slashpath.Clean(dev) == dev {
			m.NFSDevice = types.StringValue(dev)
		}
		// Drift is the difference from a configuration; an import has none yet.
	} else {
		drift = serviceDrift(rs, ps, ns, rc, pc, nc, m)
	}
	drift = append(drift, parseFirewall(out, m.guestFirewall(ctx), imported, &m.Firewall, diags)...)
	m.Drift = stringList(drift, types.ListValueMust(types.StringType, nil))
	if known(m.IPv4Address) {
		m.RedisHost, m.PostgresHost = m.IPv4Address, m.IPv4Address
		m.NFSExport = types.StringValue(m.IPv4Address.ValueString() + ":" + m.NFSExportPath.ValueString())
	}
}

// serviceDrift lists, in words, where the three services differ from the configuration.
func serviceDrift(rs redis.State, ps postgres.State, ns nfs.State, rc redis.Config, pc postgres.Config, nc nfs.Config, m *datastoreModel) []string {
	var drift []string
	for _, d := range rs.Drift(rc) {
		drift = append(drift, "redis: "+d)
	}
	// Without a database and user (an import that found several) there is nothing to compare.
	if known(m.PostgresDatabase) && known(m.PostgresUser) {
		if known(m.PostgresPassword) && ps.UserExists && !ps.PasswordMatches(pc.User, pc.Password) {
			drift = append(drift, "postgres: the password of "+pc.User+" was changed")
		}
		for _, d := range ps.Drift(pc) {
			drift = append(drift, "postgres: "+d)
		}
	}
	for _, d := range ns.Drift(nc) {
		drift = append(drift, "nfs: "+d)
	}
	return drift
}

// defaults gives an imported resource the values its configuration most likely leaves out.
func defaults(m *datastoreModel) {
	if m.NFSExportPath.IsNull() {
		m.NFSExportPath = types.StringValue(nfs.DefaultPath)
	}
	if m.NFSServer.IsNull() {
		m.NFSServer = types.StringValue(nfs.Kernel)
	}
	if m.InstallPackages.IsNull() {
		m.InstallPackages = types.BoolValue(false)
	}
	if m.PostgresPort.IsNull() {
		m.PostgresPort = types.Int64Value(5432)
	}
	if m.RedisPort.IsNull() {
		m.RedisPort = types.Int64Value(spec.RedisDefaultPort)
	}
}
