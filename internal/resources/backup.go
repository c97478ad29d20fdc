package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"golang.org/x/crypto/ssh"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/backup"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/hipchat"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nfs"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nginx"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/packages"
)

var (
	_ resource.ResourceWithConfigure      = (*backupResource)(nil)
	_ resource.ResourceWithValidateConfig = (*backupResource)(nil)
)

// NewBackupResource is hipchatdc_backup: scheduled, verified backups of the data-stores VM (the
// guide: "make sure your configuration files are backed up, and take frequent backups of the
// data stores node"), installed over SSH, with the last run read back at each refresh.
func NewBackupResource() resource.Resource { return &backupResource{} }

type backupResource struct{ vm vmOps }

type backupModel struct {
	ID                    types.String     `tfsdk:"id"`
	Host                  types.String     `tfsdk:"host"`
	Connection            *ConnectionModel `tfsdk:"ssh"`
	PostgresDatabase      types.String     `tfsdk:"postgres_database"`
	PostgresPort          types.Int64      `tfsdk:"postgres_port"`
	NFSExportPath         types.String     `tfsdk:"nfs_export_path"`
	Schedule              types.String     `tfsdk:"schedule"`
	Retention             types.Int64      `tfsdk:"retention"`
	DestinationPath       types.String     `tfsdk:"destination_path"`
	DestinationHost       types.String     `tfsdk:"destination_host"`
	DestinationPort       types.Int64      `tfsdk:"destination_port"`
	DestinationUser       types.String     `tfsdk:"destination_user"`
	DestinationPrivateKey types.String     `tfsdk:"destination_private_key"`
	DestinationHostKey    types.String     `tfsdk:"destination_host_key"`
	NodeHost              types.String     `tfsdk:"node_host"`
	ProxyHost             types.String     `tfsdk:"proxy_host"`
	LastBackup            types.String     `tfsdk:"last_backup"`
	LastBackupTime        types.String     `tfsdk:"last_backup_time"`
	LastBackupBytes       types.Int64      `tfsdk:"last_backup_bytes"`
	LastBackupOK          types.Bool       `tfsdk:"last_backup_ok"`
	LastBackupError       types.String     `tfsdk:"last_backup_error"`
	Drift                 types.List       `tfsdk:"drift"`
	Timeouts              timeouts.Value   `tfsdk:"timeouts"`
}

// config is the guest recipe's configuration (without the captured files, which Apply adds).
func (m *backupModel) config() backup.Config {
	return backup.Config{
		Schedule:     m.Schedule.ValueString(),
		Retention:    int(m.Retention.ValueInt64()),
		Database:     m.PostgresDatabase.ValueString(),
		PostgresPort: int(m.PostgresPort.ValueInt64()),
		NFSDir:       m.NFSExportPath.ValueString(),
		Destination: backup.Destination{
			Path:       m.DestinationPath.ValueString(),
			Host:       valueOr(m.DestinationHost),
			Port:       int(m.DestinationPort.ValueInt64()),
			User:       m.DestinationUser.ValueString(),
			PrivateKey: valueOr(m.DestinationPrivateKey),
			HostKey:    valueOr(m.DestinationHostKey),
		},
	}
}

func (r *backupResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_backup"
}

func (r *backupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = backupSchema(ctx)
}

// backupTimeout bounds a create or update, the backup it runs included, unless `timeouts` says
// otherwise: a dump that hangs on a lock or a destination that stops answering must not hold
// the apply for ever.
const backupTimeout = 2 * time.Hour

