package spec

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// CheckIPv4 parses a node's static address: the guide requires a static IPv4 address.
func CheckIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address (for example 10.0.0.100)", s)
	}
	if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%s cannot be a host's static address", a)
	}
	return a, nil
}

// CheckPrivate applies "The node must have a static IPv4 address. (This IP should not be
// accessible by the public internet.)" and "Hipchat nodes must be deployed on a private network".
func CheckPrivate(a netip.Addr) error {
	if !a.IsPrivate() {
		return fmt.Errorf("%s is not a private (RFC 1918) address; the guide puts the cluster on a private network. Set allow_public_ipv4 = true if this address really is not reachable from the internet", a)
	}
	return nil
}

// CheckPrefix turns a prefix length into the address's network, refusing lengths that leave no
// room for a gateway.
func CheckPrefix(a netip.Addr, bits int64) (netip.Prefix, error) {
	if bits < 1 || bits > 30 {
		return netip.Prefix{}, fmt.Errorf("prefix length %d is out of range 1-30 (for example 24 for netmask 255.255.255.0)", bits)
	}
	p := netip.PrefixFrom(a, int(bits))
	if a == p.Masked().Addr() {
		return netip.Prefix{}, fmt.Errorf("%s is the network address of %s, not a host address", a, p.Masked())
	}
	return p, nil
}

// CheckGateway requires the gateway to be a different host inside the address's network: a
// gateway outside it leaves the node without a default route after `ifup`.
func CheckGateway(p netip.Prefix, gw string) error {
	g, err := netip.ParseAddr(gw)
	if err != nil || !g.Is4() {
		return fmt.Errorf("%q is not an IPv4 address", gw)
	}
	if !p.Masked().Contains(g) {
		return fmt.Errorf("gateway %s is outside the network %s of the address %s", g, p.Masked(), p.Addr())
	}
	if g == p.Addr() {
		return fmt.Errorf("gateway %s is the node's own address", g)
	}
	return nil
}

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// CheckHostname applies RFC 1123 syntax and the guide's hostname hints: unique, not `hipchat`,
// and different from the public DNS name used to reach the cluster (publicName may be empty).
func CheckHostname(name, publicName string) error {
	if len(name) == 0 || len(name) > 253 {
		return fmt.Errorf("hostname %q must be 1 to 253 characters", name)
	}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if !hostLabel.MatchString(l) {
			return fmt.Errorf("hostname %q: label %q must be 1-63 letters, digits or dashes, not starting or ending with a dash", name, l)
		}
	}
	first := strings.ToLower(strings.SplitN(name, ".", 2)[0])
	if first == "hipchat" {
		return fmt.Errorf("hostname %q: the guide says not to call a node hipchat (\"We know it's tempting ... but resist!\"); use a unique name such as hipchat-worker-1.example.com", name)
	}
	if publicName != "" && strings.EqualFold(strings.TrimSuffix(name, "."), strings.TrimSuffix(publicName, ".")) {
		return fmt.Errorf("hostname %q is the cluster's public DNS name; the guide asks for a node name different from it, for clarity in logs and troubleshooting", name)
	}
	return nil
}

// CheckNTPServer accepts a host name or an IP address, as `hipchat service --ntp-servers`
// takes a comma-separated list of them.
func CheckNTPServer(s string) error {
	if s == "" || strings.ContainsAny(s, ", \t") {
		return fmt.Errorf("NTP server %q must be one host name or address (no commas or spaces)", s)
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !hostLabel.MatchString(l) {
			return fmt.Errorf("NTP server %q is neither an IP address nor a valid host name", s)
		}
	}
	return nil
}

// DefaultNTPServers are the Atlassian servers the appliance uses when none are configured.
var DefaultNTPServers = []string{"0.atlassian.pool.ntp.org", "1.atlassian.pool.ntp.org"}
