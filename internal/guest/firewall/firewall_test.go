package firewall

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
)

var datastoreRules = Config{Enabled: true, Resource: "hipchatdc_datastore_node", Rules: []Rule{
	{Service: "SSH", Provider: true, From: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}},
	{Service: "Redis", Port: 6379, From: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}},
}}

func TestRender(t *testing.T) {
	// The provider outside the nodes' network: its address joins the SSH rule.
	outside := Session{Client: netip.MustParseAddr("192.168.7.9"), Port: 22}
	guesttest.Golden(t, "datastore.nft.golden", Render(datastoreRules, outside))
	// Inside it (or moving inside it), nothing is added: the file does not change.
	inside := Render(datastoreRules, Session{Client: netip.MustParseAddr("10.0.0.1"), Port: 22})
	if strings.Contains(inside, "10.0.0.1") {
		t.Errorf("an address the nodes' network covers was listed:\n%s", inside)
	}
	// SSH on another port: the rule follows the port the session reached.
	if got := Render(datastoreRules, Session{Client: outside.Client, Port: 2222}); !strings.Contains(got, "tcp dport 2222 ip saddr { 10.0.0.0/24, 192.168.7.9 } accept") {
		t.Errorf("SSH rule for a session on port 2222:\n%s", got)
	}
}

func TestParseSession(t *testing.T) {
	s := ParseSession("192.168.7.9 51234 10.0.0.5 22\n")
	if s.Client != netip.MustParseAddr("192.168.7.9") || s.Port != 22 {
		t.Errorf("ParseSession: %+v", s)
	}
	if s := ParseSession(""); s.Client.IsValid() {
		t.Errorf("empty session parsed as %+v", s)
	}
}

// TestAdmits: Apply refuses rules that would not let the provider's own session back in. The
// rules match IPv4 sources, so a session over IPv6 (or from an IPv4 address outside an SSH
// rule that has no provider entry) is shut out unless a rule is open to anywhere.
func TestAdmits(t *testing.T) {
	v6 := Session{Client: netip.MustParseAddr("2001:db8::7"), Port: 22}
	cases := []struct {
		name string
		c    Config
		s    Session
		want bool
	}{
		{"provider outside the nodes' network, IPv4", datastoreRules, Session{Client: netip.MustParseAddr("192.168.7.9"), Port: 22}, true},
		{"provider inside the nodes' network", datastoreRules, Session{Client: netip.MustParseAddr("10.0.0.1"), Port: 22}, true},
		{"provider over IPv6", datastoreRules, v6, false},
		{"SSH open to anywhere, IPv6", Config{Enabled: true, Rules: []Rule{{Service: "SSH"}}}, v6, true},
		{"no provider entry and outside the sources", Config{Enabled: true, Rules: []Rule{
			{Service: "SSH", From: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}},
		}}, Session{Client: netip.MustParseAddr("192.168.7.9"), Port: 22}, false},
		{"session on another port than the rules open", Config{Enabled: true, Rules: []Rule{{Service: "HTTP", Port: 80}}},
			Session{Client: netip.MustParseAddr("192.168.7.9"), Port: 2222}, false},
		{"an extra UDP port is no way in for SSH", Config{Enabled: true, Rules: []Rule{{Service: "x", Proto: "udp", Port: 22}}},
			Session{Client: netip.MustParseAddr("192.168.7.9"), Port: 22}, false},
	}
	for _, tc := range cases {
		if got := tc.c.Admits(tc.s); got != tc.want {
			t.Errorf("%s: Admits(%v) = %v, want %v", tc.name, tc.s, got, tc.want)
		}
	}
}
