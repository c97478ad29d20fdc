package resources

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/firewall"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nginx"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck"
)

// NewReverseProxyResource is hipchatdc_reverse_proxy: NGINX terminating TLS in front of the
// Hipchat node(s).
func NewReverseProxyResource() resource.Resource {
	return &vmResource[proxyModel, *proxyModel]{role: proxyRole{}}
}

type proxyModel struct {
	vmCore
	PublicHostname    types.String `tfsdk:"public_hostname"`
	CertificatePEM    types.String `tfsdk:"certificate_pem"`
	PrivateKeyPEM     types.String `tfsdk:"private_key_pem"`
	Nodes             types.List   `tfsdk:"nodes"`
	NodeHostnames     types.List   `tfsdk:"node_hostnames"`
	ClientMaxBodySize types.String `tfsdk:"client_max_body_size"`
	ReadTimeout       types.Int64  `tfsdk:"read_timeout"`
	SessionAffinity   types.String `tfsdk:"session_affinity"`
	Firewall          types.Bool   `tfsdk:"firewall"`
	FirewallExtra     types.List   `tfsdk:"firewall_extra_ports"`

	CertificateFingerprint types.String `tfsdk:"certificate_fingerprint"`
	URL                    types.String `tfsdk:"url"`
}

type proxyRole struct{}

func (proxyRole) spec() spec.Role                    { return spec.RoleReverseProxy }
func (proxyRole) flavor() identity.Flavor            { return identity.Debian }
func (proxyRole) typeSuffix() string                 { return "_reverse_proxy" }
func (proxyRole) extraDisks(*proxyModel) []int64     { return nil }
func (proxyRole) setExtraDisks(*proxyModel, []int64) {}

func (proxyRole) description() string {
	return "The reverse proxy of the small-scale guide: a Debian or Ubuntu server VM running NGINX that terminates TLS on 443 " +
		"with the given certificate (checked at plan time), redirects 80 to HTTPS and forwards to the Hipchat node(s) on port 80 " +
		"with HTTP keep-alive and WebSocket support; with several nodes it load-balances with session stickiness (the " +
		"Enterprise-scale path). `nginx -t` runs before every reload, and a rejected configuration leaves the previous one serving."
}

func (proxyRole) blocks() map[string]schema.Block { return nil }

func (proxyRole) attributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"public_hostname": schema.StringAttribute{
			Required:            true,
			MarkdownDescription: "The DNS name clients use (`chat.example.com`): NGINX's `server_name`, and a name the certificate must cover.",
		},
		"certificate_pem": schema.StringAttribute{
			Required:            true,
			MarkdownDescription: "Certificate chain in PEM, the leaf first, then its intermediate(s). Checked at plan time: it parses, matches `private_key_pem`, is valid now (a warning when it expires within 30 days), covers `public_hostname`, and passes what NGINX checks at OpenSSL's default security level 2: RSA keys of at least 2048 bits, elliptic-curve keys of at least 224 bits, no SHA-1 or MD5 signature (but on a self-signed certificate). A warning when the leaf's issuer is not in the chain: clients that do not have that intermediate already would fail to verify the certificate. Changing it is an in-place update (NGINX reloads without dropping requests).",
		},
		"private_key_pem": schema.StringAttribute{
			Required: true, Sensitive: true,
			MarkdownDescription: "Private key of the certificate in PEM, written with mode 0600 and never on a command line.",
		},
		"nodes": schema.ListAttribute{
			ElementType: types.StringType, Required: true,
			MarkdownDescription: "Addresses of the Hipchat nodes (`10.0.0.100`, optionally with `:port`; port 80 by default). Several nodes are load-balanced with session stickiness. " +
				"May be empty (`[]`) when the nodes are added with `hipchatdc_reverse_proxy_node` instead, as a node that is replaced without downtime must be (see the guide \"Upgrade the Hipchat node\"); " +
				"the two add up, but a node is listed in only one of them. With no node at all NGINX answers 502.",
		},
		"node_hostnames": schema.ListAttribute{
			ElementType: types.StringType, Optional: true,
			MarkdownDescription: "Host names of the nodes, checked to differ from `public_hostname` (the guide's hostname hint).",
		},
		"client_max_body_size": schema.StringAttribute{
			Optional: true, Computed: true, Default: stringdefault.StaticString(nginx.DefaultClientMaxBodySize),
			MarkdownDescription: "Largest upload NGINX accepts (file sharing); NGINX's own default of 1m would refuse most files.",
			Validators:          []validator.String{matches(nginxSize, "must be an NGINX size such as 100m")},
		},
		"read_timeout": schema.Int64Attribute{
			Optional: true, Computed: true, Default: int64default.StaticInt64(int64(nginx.DefaultReadTimeout / time.Second)),
			MarkdownDescription: "Seconds NGINX waits for a node's answer; long enough for chat long-polling and quiet WebSockets.",
			Validators:          []validator.Int64{int64validator.Between(1, 86400)},
		},
		"session_affinity": schema.StringAttribute{
			Optional: true, Computed: true, Default: stringdefault.StaticString(string(nginx.AffinityCookie)),
			MarkdownDescription: "How a session sticks to one node: `cookie` (a route cookie, like NGINX Plus' sticky cookie) or `client_address`.",
			Validators:          []validator.String{stringvalidator.OneOf(string(nginx.AffinityCookie), string(nginx.AffinityClientAddress))},
		},
		"firewall": firewallAttribute("Here only SSH (the port the provider connects to, 22 by default), HTTP (80) and HTTPS (443) are open, to anyone: the proxy is the private network's way in. " +
			"The guest needs the nftables package (`nft`)."),
		"firewall_extra_ports": firewallExtraPortsAttribute(),
		"drift":                driftAttribute("for example the private key file replaced by hand, NGINX not running, or a firewall rule deleted"),
		"certificate_fingerprint": schema.StringAttribute{
			Computed: true, MarkdownDescription: "SHA-256 fingerprint of the certificate NGINX serves.",
		},
		"url": schema.StringAttribute{
			Computed: true, MarkdownDescription: "The cluster's public URL, `https://public_hostname`.",
		},
	}
}

