package resources

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/hipchat"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// NewNodeResource is hipchatdc_node: the Hipchat application node, imported from the Hipchat OVA.
func NewNodeResource() resource.Resource {
	return &vmResource[nodeModel, *nodeModel]{role: nodeRole{}}
}

type nodeModel struct {
	vmCore
	DataStores *nodeDataStoresModel `tfsdk:"data_stores"`
}

// nodeDataStoresModel is the guide's next step, "Configure Hipchat Data Center nodes": where the
// node finds Postgres, Redis and the NFS share.
type nodeDataStoresModel struct {
	PostgresHost     types.String `tfsdk:"postgres_host"`
	PostgresPort     types.Int64  `tfsdk:"postgres_port"`
	PostgresDatabase types.String `tfsdk:"postgres_database"`
	PostgresUser     types.String `tfsdk:"postgres_user"`
	PostgresPassword types.String `tfsdk:"postgres_password"`
	RedisHost        types.String `tfsdk:"redis_host"`
	RedisPort        types.Int64  `tfsdk:"redis_port"`
	RedisPassword    types.String `tfsdk:"redis_password"`
	NFSExport        types.String `tfsdk:"nfs_export"`
	PublicURL        types.String `tfsdk:"public_url"`
	ConfigFile       types.String `tfsdk:"config_file"`
	ConfigureCommand types.String `tfsdk:"configure_command"`
	SelfCheckCommand types.String `tfsdk:"selfcheck_command"`
}

type nodeRole struct{}

func (nodeRole) spec() spec.Role                   { return spec.RoleNode }
func (nodeRole) flavor() identity.Flavor           { return identity.Appliance }
func (nodeRole) typeSuffix() string                { return "_node" }
func (nodeRole) extraDisks(*nodeModel) []int64     { return nil }
func (nodeRole) setExtraDisks(*nodeModel, []int64) {}

func (nodeRole) description() string {
	return "The Hipchat Data Center node: a VM imported from the Hipchat OVA (or cloned), sized to the small-scale guide " +
		"(at least 8 vCPU, 16 GB RAM, 40 GB disk), with its static IPv4 address, host name, NTP servers and UTC timezone pushed over SSH " +
		"the way the guide does by hand (`/etc/network/interfaces`, `dont-blame-hipchat -c \"hostnamectl set-hostname ...\"`, `hipchat service --ntp-servers`). " +
		"The provider does not filter the node's ports: the guide's \"only allow inbound connections on port 80 (HTTP), 443 (HTTPS), and 22 (SSH)\" is a rule for the private network, " +
		"enforced at its way in (`hipchatdc_reverse_proxy`'s `firewall`), and the guide asks that nodes have unrestricted network access to each other; the node is Atlassian's appliance, whose own settings are its vendor's."
}

func (nodeRole) attributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"drift": driftAttribute("for example a data stores configuration whose self-check failed, or one edited by hand"),
	}
}

func (nodeRole) blocks() map[string]schema.Block {
	str := func(doc string, sensitive bool) schema.Attribute {
		return schema.StringAttribute{Optional: true, Sensitive: sensitive, MarkdownDescription: doc}
	}
	return map[string]schema.Block{
		"data_stores": schema.SingleNestedBlock{
			MarkdownDescription: "The guide's next step, \"Configure Hipchat Data Center nodes\": where the node finds Postgres, Redis and the NFS share " +
				"(the values a `hipchatdc_datastore_node` is given, or its outputs). It first waits, within the create or update timeout, for Postgres, Redis and NFS to " +
				"answer from the node, so that the node can be created at the same time as its data stores (guide: *The whole cluster at the speed of its slowest VM*). " +
				"Then the provider writes the appliance's configuration file (mode 0600, secrets " +
				"never on a command line or in logs), runs the configure command, then the self-check; a failing self-check fails the apply with its own message. " +
				"A new node VM whose self-check fails is destroyed again by its create: under `create_before_destroy` (an upgrade to a new OVA) the node it was " +
				"to replace stays the current one in the state, running and untouched, and the next apply tries the replacement again.",
			Attributes: map[string]schema.Attribute{
				"postgres_host": str("Postgres address.", false),
				"postgres_port": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(hipchat.DefaultPostgresPort),
					MarkdownDescription: "Postgres port.", Validators: portValidators},
				"postgres_database": str("Database name.", false),
				"postgres_user":     str("Database user.", false),
				"postgres_password": str("Database password.", true),
				"redis_host":        str("Redis address.", false),
				"redis_port": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(spec.RedisDefaultPort),
					MarkdownDescription: "Redis port.", Validators: portValidators},
				"redis_password": str("Redis password.", true),
				"nfs_export":     str("NFS v4 share as `host:/path` (the appliance's shared-storage-location).", false),
				"public_url":     str("The URL users reach Hipchat at (`https://chat.example.com`), behind the reverse proxy.", false),
				"config_file": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(hipchat.DefaultConfigFile),
					MarkdownDescription: "Where the configuration file is written on the node."},
				"configure_command": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(hipchat.DefaultConfigure),
					MarkdownDescription: "The appliance command that applies the file; `{file}` stands for its path. The exact flags of the appliance are not public: override them here if yours differ."},
				"selfcheck_command": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(hipchat.DefaultSelfCheck),
					MarkdownDescription: "The appliance command that verifies Postgres, Redis and NFS from the node."},
			},
		},
	}
}

