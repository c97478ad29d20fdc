package resources

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/restore"
)

// restoreFrom is the restore_from attribute: one backup directory of the layout the backup
// program writes, on the machine running Terraform or on a host reached over SSH.
type restoreFrom struct {
	Path       types.String `tfsdk:"path"`
	Host       types.String `tfsdk:"host"`
	Port       types.Int64  `tfsdk:"port"`
	User       types.String `tfsdk:"user"`
	Password   types.String `tfsdk:"password"`
	PrivateKey types.String `tfsdk:"private_key"`
	HostKey    types.String `tfsdk:"host_key"`
}

func restoreFromAttribute() schema.Attribute {
	return schema.SingleNestedAttribute{
		Optional: true,
		MarkdownDescription: "A backup to restore the data stores from when the VM is created: one directory `hipchatdc-<host name>-<UTC time>` of the backup layout (`postgres.dump`, " +
			"`postgres-roles.sql`, `redis.rdb`, `nfs.tar.gz`, `SHA256SUMS`). With `host` it lies on that host, read over SSH with its host key pinned; without, on the " +
			"machine running Terraform. The backup is verified (complete, every file matching `SHA256SUMS`, the dump a pg_dump custom-format archive, the archive " +
			"listable) at plan time when it can be read then, and again first thing at create, before a VM exists: a refused backup names the file and nothing is made. " +
			"After the packages are in place the files are copied to the guest, checked there again, and restored before the services are started or opened: the RDB " +
			"before Redis starts, the roles and then the dump into `postgres_database` (the configured `postgres_user` password wins over the backup's), the files " +
			"into the NFS export with their owners (not the setuid/setgid bits of root's files; links that leave the share are refused), all before the firewall " +
			"lets the nodes in (SSH only until then, with `firewall`) and the share is exported; a database a node wrote into meanwhile is refused. Stop the " +
			"nodes before the restoring apply. It matters only at create: changing or removing it later records the new value and does nothing to the running " +
			"VM (no replacement). **Remove it once the VM is back**: left set, any later creation of this VM (a replacement, a tainted VM, a VM lost) restores " +
			"that backup again; every plan that creates the VM with it set warns on it. See the guide \"Restore the data stores\".",
		Attributes: map[string]schema.Attribute{
			"path": schema.StringAttribute{Required: true, MarkdownDescription: "Absolute path of the backup directory.",
				Validators: []validator.String{matches(absPath, "must be an absolute path")}},
			"host":        schema.StringAttribute{Optional: true, MarkdownDescription: "Host the backup directory is on, reached over SSH from the machine running Terraform. Unset: `path` is on the machine running Terraform."},
			"port":        schema.Int64Attribute{Optional: true, MarkdownDescription: "SSH port of `host`. Default 22.", Validators: []validator.Int64{int64validator.Between(1, 65535)}},
			"user":        schema.StringAttribute{Optional: true, MarkdownDescription: "SSH user on `host`, who can read the backup directory. Default `root`."},
			"password":    schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Password of `user` on `host`."},
			"private_key": schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Private key of `user` on `host` (for example `file(\"~/.ssh/backup_ed25519\")`)."},
			"host_key":    schema.StringAttribute{Optional: true, MarkdownDescription: "Public host key of `host` in authorized_keys format, pinned; required with `host`: a backup is only restored from the host it was written to."},
		},
	}
}

// restoreSource reads restore_from: nil when it is null, or not known yet (ok false).
func restoreSource(ctx context.Context, o types.Object, diags *diag.Diagnostics) (rf *restoreFrom, ok bool) {
	if o.IsNull() {
		return nil, true
	}
	if o.IsUnknown() {
		return nil, false
	}
	rf = &restoreFrom{}
	diags.Append(o.As(ctx, rf, basetypes.ObjectAsOptions{UnhandledUnknownAsEmpty: false})...)
	if diags.HasError() {
		return nil, true
	}
	for _, v := range []attr.Value{rf.Path, rf.Host, rf.Port, rf.User, rf.Password, rf.PrivateKey, rf.HostKey} {
		if v.IsUnknown() {
			return rf, false
		}
	}
	return rf, true
}

