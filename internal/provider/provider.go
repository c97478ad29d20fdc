// Package provider is the hipchatdc provider: its configuration schema, the vSphere session it
// shares with every resource and data source of a run, and their registry.
package provider

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/resources"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// Address is the provider's registry source address.
const Address = "registry.terraform.io/hipchatdc/hipchatdc"

// New returns a constructor of the provider, as providerserver expects.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &hipchatdcProvider{version: version} }
}

type hipchatdcProvider struct{ version string }

var _ provider.ProviderWithValidateConfig = (*hipchatdcProvider)(nil)

type providerModel struct {
	VSphereServer      types.String               `tfsdk:"vsphere_server"`
	User               types.String               `tfsdk:"user"`
	Password           types.String               `tfsdk:"password"`
	AllowUnverifiedSSL types.Bool                 `tfsdk:"allow_unverified_ssl"`
	CAFile             types.String               `tfsdk:"ca_file"`
	APITimeout         types.Int64                `tfsdk:"api_timeout"`
	SSH                *resources.ConnectionModel `tfsdk:"ssh"`
}

func (p *hipchatdcProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "hipchatdc"
	resp.Version = p.version
}

func (p *hipchatdcProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Deploys a small-scale Hipchat Data Center cluster on VMware vSphere: the Hipchat node, " +
			"the data stores node (Redis, NFS v4, Postgres) and the reverse proxy, sized and configured to Atlassian's guide. " +
			"vSphere settings fall back to the same environment variables as the vsphere provider.",
		Attributes: map[string]schema.Attribute{
			"vsphere_server": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "vCenter Server (or standalone ESXi host) host name, `host:port` or URL. Environment: `VSPHERE_SERVER`. " +
					"For ESXi hosts without a vCenter, one provider configuration (`alias`) per host: see the standalone ESXi guide.",
			},
			"user": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "vSphere user name. Environment: `VSPHERE_USER`.",
			},
			"password": schema.StringAttribute{
				Optional:            true,
				Sensitive:           true,
				MarkdownDescription: "vSphere password. Environment: `VSPHERE_PASSWORD`.",
			},
			"allow_unverified_ssl": schema.BoolAttribute{
				Optional:            true,
				MarkdownDescription: "Skip verification of the vSphere server's TLS certificate. Environment: `VSPHERE_ALLOW_UNVERIFIED_SSL`. Prefer `ca_file`.",
			},
			"ca_file": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "PEM file of certificate authorities to trust for the vSphere server, in addition to the system's. Environment: `VSPHERE_CA_FILE`.",
			},
			"api_timeout": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Minutes to wait for a single vSphere API call. Default 5. Environment: `VSPHERE_API_TIMEOUT`.",
			},
		},
		Blocks: map[string]schema.Block{
			"ssh": schema.SingleNestedBlock{
				MarkdownDescription: "Defaults for every resource's `ssh` block: how the provider reaches guests over SSH. " +
					"Named like Terraform's `connection` block. Unset values fall back to the environment: `HIPCHATDC_SSH_USER`, " +
					"`HIPCHATDC_SSH_PRIVATE_KEY_FILE`, `HIPCHATDC_SSH_KNOWN_HOSTS`, `HIPCHATDC_SSH_BASTION_HOST`, `HIPCHATDC_SSH_BASTION_PORT`, " +
					"`HIPCHATDC_SSH_BASTION_USER` and `HIPCHATDC_SSH_BASTION_HOST_KEY`; `HIPCHATDC_SSH_KNOWN_HOSTS` only when the block sets neither `host_key` " +
					"nor `insecure_ignore_host_key = true`.",
				Attributes: resources.ProviderSSHAttributes(),
			},
		},
	}
}