func (nodeRole) validate(ctx context.Context, m *nodeModel, diags *diag.Diagnostics) {
	m.validate(ctx, spec.RoleNode, "", diags)
	if d := m.DataStores; d != nil {
		d.validate(diags)
		if !m.managesGuest() {
			diags.AddAttributeError(path.Root("data_stores"), "Missing network identity",
				"The node is wired to its data stores over SSH: set hostname, ipv4_address and ipv4_netmask as well.")
		}
	}
}

// validate checks at plan time what is known of the block (values from a data stores resource
// that does not exist yet are checked at apply time), so that a broken wiring does not cost an
// OVA import first.
func (d *nodeDataStoresModel) validate(diags *diag.Diagnostics) {
	at := func(attr string) path.Path { return path.Root("data_stores").AtName(attr) }
	for _, a := range []struct {
		name string
		v    types.String
	}{
		{"postgres_host", d.PostgresHost}, {"postgres_database", d.PostgresDatabase}, {"postgres_user", d.PostgresUser},
		{"postgres_password", d.PostgresPassword}, {"redis_host", d.RedisHost}, {"redis_password", d.RedisPassword},
		{"nfs_export", d.NFSExport}, {"public_url", d.PublicURL},
	} {
		if a.v.IsNull() {
			diags.AddAttributeError(at(a.name), "Missing data_stores."+a.name, "The node needs "+a.name+" to reach its data stores.")
		}
	}
	if known(d.PostgresDatabase) {
		if err := spec.CheckDatabaseName(d.PostgresDatabase.ValueString()); err != nil {
			diags.AddAttributeError(at("postgres_database"), "Invalid database name", err.Error())
		}
	}
	if known(d.PostgresUser) {
		if err := spec.CheckDatabaseUser(d.PostgresUser.ValueString()); err != nil {
			diags.AddAttributeError(at("postgres_user"), "Invalid database user", err.Error())
		}
	}
	if known(d.NFSExport) {
		if host, p, ok := strings.Cut(d.NFSExport.ValueString(), ":"); !ok || host == "" || !strings.HasPrefix(p, "/") {
			diags.AddAttributeError(at("nfs_export"), "Invalid nfs_export", "nfs_export must be host:/path, as hipchatdc_datastore_node's nfs_export output is.")
		}
	}
	if known(d.PublicURL) {
		if u, err := url.Parse(d.PublicURL.ValueString()); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			diags.AddAttributeError(at("public_url"), "Invalid public_url", "public_url must be the URL users reach Hipchat at, such as https://chat.example.com.")
		}
	}
}

func (nodeRole) modifyPlan(context.Context, *nodeModel, *nodeModel, *diag.Diagnostics) {}

func (d *nodeDataStoresModel) recipe() (hipchat.DataStores, hipchat.Commands) {
	return hipchat.DataStores{
			PostgresHost: d.PostgresHost.ValueString(), PostgresPort: int(d.PostgresPort.ValueInt64()),
			Database: d.PostgresDatabase.ValueString(), User: d.PostgresUser.ValueString(), Password: d.PostgresPassword.ValueString(),
			RedisHost: d.RedisHost.ValueString(), RedisPort: int(d.RedisPort.ValueInt64()), RedisPassword: d.RedisPassword.ValueString(),
			NFSExport: d.NFSExport.ValueString(), PublicURL: d.PublicURL.ValueString(),
		}, hipchat.Commands{
			Configure: d.ConfigureCommand.ValueString(), SelfCheck: d.SelfCheckCommand.ValueString(), ConfigFile: d.ConfigFile.ValueString(),
		}
}