// validateRestore checks what is known of restore_from at plan time.
func validateRestore(ctx context.Context, o types.Object, diags *diag.Diagnostics) {
	rf, _ := restoreSource(ctx, o, diags)
	if rf == nil {
		return
	}
	if known(rf.Host) && rf.HostKey.IsNull() {
		diags.AddAttributeError(path.Root("restore_from").AtName("host_key"), "Missing restore_from.host_key",
			fmt.Sprintf("restore_from.host = %q: the backup host's key must be pinned (host_key = \"ssh-ed25519 AAAA...\", from `ssh-keyscan %s`), so that a restore reads the backup from that host and no other.", rf.Host.ValueString(), rf.Host.ValueString()))
	}
	if rf.Host.IsNull() {
		for name, v := range map[string]attr.Value{"port": rf.Port, "user": rf.User, "password": rf.Password, "private_key": rf.PrivateKey, "host_key": rf.HostKey} {
			if !v.IsNull() {
				diags.AddAttributeError(path.Root("restore_from").AtName(name), "restore_from."+name+" without host",
					"restore_from."+name+" is for reaching restore_from.host over SSH; without host the backup is read from the machine running Terraform. Set host or remove "+name+".")
			}
		}
	}
}

// open connects to the backup (over SSH for a host), within timeout.
func (rf *restoreFrom) open(ctx context.Context, timeout time.Duration) (restore.Source, error) {
	if rf.Host.IsNull() {
		return restore.Local(rf.Path.ValueString()), nil
	}
	user := "root"
	if known(rf.User) {
		user = rf.User.ValueString()
	}
	conn, err := guest.Dial(ctx, guest.Config{Timeout: timeout, Target: guest.Endpoint{
		Host: rf.Host.ValueString(), Port: int(rf.Port.ValueInt64()), User: user,
		Password: rf.Password.ValueString(), PrivateKey: rf.PrivateKey.ValueString(), HostKey: rf.HostKey.ValueString(),
	}})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the backup host restore_from.host = %q: %w", rf.Host.ValueString(), err)
	}
	return restore.Remote{Conn: conn, Dir: rf.Path.ValueString()}, nil
}

// warnRestore warns, on a plan that creates the VM, that restore_from will be restored. The
// provider cannot tell the restore a user asks for from a restore_from left in the
// configuration after one: Terraform plans a replacement (a tainted VM, -replace, a changed
// attribute that forces one) and a VM lost outside Terraform as a create like any other. So
// every create says which backup it restores, and that restore_from is to be removed once
// the VM is back.
func warnRestore(ctx context.Context, o types.Object, diags *diag.Diagnostics) {
	var d diag.Diagnostics
	rf, _ := restoreSource(ctx, o, &d)
	if rf == nil {
		return
	}
	where := "a backup known at apply"
	if known(rf.Path) {
		where = fmt.Sprintf("%q", rf.Path.ValueString())
		if known(rf.Host) {
			where = fmt.Sprintf("%q", rf.Host.ValueString()+":"+rf.Path.ValueString())
		}
	}
	diags.AddAttributeWarning(path.Root("restore_from"), "The data stores VM will be created from a backup",
		"This plan creates the data stores VM and restores restore_from = "+where+" into it (the database, the Redis keys, the NFS files). "+
			"If that is not the restore you mean, because the VM is replaced (tainted, -replace, an attribute that forces a replacement) or was lost "+
			"and restore_from is left over from an earlier restore, do not apply: that old backup would replace the data. "+
			"Stop every Hipchat node that uses these data stores before the restoring apply, and remove restore_from from the configuration once the VM is back.")
}