func (m *proxyModel) site(ctx context.Context) nginx.Site {
	return nginx.Site{
		ServerName:        m.PublicHostname.ValueString(),
		Nodes:             listStrings(ctx, m.Nodes),
		CertificatePEM:    m.CertificatePEM.ValueString(),
		PrivateKeyPEM:     m.PrivateKeyPEM.ValueString(),
		ClientMaxBodySize: m.ClientMaxBodySize.ValueString(),
		ReadTimeout:       time.Duration(m.ReadTimeout.ValueInt64()) * time.Second,
		Affinity:          nginx.Affinity(m.SessionAffinity.ValueString()),
	}
}

var tlsFieldAttr = map[tlscheck.Field]string{
	tlscheck.Certificate:    "certificate_pem",
	tlscheck.PrivateKey:     "private_key_pem",
	tlscheck.PublicHostname: "public_hostname",
}

func (proxyRole) validate(ctx context.Context, m *proxyModel, diags *diag.Diagnostics) {
	m.validate(ctx, spec.RoleReverseProxy, m.PublicHostname.ValueString(), diags)
	validateExtraPorts(m.FirewallExtra, diags)
	if known(m.PublicHostname) {
		if err := spec.CheckHostname(m.PublicHostname.ValueString(), ""); err != nil && !strings.Contains(err.Error(), "resist") {
			diags.AddAttributeError(path.Root("public_hostname"), "Invalid public_hostname", err.Error())
		}
	}
	in := tlscheck.Input{NodeHostnames: listStrings(ctx, m.NodeHostnames)}
	if known(m.CertificatePEM) {
		in.CertificatePEM = m.CertificatePEM.ValueString()
	}
	if known(m.PrivateKeyPEM) {
		in.PrivateKeyPEM = m.PrivateKeyPEM.ValueString()
	}
	if known(m.PublicHostname) {
		in.PublicHostname = m.PublicHostname.ValueString()
	}
	res := tlscheck.Check(in)
	for _, f := range res.Errors {
		diags.AddAttributeError(path.Root(tlsFieldAttr[f.Field]), f.Summary, f.Detail)
	}
	for _, f := range res.Warnings {
		diags.AddAttributeWarning(path.Root(tlsFieldAttr[f.Field]), f.Summary, f.Detail)
	}
	eachKnownString(m.Nodes, func(i int, n string) {
		if _, err := nginx.NormalizeNode(n); err != nil {
			diags.AddAttributeError(path.Root("nodes").AtListIndex(i), "Invalid node address", err.Error())
		}
	})
}

