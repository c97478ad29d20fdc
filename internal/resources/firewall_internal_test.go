package resources

import (
	"net/netip"
	"testing"
)

// TestParseExtraPort: the firewall_extra_ports forms the plan accepts, and what it refuses.
func TestParseExtraPort(t *testing.T) {
	r, err := parseExtraPort("udp/161 from 10.0.0.7/24")
	if err != nil || r.Proto != "udp" || r.Port != 161 || len(r.From) != 1 || r.From[0] != netip.MustParsePrefix("10.0.0.0/24") {
		t.Errorf("udp/161 from 10.0.0.7/24: %+v, %v", r, err)
	}
	if r, err := parseExtraPort("tcp/9100"); err != nil || r.Proto != "tcp" || r.Port != 9100 || r.From != nil {
		t.Errorf("tcp/9100: %+v, %v", r, err)
	}
	for _, bad := range []string{"tcp/0", "tcp/65536", "icmp/8", "9100", "tcp/9100 from 2001:db8::/32", "tcp/9100 from"} {
		if _, err := parseExtraPort(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
