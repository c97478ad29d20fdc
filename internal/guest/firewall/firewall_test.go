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