// verifyRestore verifies the backup restore_from names. atPlan: a backup that cannot be read
// now (a host down, a path from another resource) is only a warning, as the create checks it
// again before anything is made.
func verifyRestore(ctx context.Context, o types.Object, atPlan bool, diags *diag.Diagnostics) {
	rf, ok := restoreSource(ctx, o, diags)
	if rf == nil || !ok {
		return
	}
	timeout := time.Minute
	if atPlan {
		timeout = 15 * time.Second
	}
	at := path.Root("restore_from")
	src, err := rf.open(ctx, timeout)
	if err == nil {
		defer src.Close()
		var m restore.Manifest
		m, err = restore.Verify(ctx, src)
		if err == nil {
			tflog.Info(ctx, "backup verified", map[string]any{"backup": m.Where, "files": len(m.Sums), "bytes": m.Bytes})
			return
		}
	}
	var re *restore.Error
	var he *guest.HostKeyError
	switch {
	case errors.As(err, &he):
		// Not a passing outage: the host is not the one pinned.
		diags.AddAttributeError(at.AtName("host_key"), "Backup host key does not match", err.Error()+
			". Nothing was created: check the backup host's key out of band (ssh-keyscan from a trusted network) and set restore_from.host_key to it.")
	case errors.As(err, &re):
		diags.AddAttributeError(at, "Backup refused", "restore_from.path = "+fmt.Sprintf("%q", rf.Path.ValueString())+": "+err.Error()+
			". Nothing was created: restore from another backup (a complete one has SHA256SUMS), or remove restore_from to create empty data stores.")
	case atPlan:
		diags.AddAttributeWarning(at, "Backup not verified at plan time", err.Error()+". The apply verifies it before it creates the VM.")
	default:
		diags.AddAttributeError(at, "Cannot read the backup", err.Error()+". Nothing was created.")
	}
}

// restoreSteps are the parts of a restore the data stores role runs around its recipes.
type restoreSteps struct {
	src restore.Source
}

// beginRestore copies the backup to the guest and checks it there, then puts the RDB in place
// (Redis is not started yet). nil when there is nothing to restore; errors are recorded.
func beginRestore(ctx context.Context, conn *guest.Conn, plan *datastoreModel, diags *diag.Diagnostics) *restoreSteps {
	rf, ok := restoreSource(ctx, plan.RestoreFrom, diags)
	if rf == nil || !ok {
		return nil
	}
	at := path.Root("restore_from")
	src, err := rf.open(ctx, time.Minute)
	if err != nil {
		diags.AddAttributeError(at, "Cannot read the backup", err.Error())
		return nil
	}
	fail := func(err error) *restoreSteps {
		src.Close()
		var re *restore.Error
		if errors.As(err, &re) {
			diags.AddAttributeError(at, "Backup refused", fmt.Sprintf("restore_from.path = %q: %s. No data store was configured.", rf.Path.ValueString(), err))
		} else {
			diags.AddAttributeError(at, "Cannot restore the data stores", err.Error()+". No data store was configured.")
		}
		return nil
	}
	m, err := restore.ReadManifest(ctx, src)
	if err != nil {
		return fail(err)
	}
	tflog.Info(ctx, "restoring the data stores", map[string]any{"backup": m.Where})
	if err := restore.Upload(ctx, conn, src, m); err != nil {
		return fail(err)
	}
	if err := restore.Check(ctx, conn); err != nil {
		return fail(err)
	}
	if err := restore.PlaceRedis(ctx, conn); err != nil {
		return fail(err)
	}
	return &restoreSteps{src: src}
}

// finish records the restore on the guest.
func (s *restoreSteps) finish(ctx context.Context, conn *guest.Conn, diags *diag.Diagnostics) {
	if err := restore.Finish(ctx, conn, s.src.Where()); err != nil {
		diags.AddAttributeError(path.Root("restore_from"), "Cannot restore the data stores", err.Error())
	}
}

// close ends the connection to the backup host.
func (s *restoreSteps) close() {
	if s != nil {
		s.src.Close()
	}
}

func (s *restoreSteps) fail(err error, diags *diag.Diagnostics) {
	if errors.Is(err, restore.ErrNotEmpty) {
		diags.AddAttributeError(path.Root("restore_from"), "Cannot restore the data stores: the database is in use",
			fmt.Sprintf("restore_from = %q: %s. The restore goes only into the empty database it made; this VM is tainted and the next apply replaces it "+
				"and restores again, which races again while the node writes.", s.src.Where(), err))
		return
	}
	diags.AddAttributeError(path.Root("restore_from"), "Cannot restore the data stores", err.Error())
}
