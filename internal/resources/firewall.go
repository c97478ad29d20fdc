package resources

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

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
			" Every other inbound connection is refused (TCP) or dropped, `firewall_extra_ports` aside; replies and the guest's own outbound connections pass. " +
			"The provider owns one nftables table, `inet hipchatdc`, loaded from `" + firewall.RulesFile + "` in one transaction and again at each boot (an ifupdown hook, `" +
			firewall.HookFile + "`); it does not change other tables, but **an accept in another table cannot reopen a port this table refuses** (nftables drops or " +
			"rejects a packet that any table's input chain drops or rejects): list the ports your own agents (monitoring, backup) listen on in `firewall_extra_ports`. " +
			"A rule changed or deleted by hand, or the table flushed, shows in `drift` and the next apply restores it. " +
			"`false` leaves the guest's firewall to you: the provider removes its own table, file and hook, and touches nothing else.",
	}
}

// firewallExtraPortsAttribute is the way in for the user's own services (finding: another
// nft table cannot reopen a port the provider's table refuses).
func firewallExtraPortsAttribute() schema.Attribute {
	return schema.ListAttribute{
		ElementType: types.StringType, Optional: true,
		MarkdownDescription: "More inbound ports the guest's firewall lets in when `firewall` is on, for your own services (a monitoring or backup agent): " +
			"`\"PROTO/PORT\"` from anywhere, or `\"PROTO/PORT from SOURCE\"` from one IPv4 address or network, PROTO being `tcp` or `udp` " +
			"(for example `[\"tcp/9100 from 10.0.0.0/24\", \"udp/161\"]`). An accept in another nftables table cannot do this: every port not listed here " +
			"or opened by the guide's rules stays closed.",
	}
}

// parseExtraPort reads a firewall_extra_ports entry: "tcp/9100" or "tcp/9100 from 10.0.0.0/24".
func parseExtraPort(s string) (firewall.Rule, error) {
	entry, from, hasFrom := strings.Cut(strings.TrimSpace(s), " from ")
	proto, port, ok := strings.Cut(strings.TrimSpace(entry), "/")
	n, err := strconv.Atoi(port)
	if !ok || (proto != "tcp" && proto != "udp") || err != nil || n < 1 || n > 65535 {
		return firewall.Rule{}, fmt.Errorf("%q is not PROTO/PORT with PROTO tcp or udp and PORT 1 to 65535, optionally followed by \" from \" and an IPv4 address or network "+
			"(for example \"tcp/9100\" or \"tcp/9100 from 10.0.0.0/24\")", s)
	}
	r := firewall.Rule{Service: "extra " + proto + "/" + port, Proto: proto, Port: n}
	if hasFrom {
		p, err := parseSource(strings.TrimSpace(from))
		if err != nil {
			return firewall.Rule{}, fmt.Errorf("in %q: %w", s, err)
		}
		r.From = []netip.Prefix{p}
		r.Service += " from " + p.String()
	}
	return r, nil
}

// validateExtraPorts checks firewall_extra_ports at plan time.
func validateExtraPorts(l types.List, diags *diag.Diagnostics) {
	eachKnownString(l, func(i int, s string) {
		if _, err := parseExtraPort(s); err != nil {
			diags.AddAttributeError(path.Root("firewall_extra_ports").AtListIndex(i), "Invalid firewall_extra_ports entry",
				fmt.Sprintf("firewall_extra_ports[%d]: %s.", i, err))
		}
	})
}

// extraPortRules are the firewall_extra_ports entries as rules (invalid ones were refused at plan).
func extraPortRules(l types.List) []firewall.Rule {
	var rules []firewall.Rule
	eachKnownString(l, func(_ int, s string) {
		if r, err := parseExtraPort(s); err == nil {
			rules = append(rules, r)
		}
	})
	return rules
}

// firewallConfig maps the guide's rules for role (spec.InboundRules) to the guest's: ports
// moved by attributes, the nodes' network, extra SSH sources. SSH follows the port the
// provider's session reached, so a guest whose sshd is elsewhere than 22 is not locked out.
func firewallConfig(role spec.Role, resource string, enabled bool, nodes netip.Prefix, sshSources []netip.Prefix, ports map[string]int, extra []firewall.Rule) firewall.Config {
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
	c.Rules = append(c.Rules, extra...)
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
