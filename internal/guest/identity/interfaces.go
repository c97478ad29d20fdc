package identity

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Interface is the interface the guide configures.
const Interface = "eth0"

// Stanza is the IPv4 part of eth0 in /etc/network/interfaces.
type Stanza struct {
	Auto    bool   // an "auto eth0" (or allow-hotplug) line exists
	Method  string // "static", "dhcp", ...; empty when there is no "iface eth0 inet" line
	Address netip.Prefix
	Gateway netip.Addr
	DNS     []string
}

// stanzaStarts are the keywords that begin a new stanza in interfaces(5); any other
// non-comment line is an option of the iface stanza above it.
func stanzaStart(word string) bool {
	switch word {
	case "iface", "mapping", "auto", "source", "source-directory", "source-dir", "rename", "no-auto-down", "no-scripts":
		return true
	}
	return strings.HasPrefix(word, "allow-")
}

// value strips a trailing comment (the guide's example carries them) and takes the first word.
func fields(line string) []string {
	if i := strings.Index(line, "#"); i >= 0 {
		line = line[:i]
	}
	return strings.Fields(line)
}

// ParseInterfaces reads eth0's IPv4 stanza from the content of /etc/network/interfaces.
func ParseInterfaces(content string) (Stanza, error) {
	var s Stanza
	var addr netip.Addr
	bits := -1
	in := false
	for n, line := range strings.Split(content, "\n") {
		f := fields(line)
		if len(f) == 0 {
			continue
		}
		if stanzaStart(f[0]) {
			in = false
			switch {
			case (f[0] == "auto" || strings.HasPrefix(f[0], "allow-")) && contains(f[1:], Interface):
				s.Auto = true
			case f[0] == "iface" && len(f) >= 4 && f[1] == Interface && f[2] == "inet":
				in = true
				s.Method = f[3]
			}
			continue
		}
		if !in || len(f) < 2 {
			continue
		}
		var err error
		switch f[0] {
		case "address":
			if p, perr := netip.ParsePrefix(f[1]); perr == nil {
				addr, bits = p.Addr(), p.Bits()
			} else {
				addr, err = netip.ParseAddr(f[1])
			}
		case "netmask":
			bits, err = maskBits(f[1])
		case "gateway":
			s.Gateway, err = netip.ParseAddr(f[1])
		case "dns-nameservers":
			s.DNS = append([]string(nil), f[1:]...)
		}
		if err != nil {
			return s, fmt.Errorf("/etc/network/interfaces line %d: %q: %w", n+1, strings.TrimSpace(line), err)
		}
	}
	if addr.IsValid() {
		if bits < 0 {
			bits = 32
		}
		p, err := addr.Prefix(bits)
		if err != nil {
			return s, err
		}
		s.Address = netip.PrefixFrom(addr, p.Bits()) // keep the host address, not the network
	}
	return s, nil
}

// maskBits accepts a dotted netmask ("255.255.255.0") or a prefix length ("24").
func maskBits(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 32 {
		return n, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("netmask %q is not an IPv4 mask", s)
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for m&0x80000000 != 0 {
		ones++
		m <<= 1
	}
	if m != 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous", s)
	}
	return ones, nil
}

// Netmask renders a prefix length as the dotted mask the guide writes.
func Netmask(bits int) string {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

// RenderStanza is eth0's stanza exactly as the guide shows it, plus dns-nameservers.
func RenderStanza(address netip.Prefix, gateway netip.Addr, dns []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "auto %s\niface %s inet static\n", Interface, Interface)
	fmt.Fprintf(&b, "address %s\nnetmask %s\n", address.Addr(), Netmask(address.Bits()))
	if gateway.IsValid() {
		fmt.Fprintf(&b, "gateway %s\n", gateway)
	}
	if len(dns) > 0 {
		fmt.Fprintf(&b, "dns-nameservers %s\n", strings.Join(dns, " "))
	}
	return b.String()
}

// RenderInterfaces returns existing with eth0's IPv4 configuration replaced by a static
// stanza. Everything else (lo, other interfaces, eth0's inet6 stanzas, source lines,
// comments) stays where it was; the new stanza takes the place of the old "iface eth0 inet"
// block, or is appended.
func RenderInterfaces(existing string, address netip.Prefix, gateway netip.Addr, dns []string) string {
	stanza := RenderStanza(address, gateway, dns)
	var out, pending []string // pending: comments and blanks inside the old eth0 block
	placed, in := false, false
	lines := strings.Split(strings.TrimRight(existing, "\n"), "\n")
	if existing == "" {
		lines = nil
	}
	for _, line := range lines {
		f := fields(line)
		if len(f) == 0 {
			if in {
				// Belongs to the old block if an option follows, to the next stanza if not.
				pending = append(pending, line)
			} else {
				out = append(out, line)
			}
			continue
		}
		if !stanzaStart(f[0]) {
			if in {
				pending = nil // an option of the old eth0 inet stanza: dropped with it
				continue
			}
			out = append(out, line)
			continue
		}
		in = false
		out, pending = append(out, pending...), nil
		switch {
		case (f[0] == "auto" || strings.HasPrefix(f[0], "allow-")) && contains(f[1:], Interface):
			// "auto lo eth0" keeps lo; eth0 gets its own line in the new stanza.
			if rest := without(f[1:], Interface); len(rest) > 0 {
				out = append(out, f[0]+" "+strings.Join(rest, " "))
			}
		case f[0] == "iface" && len(f) >= 3 && f[1] == Interface && f[2] == "inet":
			in = true
			if !placed {
				out = append(out, strings.TrimRight(stanza, "\n"))
				placed = true
			}
		default:
			out = append(out, line)
		}
	}
	out = append(out, pending...)
	if !placed {
		if len(out) > 0 && strings.TrimSpace(out[len(out)-1]) != "" {
			out = append(out, "")
		}
		out = append(out, strings.TrimRight(stanza, "\n"))
	}
	return strings.Join(out, "\n") + "\n"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func without(list []string, s string) []string {
	var r []string
	for _, x := range list {
		if x != s {
			r = append(r, x)
		}
	}
	return r
}