func (proxyRole) modifyPlan(_ context.Context, plan, _ *proxyModel, _ *diag.Diagnostics) {
	if known(plan.PublicHostname) {
		plan.URL = types.StringValue("https://" + plan.PublicHostname.ValueString())
	}
	if known(plan.CertificatePEM) {
		if fp, err := tlscheck.LeafFingerprint(plan.CertificatePEM.ValueString()); err == nil {
			plan.CertificateFingerprint = types.StringValue(fp)
		}
	}
}

func (proxyRole) apply(ctx context.Context, conn *guest.Conn, plan, _ *proxyModel, diags *diag.Diagnostics) {
	res, err := nginx.Apply(ctx, conn, plan.site(ctx))
	if err != nil {
		var rej *nginx.RejectedError
		if errors.As(err, &rej) {
			diags.AddAttributeError(path.Root("nodes"), "NGINX rejected the configuration", err.Error())
		} else {
			diags.AddError("Cannot configure NGINX", err.Error())
		}
		return
	}
	if len(res.Changed) > 0 {
		tflog.Info(ctx, "nginx configured", map[string]any{"changed": res.Changed, "reloaded": res.Reloaded, "started": res.Started})
	}
	applyFirewall(ctx, conn, plan.guestFirewall(), diags)
}

// guestFirewall is the guest firewall the configuration asks for.
func (m *proxyModel) guestFirewall() firewall.Config {
	return firewallConfig(spec.RoleReverseProxy, "hipchatdc_reverse_proxy", m.Firewall.ValueBool(), netip.Prefix{}, nil, nil, extraPortRules(m.FirewallExtra))
}

func (proxyRole) readScript(*proxyModel) string { return nginx.ReadScript() + firewall.ReadScript() }

// parse refreshes the deployed site and certificate, so that a certificate changed on the host
// shows in the plan.
func (proxyRole) parse(ctx context.Context, out string, m *proxyModel, imported bool, diags *diag.Diagnostics) {
	st, err := nginx.Parse(out)
	if err != nil {
		diags.AddError("Cannot read NGINX", err.Error())
		return
	}
	var drift []string
	if !st.Deployed {
		drift = append(drift, "the site configuration is missing")
	} else {
		want := m.site(ctx).WithDefaults()
		got := st.Site
		m.PublicHostname = types.StringValue(got.ServerName)
		if !slices.Equal(got.Nodes, want.Nodes) {
			// Shown as users write them: the default port left out.
			nodes := make([]string, len(got.Nodes))
			for i, n := range got.Nodes {
				nodes[i] = strings.TrimSuffix(n, ":"+strconv.Itoa(nginx.DefaultPort))
			}
			m.Nodes = stringList(nodes, m.Nodes)
		}
		m.ClientMaxBodySize = types.StringValue(got.ClientMaxBodySize)
		m.ReadTimeout = types.Int64Value(int64(got.ReadTimeout / time.Second))
		m.SessionAffinity = types.StringValue(string(got.Affinity))
		if strings.TrimSpace(st.CertificatePEM) != strings.TrimSpace(m.CertificatePEM.ValueString()) {
			m.CertificatePEM = types.StringValue(st.CertificatePEM)
		}
		if known(m.PrivateKeyPEM) && st.KeySHA256 != nginx.KeyDigest(m.PrivateKeyPEM.ValueString()) {
			drift = append(drift, "the private key file differs from private_key_pem")
		}
	}
	if st.Deployed && !strings.Contains(st.Config, nginx.MembersInclude) {
		// Its parameters may all be as configured: only this entry makes the next apply
		// rewrite the site, so that hipchatdc_reverse_proxy_node can add nodes to it.
		drift = append(drift, "the site configuration does not include the hipchatdc_reverse_proxy_node memberships (written by an earlier provider version)")
	}
	if !st.Running {
		drift = append(drift, "nginx is not running")
	}
	m.CertificateFingerprint = stringValue(st.CertificateFingerprint)
	m.URL = types.StringValue("https://" + m.PublicHostname.ValueString())
	drift = append(drift, parseFirewall(out, m.guestFirewall(), imported, &m.Firewall, diags)...)
	m.Drift = stringList(drift, types.ListValueMust(types.StringType, nil))
}