func (p *hipchatdcProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	// The release the build stamped into main.version ("dev" for go build): the first thing a
	// bug report's TF_LOG output should say.
	tflog.Info(ctx, "configuring the hipchatdc provider", map[string]any{"version": p.version})
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}

	cfg := vsphere.Config{
		Server:   stringOr(m.VSphereServer, os.Getenv("VSPHERE_SERVER")),
		User:     stringOr(m.User, os.Getenv("VSPHERE_USER")),
		Password: stringOr(m.Password, os.Getenv("VSPHERE_PASSWORD")),
		CAFile:   stringOr(m.CAFile, os.Getenv("VSPHERE_CA_FILE")),
		Timeout:  5 * time.Minute,
	}
	unknown := m.VSphereServer.IsUnknown() || m.User.IsUnknown() || m.Password.IsUnknown() ||
		m.AllowUnverifiedSSL.IsUnknown() || m.CAFile.IsUnknown() || m.APITimeout.IsUnknown()

	cfg.AllowUnverifiedSSL = envBool("VSPHERE_ALLOW_UNVERIFIED_SSL")
	if !m.AllowUnverifiedSSL.IsNull() && !m.AllowUnverifiedSSL.IsUnknown() {
		cfg.AllowUnverifiedSSL = m.AllowUnverifiedSSL.ValueBool()
	}
	if v := os.Getenv("VSPHERE_API_TIMEOUT"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			cfg.Timeout = time.Duration(n) * time.Minute
		} else {
			resp.Diagnostics.AddAttributeError(path.Root("api_timeout"), "Invalid VSPHERE_API_TIMEOUT",
				"VSPHERE_API_TIMEOUT must be a whole number of minutes, got "+strconv.Quote(v)+".")
		}
	}
	if !m.APITimeout.IsNull() && !m.APITimeout.IsUnknown() {
		if m.APITimeout.ValueInt64() < 1 {
			resp.Diagnostics.AddAttributeError(path.Root("api_timeout"), "Invalid api_timeout",
				"api_timeout is in minutes and must be at least 1.")
		}
		cfg.Timeout = time.Duration(m.APITimeout.ValueInt64()) * time.Minute
	}

	ssh, sshEnv, err := sshFromEnv(m.SSH)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ssh").AtName("private_key"), "Cannot read HIPCHATDC_SSH_PRIVATE_KEY_FILE", err.Error())
		return
	}
	data := &resources.ProviderData{SSH: ssh, SSHEnv: sshEnv}
	switch {
	case unknown:
		// A value is only known after apply (for example it comes from another resource).
		// Connect when a resource first needs vSphere, during apply.
		data.VSphere = lazySession(cfg)
	default:
		for _, miss := range []struct{ attr, env, val string }{
			{"vsphere_server", "VSPHERE_SERVER", cfg.Server},
			{"user", "VSPHERE_USER", cfg.User},
			{"password", "VSPHERE_PASSWORD", cfg.Password},
		} {
			if miss.val == "" {
				resp.Diagnostics.AddAttributeError(path.Root(miss.attr), "Missing vSphere "+miss.attr,
					"Set "+miss.attr+" in the provider block or the environment variable "+miss.env+".")
			}
		}
		if resp.Diagnostics.HasError() {
			return
		}
		c, err := session(ctx, cfg)
		if err != nil {
			addConnectError(&resp.Diagnostics, cfg, err)
			return
		}
		data.VSphere = func(context.Context) (*vsphere.Client, error) { return c, nil }
		data.Connected = true
	}
	resp.ResourceData = data
	resp.DataSourceData = data
}

// ValidateConfig refuses at plan time what the ssh block cannot mean: two ways to verify host
// keys at once.
func (p *hipchatdcProvider) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resources.ValidateHostKeySettings(m.SSH, path.Root("ssh"), "the provider's ssh block", &resp.Diagnostics)
}

func (p *hipchatdcProvider) Resources(context.Context) []func() resource.Resource {
	return resources.All()
}

func (p *hipchatdcProvider) DataSources(context.Context) []func() datasource.DataSource {
	return resources.AllDataSources()
}

func stringOr(v types.String, fallback string) string {
	if v.IsNull() || v.IsUnknown() {
		return fallback
	}
	return v.ValueString()
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}