// apply wires the node to its data stores: the appliance's configuration file, its configure
// command and its self-check, whose own words fail the apply when a data store is not reachable.
func (nodeRole) apply(ctx context.Context, conn *guest.Conn, plan, prior *nodeModel, diags *diag.Diagnostics) {
	created := prior == nil
	if plan.DataStores == nil {
		return
	}
	d, c := plan.DataStores.recipe()
	if err := d.Validate(); err != nil {
		diags.AddAttributeError(path.Root("data_stores"), "Invalid data_stores", err.Error())
		return
	}
	// Created or updated alongside its data stores (the module wires it from values known at
	// plan time), the node gets here first: it waits, within its create or update timeout, for
	// the data stores' create or update this provider process is running (a new password must
	// be set there before the self-check uses it), then for them to answer.
	nfsHost, _, _ := strings.Cut(d.NFSExport, ":")
	hosts := []string{d.PostgresHost, d.RedisHost, nfsHost}
	settled := func() error { return dataStores.settle(ctx, hosts...) }
	progress := func(pending []string) error {
		tflog.Info(ctx, "waiting for the data stores to answer from the node", map[string]any{"not_answering": pending})
		return dataStores.failedAt(hosts...)
	}
	res, err := hipchat.ApplyWhenAnswering(ctx, conn, d, c, settled, progress)
	if err != nil {
		summary := "Cannot configure the node's data stores"
		var silent *hipchat.NotAnsweringError
		var failed *applyFailedError
		switch {
		case errors.As(err, &failed):
			diags.AddAttributeError(path.Root("data_stores"), "The node's data stores failed",
				"data_stores: "+err.Error()+". Fix what failed there and apply again."+failedNodeFate(created))
			return
		case hipchat.IsSelfCheckFailure(err):
			summary = selfCheckFailed
		case errors.As(err, &silent):
			diags.AddAttributeError(path.Root("data_stores"), "The node's data stores do not answer",
				"data_stores: "+err.Error()+". Check the hosts and ports in the data_stores block and that those services run and "+
					"let the node in (the wait ends with the resource's create or update timeout, `timeouts`)."+failedNodeFate(created))
			return
		}
		diags.AddAttributeError(path.Root("data_stores"), summary, err.Error())
		return
	}
	if res.Changed {
		tflog.Info(ctx, "node configured for its data stores", map[string]any{"self_check": res.SelfCheck})
	}
}

// selfCheckFailed is the summary of a failed self-check.
const selfCheckFailed = "The node's self-check failed"

// failedNodeFate ends the message of a failed data stores step: what became of the node VM.
func failedNodeFate(created bool) string {
	if created {
		return " The new node VM is destroyed again (a warning says so, or an error why it could not be): the next apply creates it afresh."
	}
	return " The node VM keeps its previous data stores configuration; the next apply tries again."
}

// discardFailedCreate: a new node VM whose create failed after the VM was made (its self-check,
// data stores that never answer, a guest that never gets an address, SSH, an interrupted apply)
// is destroyed by its create. Kept (tainted), under create_before_destroy, as the module and the
// upgrade guide use it, it would stay the current object with the node it was to replace
// deposed; the next apply would then stop at "A VM of this name already exists" (its
// replacement takes the same name and address), or, given a third identity, destroy the deposed
// (serving) node once any new one passes. Removed, the create leaves no object, Terraform
// restores the old node as the current one, and the next apply is the same create or
// replacement again, with nothing to clear by hand. The price is a new import of the OVA.
func (nodeRole) discardFailedCreate(diags diag.Diagnostics) bool {
	return diags.HasError()
}

// readScript always reads the appliance's configuration: an imported node shows where it points.
func (nodeRole) readScript(m *nodeModel) string {
	var c hipchat.Commands
	if m.DataStores != nil {
		_, c = m.DataStores.recipe()
	}
	return hipchat.ReadScript(c.WithDefaults())
}

func (nodeRole) parse(_ context.Context, out string, m *nodeModel, imported bool, diags *diag.Diagnostics) {
	st, err := hipchat.Parse(out)
	if err != nil {
		diags.AddError("Cannot read the node's data stores configuration", err.Error())
		return
	}
	var drift []string
	switch {
	case m.DataStores != nil:
		d, c := m.DataStores.recipe()
		drift = st.Drift(d, c)
	case imported && st.ConfigPresent && st.ConfigError == "":
		got := st.DataStores
		m.DataStores = &nodeDataStoresModel{
			PostgresHost: stringValue(got.PostgresHost), PostgresPort: intValue(got.PostgresPort),
			PostgresDatabase: stringValue(got.Database), PostgresUser: stringValue(got.User), PostgresPassword: stringValue(got.Password),
			RedisHost: stringValue(got.RedisHost), RedisPort: intValue(got.RedisPort), RedisPassword: stringValue(got.RedisPassword),
			NFSExport: stringValue(got.NFSExport), PublicURL: stringValue(got.PublicURL),
			ConfigFile:       types.StringValue(hipchat.DefaultConfigFile),
			ConfigureCommand: types.StringValue(hipchat.DefaultConfigure),
			SelfCheckCommand: types.StringValue(hipchat.DefaultSelfCheck),
		}
	}
	m.Drift = stringList(drift, types.ListValueMust(types.StringType, nil))
}
