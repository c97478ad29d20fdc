package nginx

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

// testPair is a certificate for chat.example.com and its key.
func testPair(t *testing.T) (cert, key string) {
	t.Helper()
	ca, err := tlstest.NewCA("Test Root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return leaf.ChainPEM, leaf.KeyPEM
}

func TestRenderAndParse(t *testing.T) {
	cert, key := testPair(t)
	cases := []struct {
		golden string
		site   Site
		parsed Site // what ParseSite reads back (without certificate)
	}{
		{
			golden: "one-node.golden",
			site:   Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10"}},
			parsed: Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10:80"}, ClientMaxBodySize: "100m", ReadTimeout: 300 * time.Second, Affinity: AffinityCookie},
		},
		{
			golden: "two-nodes.golden",
			site:   Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10", "hipchat-2.internal:8080"}, ClientMaxBodySize: "250m", ReadTimeout: 600 * time.Second},
			parsed: Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10:80", "hipchat-2.internal:8080"}, ClientMaxBodySize: "250m", ReadTimeout: 600 * time.Second, Affinity: AffinityCookie},
		},
		{
			// Nodes come only from hipchatdc_reverse_proxy_node memberships: the upstream holds
			// the placeholder, which ParseSite does not report as a node.
			golden: "no-nodes.golden",
			site:   Site{ServerName: "chat.example.com"},
			parsed: Site{ServerName: "chat.example.com", Nodes: nil, ClientMaxBodySize: "100m", ReadTimeout: 300 * time.Second, Affinity: AffinityCookie},
		},
		{
			golden: "two-nodes-client-address.golden",
			site:   Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10", "[fd00::2]"}, Affinity: AffinityClientAddress},
			parsed: Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10:80", "[fd00::2]:80"}, ClientMaxBodySize: "100m", ReadTimeout: 300 * time.Second, Affinity: AffinityClientAddress},
		},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			c.site.CertificatePEM, c.site.PrivateKeyPEM = cert, key
			conf, err := Render(c.site)
			if err != nil {
				t.Fatal(err)
			}
			guesttest.Golden(t, c.golden, conf)
			if strings.Contains(conf, "PRIVATE KEY") || strings.Contains(conf, "CERTIFICATE") {
				t.Error("the configuration contains PEM")
			}
			got, err := ParseSite(conf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.parsed) {
				t.Errorf("parsed back\n%+v\nwant\n%+v", got, c.parsed)
			}
			// What Read returns is what WithDefaults makes of the input: a plan compares these.
			want := c.site.WithDefaults()
			want.CertificatePEM, want.PrivateKeyPEM = "", ""
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parsed back\n%+v\nWithDefaults\n%+v", got, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cert, key := testPair(t)
	_, otherKey := testPair(t)
	ok := Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10"}, CertificatePEM: cert, PrivateKeyPEM: key}
	cases := []struct {
		name string
		edit func(*Site)
		want string // "" = valid
	}{
		{"valid", func(*Site) {}, ""},
		{"injection in server name", func(s *Site) { s.ServerName = "chat.example.com; include /etc/passwd" }, "is not a DNS name"},
		// No node of its own: the nodes are hipchatdc_reverse_proxy_node memberships.
		{"no nodes", func(s *Site) { s.Nodes = nil }, ""},
		{"node with a brace", func(s *Site) { s.Nodes = []string{"10.0.0.1}"} }, "is not an IP address or host name"},
		{"node port out of range", func(s *Site) { s.Nodes = []string{"10.0.0.1:70000"} }, `port "70000"`},
		{"node twice", func(s *Site) { s.Nodes = []string{"10.0.0.1", "10.0.0.1:80"} }, "listed twice"},
		{"body size", func(s *Site) { s.ClientMaxBodySize = "100 m" }, "not an NGINX size"},
		{"fractional timeout", func(s *Site) { s.ReadTimeout = 1500 * time.Millisecond }, "whole number of seconds"},
		{"affinity", func(s *Site) { s.Affinity = "sticky" }, `affinity "sticky"`},
		{"mismatched key", func(s *Site) { s.PrivateKeyPEM = otherKey }, "private key does not match"},
		{"no key", func(s *Site) { s.PrivateKeyPEM = "" }, "both required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := ok
			c.edit(&s)
			err := s.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
			if _, err := Render(s); err == nil {
				t.Error("Render accepted an invalid site")
			}
		})
	}
}

// marker begins a section line of this recipe, as guest.EchoSection prints it.
const marker = "@@hipchatdc-nginx@@"

func TestParseState(t *testing.T) {
	cert, key := testPair(t)
	site := Site{ServerName: "chat.example.com", Nodes: []string{"10.0.0.10"}, CertificatePEM: cert, PrivateKeyPEM: key}
	conf, err := Render(site)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join([]string{
		marker + " conf", conf,
		marker + " cert", cert,
		marker + " key", KeyDigest(key) + "  -", "600 root:root", "",
		marker + " default", "",
		marker + " installed", "/usr/sbin/nginx", "",
		marker + " pid", "123", "",
	}, "\n")
	st, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Deployed || st.Config != conf || st.CertificatePEM != cert || st.Site.CertificatePEM != cert {
		t.Errorf("config or certificate not read back: %+v", st)
	}
	if st.KeySHA256 != KeyDigest(key) || st.KeyMode != "600 root:root" || st.DefaultSite || !st.Installed || !st.Running || st.MasterPID != 123 {
		t.Errorf("state %+v", st)
	}
	if st.CertificateFingerprint == "" || len(st.CertificateFingerprint) != 64 {
		t.Errorf("fingerprint %q", st.CertificateFingerprint)
	}

	empty := strings.Join([]string{marker + " conf", "", marker + " cert", "", marker + " key", "", marker + " default", "enabled",
		marker + " installed", "", marker + " pid", ""}, "\n")
	st, err = Parse(empty)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deployed || st.Running || st.Installed || !st.DefaultSite || st.KeySHA256 != "" {
		t.Errorf("fresh guest read as %+v", st)
	}
	if _, err := Parse(marker + " conf\n"); err == nil {
		t.Error("truncated output accepted")
	}
}

// A site without nodes written by an earlier version held the placeholder server itself: it
// still reads back as a site without nodes.
func TestParseSiteEarlierPlaceholder(t *testing.T) {
	cert, key := testPair(t)
	conf, err := Render(Site{ServerName: "chat.example.com", CertificatePEM: cert, PrivateKeyPEM: key})
	if err != nil {
		t.Fatal(err)
	}
	include := "include " + placeholderGlob + ";"
	if !strings.Contains(conf, include) {
		t.Fatalf("the site does not include %s", placeholderGlob)
	}
	got, err := ParseSite(strings.Replace(conf, include, "server "+placeholderServer+" down;", 1))
	if err != nil || got.Nodes != nil || got.ServerName != "chat.example.com" {
		t.Errorf("ParseSite = %+v, %v; want chat.example.com without nodes", got, err)
	}
}
