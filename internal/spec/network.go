package spec

import (
	"encoding/binary"
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
// room for a gateway. The address itself is CheckHostAddress's.
func CheckPrefix(a netip.Addr, bits int64) (netip.Prefix, error) {
	if bits < 1 || bits > 30 {
		return netip.Prefix{}, fmt.Errorf("prefix length %d is out of range 1-30 (for example 24 for netmask 255.255.255.0)", bits)
	}
	return netip.PrefixFrom(a, int(bits)), nil
}

// CheckHostAddress refuses, as a host's static address, the network address and the broadcast
// address of its own network. Linux takes either on an interface without complaint, but other
// hosts send to them as to the whole network (the network address is the broadcast address of
// old stacks), so the VM is not reachable there and the failure shows long after the apply.
func CheckHostAddress(p netip.Prefix) error {
	if what := reservedAddress(p, p.Addr()); what != "" {
		return fmt.Errorf("%s is the %s address of %s, not a host address; %s", p.Addr(), what, p.Masked(), hostRange(p))
	}
	return nil
}

// CheckGateway requires the gateway to be a different host inside the address's network: a
// gateway outside it leaves the node without a default route after `ifup`, and the network or
// broadcast address is no host at all.
func CheckGateway(p netip.Prefix, gw string) error {
	g, err := netip.ParseAddr(gw)
	if err != nil || !g.Is4() {
		return fmt.Errorf("%q is not an IPv4 address", gw)
	}
	if !p.Masked().Contains(g) {
		return fmt.Errorf("gateway %s is outside the network %s of the address %s", g, p.Masked(), p.Addr())
	}
	if what := reservedAddress(p, g); what != "" {
		return fmt.Errorf("gateway %s is the %s address of %s, not a host that can route; %s", g, what, p.Masked(), hostRange(p))
	}
	if g == p.Addr() {
		return fmt.Errorf("gateway %s is the node's own address", g)
	}
	return nil
}

// reservedAddress names what a (an address inside p) is when it cannot be a host's: "network"
// or "broadcast", or "" for a host address. A /31 (a point-to-point link, RFC 3021) and a /32
// have neither: each of their addresses is a host's.
func reservedAddress(p netip.Prefix, a netip.Addr) string {
	if p.Bits() >= 31 {
		return ""
	}
	switch a {
	case p.Masked().Addr():
		return "network"
	case broadcast(p):
		return "broadcast"
	}
	return ""
}

// broadcast is the last address of an IPv4 network: all host bits set.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// hostRange says which addresses of p are hosts', for a message.
func hostRange(p netip.Prefix) string {
	first, last := p.Masked().Addr(), broadcast(p)
	if p.Bits() < 31 {
		first, last = first.Next(), last.Prev()
	}
	return fmt.Sprintf("the hosts of %s are %s to %s", p.Masked(), first, last)
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

// CheckHostnameForm refuses a host name in upper case or with a trailing dot, naming the
// spelling to use. DNS ignores case, but Linux keeps a host name as written (`hostname`, logs,
// /etc/hosts), and a trailing dot marks a fully qualified DNS name: it is no part of a host name
// and does not belong in /etc/hostname. The provider cannot plan another value than the
// configured one (Terraform would call that an invalid plan), so it refuses instead of
// rewriting it, and plan, state and guest say the same.
func CheckHostnameForm(name string) error {
	want := strings.ToLower(strings.TrimSuffix(name, "."))
	if want == name {
		return nil
	}
	var why []string
	if strings.HasSuffix(name, ".") {
		why = append(why, "a trailing dot marks a fully qualified DNS name but is no part of the guest's host name")
	}
	if strings.ToLower(name) != name {
		why = append(why, "DNS ignores case but the guest keeps its host name as written, so it would differ from what DNS and the other hosts use")
	}
	return fmt.Errorf("hostname %q: %s; use %q", name, strings.Join(why, ", and "), want)
}

// NTPServerKey is what two entries of an NTP server list have in common when they name the same
// server: host names compare without case and trailing dot, addresses as addresses.
func NTPServerKey(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return strings.ToLower(strings.TrimSuffix(s, "."))
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