func backupSchema(ctx context.Context) schema.Schema {
	computed := func(doc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: doc}
	}
	return schema.Schema{
		MarkdownDescription: "Scheduled backups of the data-stores VM (`hipchatdc_datastore_node`): the guide's \"make sure your configuration files are backed up, and take frequent backups of the data stores node\". " +
			"Each run makes one directory `hipchatdc-<host name>-<UTC time>` (the data-stores VM's host name: retention counts only its own) at the destination with a `pg_dump` of the Hipchat database and its roles, the Redis snapshot of a `BGSAVE`, an archive of the NFS share, " +
			"the configuration files the provider wrote on the three VMs and `SHA256SUMS`, written last. Creating the resource runs a first backup and fails if it fails; " +
			"each refresh reads the last run, and a failed run or backups that stopped show as `drift`, which the next apply answers by running a backup. See the guide below.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed: true, MarkdownDescription: "The data-stores VM's address (`host`): one backup schedule per data-stores VM.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"host": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Address of the data-stores VM (`hipchatdc_datastore_node.<name>.ipv4_address`). The backup program and its schedule are installed there, and the backups are made there. Changing it replaces the resource.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"postgres_database": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "The Hipchat database to dump (`hipchatdc_datastore_node`'s `postgres_database`). `pg_dump` runs as the `postgres` user over the local socket: no password is needed or stored.",
				Validators:          []validator.String{matches(backupWord, "letters, digits, dashes, periods and underscores")},
			},
			"postgres_port": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(5432),
				MarkdownDescription: "Postgres port (`hipchatdc_datastore_node`'s `postgres_port`). Default 5432.",
				Validators:          portValidators,
			},
			"nfs_export_path": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(nfs.DefaultPath),
				MarkdownDescription: "The NFS share to archive (`hipchatdc_datastore_node`'s `nfs_export_path`). Default `" + nfs.DefaultPath + "`.",
				Validators:          []validator.String{matches(backupPath, "must be an absolute path of letters, digits and . _ - /")},
			},
			"schedule": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "When backups run, as a line of `/etc/cron.d` has it, in the VM's time zone: cron's five fields `minute hour day-of-month month day-of-week` (`30 2 * * *` is 02:30 every day, `0 */6 * * *` every six hours, `0 3 * * sun` or `0 3 * * 7` Sundays at 03:00; " +
					"three-letter names of months and days in any case) or `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`. " +
					"Checked at plan time against the grammar of Debian's cron (not `?`, seconds or `@every`); also refused, though cron takes them: a range going down (`fri-mon`), text cron would ignore after a value (`1-2-3`) and a day that never comes (`0 0 31 2 *`). " +
					"A day-of-month or day-of-week starting with `*` makes cron run on days matching both (`0 0 */2 * 1`: odd days that are Mondays), otherwise on days matching either. A backup older than two scheduled intervals shows as `drift`.",
			},
			"retention": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(7),
				MarkdownDescription: "How many complete backups to keep at the destination. After each successful run the oldest complete ones beyond this count are removed; a failed run removes nothing but its own incomplete directory. Only this VM's backups (its host name in their name) are counted and removed: another deployment's in the same place are left alone. Default 7.",
				Validators:          []validator.Int64{int64validator.Between(1, 1000)},
			},
			"destination_path": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "Directory the backups go to, which must exist: on `destination_host` when it is set, otherwise on the data-stores VM, ideally on a disk of its own " +
					"(a backup on the VM's own system disk is lost with the VM); not inside `nfs_export_path`, `/var/lib/postgresql` or `/var/lib/redis` (refused at plan time). Each run checks that it is there, writable and has room for the database, the share and Redis before writing anything.",
				Validators: []validator.String{matches(backupPath, "must be an absolute path of letters, digits and . _ - /")},
			},
			"destination_host": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Another host to keep the backups on, reached from the data-stores VM over SSH (`ssh`/`tar`, no rsync needed) with `destination_private_key`; its host key is pinned with `destination_host_key` " +
					"(`StrictHostKeyChecking=yes`). Better than a local path: the backups survive the loss of the VM. Needs `sh`, `tar`, `df`, `du` and `sha256sum` there (any Linux).",
				Validators: []validator.String{matches(backupWord, "a host name or IPv4 address")},
			},
			"destination_port": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(22),
				MarkdownDescription: "SSH port of `destination_host`. Default 22.",
				Validators:          portValidators,
			},
			"destination_user": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("root"),
				MarkdownDescription: "User on `destination_host`, who must be able to write `destination_path`. Default `root`; a dedicated user is better.",
				Validators:          []validator.String{matches(backupWord, "a user name")},
			},
			"destination_private_key": schema.StringAttribute{
				Optional: true, Sensitive: true,
				MarkdownDescription: "Private key (OpenSSH or PEM, not encrypted: cron runs unattended) the data-stores VM uses to reach `destination_host`. Written to the VM with mode 0600, readable by root only; never on a command line. Required with `destination_host`.",
			},
			"destination_host_key": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "The public host key of `destination_host` in authorized_keys format (`ssh-ed25519 AAAA...`), pinned: another key makes every run fail before anything is sent. Required with `destination_host`.",
			},
			"node_host": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Address of the Hipchat node, whose configuration files the provider wrote (`" + hipchat.DefaultConfigFile + "`, `" + identity.InterfacesFile + "`). " +
					"At each apply the provider copies them, over SSH with the provider's `ssh` settings, to the data-stores VM, and every backup holds them under `config/node/`. They change only when the provider writes them: apply this resource after changing the node.",
			},
			"proxy_host": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Address of the reverse proxy, whose NGINX site and certificate (`" + nginx.ConfFile + "`, `" + nginx.CertFile + "`, `" + identity.InterfacesFile + "`) are copied like the node's, under `config/proxy/`. " +
					"Never the private key `" + nginx.KeyFile + "`: keep it where you keep the certificate's other secrets.",
			},
			"last_backup":       computed("Name of the last backup run's directory (`hipchatdc-<host name>-<UTC YYYYMMDDTHHMMSSZ>`), read back at each refresh."),
			"last_backup_time":  computed("When the last run finished (RFC 3339, UTC)."),
			"last_backup_bytes": schema.Int64Attribute{Computed: true, MarkdownDescription: "Size in bytes of the last backup (0 when it failed)."},
			"last_backup_ok":    schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the last run succeeded."},
			"last_backup_error": computed("Why the last run failed: the step (`destination`, `postgres`, `redis`, `nfs`, `config`, `retention`) and the error. Empty when it succeeded."),
			"drift": schema.ListAttribute{
				ElementType: types.StringType, Optional: true, Computed: true,
				Default: listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
				MarkdownDescription: "What refresh found wrong: a last run that failed (with its reason), no backup finished for two scheduled intervals, cron not running, or the installed program changed. " +
					"Always planned back to empty: the next apply reinstalls what differs and runs a backup, and fails naming the reason if that backup fails. Leave unset.",
				Validators: []validator.List{listvalidator.SizeAtMost(0)},
			},
		},
		Blocks: map[string]schema.Block{
			"ssh": schema.SingleNestedBlock{
				MarkdownDescription: "How to reach the data-stores VM over SSH, as in `hipchatdc_datastore_node`; unset attributes come from the provider's `ssh` block.",
				Attributes:          connectionAttributes(),
			},
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true,
				CreateDescription: "How long a create, with its first backup, may take (default `2h`). The backup is stopped " + backup.RunMargin.String() + " before, and fails with the reason.",
				UpdateDescription: "How long an update, with the backup it runs, may take (default `2h`). The backup is stopped " + backup.RunMargin.String() + " before, and fails with the reason.",
			}),
		},
	}
}

