package resources

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/firewall"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// guideFirewallSentence is what the firewall attributes quote.
const guideFirewallSentence = `"Your private network should only allow inbound connections on port 80 (HTTP), 443 (HTTPS), and 22 (SSH)."`

// firewallAttribute is the opt-out shared by the data-stores node and the reverse proxy; opens
// says which ports the role's firewall opens, to whom.
func firewallAttribute(opens string) schema.Attribute {
	return schema.BoolAttribute{
		Optional: true, Computed: true, Default: booldefault.StaticBool(true),
		MarkdownDescription: "Filter inbound connections with the guest's own firewall (nftables), as the guide asks: " + guideFirewallSentence + " " + opens +
			" Every other inbound TCP connection is refused; replies and the guest's own outbound connections pass. The provider owns one nftables table, `inet hipchatdc`, " +
			"loaded from `" + firewall.RulesFile + "` in one transaction and again at each boot (an ifupdown hook, `" + firewall.HookFile + "`); other tables are left alone. " +
			"A rule changed or deleted by hand, or the table flushed, shows in `drift` and the next apply restores it. " +
			"`false` leaves the guest's firewall to you: the provider removes its own table, file and hook, and touches nothing else.",
	}
}

// firewallConfig maps the guide's rules for role (spec.InboundRules) to the guest's: ports
// moved by attributes, the nodes' network, extra SSH sources. SSH follows the port the
// provider's session reached, so a guest whose sshd is elsewhere than 22 is not locked out.
func firewallConfig(role spec.Role, resource string, enabled bool, nodes netip.Prefix, sshSources []netip.Prefix, ports map[string]int) firewall.Config {
	c := firewall.Config{Enabled: enabled, Resource: resource}
	for _, in := range spec.InboundRules[role] {
		r := firewall.Rule{Service: in.Service, Port: in.Port}
		if p, ok := ports[in.Service]; ok && p != 0 {
			r.Port = p
		}
		if in.Port == spec.SSHPort {
			r.Port = 0
		}
		for _, from := range in.From {
			switch from {
			case spec.FromNodes:
				if nodes.IsValid() {
					r.From = append(r.From, nodes.Masked())
				}
			case spec.FromProvider:
				r.Provider = true
				r.From = append(r.From, sshSources...)
			}
		}
		c.Rules = append(c.Rules, r)
	}
	return c
}

// parseSource reads a firewall_ssh_sources entry: a network (10.1.0.0/16) or one address.
func parseSource(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address or network (for example 192.0.2.10 or 192.0.2.0/24)", s)
	}
	return p.Masked(), nil
}

// applyFirewall brings the guest's firewall to c over the provider's own connection, the one
// whose address the rules keep allowed.
func applyFirewall(ctx context.Context, conn *guest.Conn, c firewall.Config, diags *diag.Diagnostics) {
	res, err := firewall.Apply(ctx, conn, c)
	var lockout *firewall.LockoutError
	switch {
	case errors.Is(err, firewall.ErrNoNFT):
		diags.AddAttributeError(path.Root("firewall"), "Cannot configure the guest's firewall",
			err.Error()+". Install the nftables package on the guest, or set firewall = false to leave its firewall alone.")
		return
	case errors.As(err, &lockout):
		// Only the data stores' SSH rule has sources; the proxy's answers anywhere.
		diags.AddAttributeError(path.Root("firewall_ssh_sources"), "The firewall would lock the provider out",
			err.Error()+". The rules match IPv4 sources only: connect to the guest over IPv4 from an address in `firewall_ssh_sources` "+
				"(or the nodes' network, `allowed_cidr`), or set firewall = false to leave the guest's firewall to you.")
		return
	case err != nil:
		diags.AddAttributeError(path.Root("firewall"), "Cannot configure the guest's firewall",
			err.Error()+". Set firewall = false to leave the guest's firewall alone.")
		return
	}
	if len(res.Changed) > 0 {
		tflog.Info(ctx, "firewall configured", map[string]any{"changed": res.Changed, "provider_address": res.Before.Session.Client.String()})
	}
}

// parseFirewall reads the firewall from a refresh's output: its drift, and on import whether
// the provider's table is there.
func parseFirewall(out string, c firewall.Config, imported bool, enabled *types.Bool, diags *diag.Diagnostics) []string {
	st, err := firewall.Parse(out)
	if err != nil {
		diags.AddError("Cannot read the guest's firewall", err.Error())
		return nil
	}
	if imported {
		*enabled = types.BoolValue(st.TableLoaded)
		return nil
	}
	var d []string
	for _, s := range st.Drift(c) {
		d = append(d, "firewall: "+s)
	}
	return d
}