var (
	// No leading '-': the host and the user must not read as options of ssh.
	backupWord = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*$`)
	backupPath = regexp.MustCompile(`^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$`)
)

func (r *backupResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.vm.data = configureData(req, &resp.Diagnostics)
}

func (r *backupResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m backupModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if known(m.Schedule) {
		if _, err := backup.ParseSchedule(m.Schedule.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("schedule"), "Invalid schedule", fmt.Sprintf("schedule = %q: %s.", m.Schedule.ValueString(), err))
		}
	}
	if m.DestinationHost.IsUnknown() {
		return
	}
	remote := known(m.DestinationHost)
	if !remote && known(m.DestinationPath) {
		nfsDir := nfs.DefaultPath
		if !m.NFSExportPath.IsNull() {
			nfsDir = m.NFSExportPath.ValueString() // "" while unknown: only the fixed directories are checked
		}
		if in := backup.InsideDataStores(m.DestinationPath.ValueString(), nfsDir); in != "" {
			resp.Diagnostics.AddAttributeError(path.Root("destination_path"), "Backup destination inside the data stores",
				fmt.Sprintf("destination_path = %q is inside %s on the data-stores VM: every backup would hold all the earlier ones (the NFS share is archived whole) "+
					"and the Postgres roles and Redis password would land among the data the backup is of (on the share, readable by the Hipchat node). "+
					"Use a directory outside %s, %s and %s (ideally a disk of its own), or keep the backups on another host with destination_host.",
					m.DestinationPath.ValueString(), in, nfsDir, backup.DataStoreDirs[0], backup.DataStoreDirs[1]))
		}
	}
	for _, a := range []struct {
		name string
		v    types.String
	}{{"destination_private_key", m.DestinationPrivateKey}, {"destination_host_key", m.DestinationHostKey}} {
		switch {
		case remote && a.v.IsNull():
			resp.Diagnostics.AddAttributeError(path.Root(a.name), "Missing "+a.name,
				fmt.Sprintf("destination_host = %q: a remote destination needs %s (the key the data-stores VM logs in with, and the host key it pins).", m.DestinationHost.ValueString(), a.name))
		case !remote && !a.v.IsNull():
			resp.Diagnostics.AddAttributeError(path.Root(a.name), "Unused "+a.name, a.name+" is only for a remote destination: set destination_host, or remove it.")
		}
	}
	if known(m.DestinationHostKey) {
		if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(m.DestinationHostKey.ValueString())); err != nil || strings.TrimSpace(string(rest)) != "" {
			resp.Diagnostics.AddAttributeError(path.Root("destination_host_key"), "Invalid destination_host_key",
				"destination_host_key: one public key in authorized_keys format (`ssh-ed25519 AAAA...`), as `ssh-keyscan` prints it after the host name.")
		}
	}
	if known(m.DestinationPrivateKey) {
		if _, err := ssh.ParsePrivateKey([]byte(m.DestinationPrivateKey.ValueString())); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("destination_private_key"), "Invalid destination_private_key",
				"destination_private_key: an unencrypted private key in OpenSSH or PEM format (cron runs without anyone to type a passphrase): "+err.Error()+".")
		}
	}
}

// dial connects to the data-stores VM with the resource's ssh block over the provider's.
func (r *backupResource) dial(ctx context.Context, m *backupModel, diags *diag.Diagnostics) *guest.Conn {
	return r.dialHost(ctx, m.Host.ValueString(), m.Connection, "host", diags)
}

func (r *backupResource) dialHost(ctx context.Context, host string, conn *ConnectionModel, attr string, diags *diag.Diagnostics) *guest.Conn {
	core := &vmCore{Connection: conn}
	cfg, err := r.vm.guestConfig(core, host)
	if err != nil {
		diags.AddAttributeError(path.Root("ssh"), "Invalid ssh settings", err.Error())
		return nil
	}
	c, err := guest.Dial(ctx, cfg)
	if err != nil {
		diags.AddAttributeError(path.Root(attr), "Cannot reach "+host+" over SSH", fmt.Sprintf("%s = %q: %s", attr, host, r.vm.sshError(core, err)))
		return nil
	}
	return c
}

// captureFiles are the other VMs' configuration files each backup holds, by role.
var captureFiles = map[string][]string{
	"node":  {hipchat.DefaultConfigFile, identity.InterfacesFile},
	"proxy": {nginx.ConfFile, nginx.CertFile, identity.InterfacesFile},
}

// capture reads the node's and the proxy's configuration files: they change only when the
// provider writes them, so a copy made at each apply is what a restore needs, and the
// data-stores VM needs no credential to the other VMs.
func (r *backupResource) capture(ctx context.Context, m *backupModel, diags *diag.Diagnostics) []backup.CapturedFile {
	var out []backup.CapturedFile
	for _, src := range []struct {
		role, attr string
		host       types.String
	}{{"node", "node_host", m.NodeHost}, {"proxy", "proxy_host", m.ProxyHost}} {
		if !known(src.host) {
			continue
		}
		c := r.dialHost(ctx, src.host.ValueString(), nil, src.attr, diags)
		if c == nil {
			return nil
		}
		for _, f := range captureFiles[src.role] {
			data, ok, err := c.ReadFile(ctx, f)
			if err != nil {
				c.Close()
				diags.AddAttributeError(path.Root(src.attr), "Cannot copy a configuration file", fmt.Sprintf("%s = %q: %v", src.attr, src.host.ValueString(), err))
				return nil
			}
			if ok {
				out = append(out, backup.CapturedFile{Role: src.role, Path: f, Data: data})
			}
		}
		c.Close()
	}
	return out
}

// stepAttribute is the attribute a failed run's step is about.
func stepAttribute(m *backupModel, step string) path.Path {
	switch step {
	case "destination", "config":
		if known(m.DestinationHost) {
			return path.Root("destination_host")
		}
		return path.Root("destination_path")
	case "postgres", "postgres roles":
		return path.Root("postgres_database")
	case "nfs":
		return path.Root("nfs_export_path")
	case "retention":
		return path.Root("retention")
	}
	return path.Root("host")
}

// apply installs the backup, runs one and reads everything back: a failed run is an error on
// the attribute its step is about, with the run's own reason.
// installed is false when nothing was installed (no state to record).
func (r *backupResource) apply(ctx context.Context, m *backupModel, diags *diag.Diagnostics) (installed bool) {
	m.ID = m.Host
	captured := r.capture(ctx, m, diags)
	if diags.HasError() {
		return false
	}
	conn := r.dial(ctx, m, diags)
	if conn == nil {
		return false
	}
	defer conn.Close()
	// Checked, never installed: cron and the SSH client come with every Debian server.
	if _, err := packages.Ensure(ctx, conn, conn.Host(), false, backup.Packages...); err != nil {
		diags.AddAttributeError(path.Root("host"), "Packages missing on the data stores node", err.Error())
		return false
	}
	cfg := m.config()
	cfg.Captured = captured
	changed, err := backup.Apply(ctx, conn, cfg)
	if err != nil {
		diags.AddAttributeError(path.Root("host"), "Cannot install the backup", err.Error())
		return len(changed) > 0
	}
	if len(changed) > 0 {
		tflog.Info(ctx, "backup installed", map[string]any{"changed": changed})
	}
	st, err := backup.Run(ctx, conn) // bounded by the create or update timeout
	rctx, cancel := afterwards(ctx)
	defer cancel()
	if err != nil {
		// The state records the last run that did record itself, an earlier one.
		r.read(rctx, conn, m, diags)
		diags.AddAttributeError(path.Root("host"), "Cannot run a backup", err.Error())
		return true
	}
	r.read(rctx, conn, m, diags)
	if !st.OK {
		diags.AddAttributeError(stepAttribute(m, st.Step()), "Backup failed",
			fmt.Sprintf("The backup to %s, started %s, failed: %s. Existing backups were not touched; fix the cause and apply again.",
				st.Destination, st.Started.Format(time.RFC3339), st.Error))
		return true
	}
	// The plan promised no drift: what the apply could not repair is an error, not a surprise.
	if drift := listStrings(ctx, m.Drift); len(drift) > 0 && !diags.HasError() {
		diags.AddAttributeError(path.Root("drift"), "The backup still differs from the configuration after the apply",
			"Read back after the apply: "+strings.Join(drift, "; ")+". The state records this, and the next apply tries again.")
	}
	return true
}

// read refreshes the last run and drift from the guest.
func (r *backupResource) read(ctx context.Context, conn *guest.Conn, m *backupModel, diags *diag.Diagnostics) {
	cfg := m.config()
	st, err := backup.Read(ctx, conn, cfg)
	if err != nil {
		diags.AddAttributeError(path.Root("host"), "Cannot read the backup", err.Error())
		return
	}
	m.LastBackup, m.LastBackupTime, m.LastBackupError = types.StringNull(), types.StringNull(), types.StringNull()
	m.LastBackupBytes, m.LastBackupOK = types.Int64Null(), types.BoolNull()
	if s := st.Status; s != nil {
		m.LastBackup = types.StringValue(s.Name)
		m.LastBackupTime = types.StringValue(s.Finished.UTC().Format(time.RFC3339))
		m.LastBackupBytes = types.Int64Value(s.Bytes)
		m.LastBackupOK = types.BoolValue(s.OK)
		m.LastBackupError = types.StringValue(s.Error)
	}
	m.Drift = stringList(st.Drift(cfg, time.Now()), types.ListValueMust(types.StringType, nil))
}

func (r *backupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m backupModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, m.Timeouts.Create, backupTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	if !r.apply(ctx, &m, &resp.Diagnostics) {
		return // nothing on the VM: no state
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	nullUnknowns(&resp.State)
}

func (r *backupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m backupModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, m.Timeouts.Update, backupTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	r.apply(ctx, &m, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	nullUnknowns(&resp.State)
}

func (r *backupResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m backupModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A data-stores VM that cannot be reached (being rebuilt, or its host key changed) is
	// drift, as for the VM resources' "guest not verified": the plan shows it and the apply
	// fails with the reason, while the rest of the configuration still plans.
	var dialDiags diag.Diagnostics
	conn := r.dial(ctx, &m, &dialDiags)
	if conn == nil {
		var why []string
		for _, d := range dialDiags.Errors() {
			why = append(why, d.Detail())
		}
		m.Drift = stringList([]string{"data-stores VM not reachable, backups not verified: " + strings.Join(why, "; ")}, m.Drift)
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
		return
	}
	defer conn.Close()
	r.read(ctx, conn, &m, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Delete removes the schedule and the program; the backups and the status of the last run stay.
func (r *backupResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m backupModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	conn := r.dial(ctx, &m, &resp.Diagnostics)
	if conn == nil {
		return
	}
	defer conn.Close()
	if _, err := conn.RunChange(ctx, "# remove the backup schedule\nrm -rf "+backup.CronFile+" "+backup.ConfDir+" "+backup.CapturedDir, nil); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("host"), "Cannot remove the backup schedule", err.Error())
	}
}
