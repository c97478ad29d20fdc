package resources_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

const publicName = "chat.example.test"

type proxyOpts struct {
	name, address string
	cert          *tlstest.Leaf
	key           string // overrides cert.KeyPEM
	nodes         []string
	cpus          int
	extra         string // more attributes
}

func proxyConfig(t *testing.T, l *lab.Lab, o proxyOpts) string {
	v := l.VSphere()
	if o.key == "" {
		o.key = o.cert.KeyPEM
	}
	if o.cpus == 0 {
		o.cpus = 2
	}
	nodes := `["` + strings.Join(o.nodes, `", "`) + `"]`
	if len(o.nodes) == 0 {
		nodes = "[]" // the nodes are hipchatdc_reverse_proxy_node memberships
	}
	return acctest.ProviderConfigFor(l) + fmt.Sprintf(`
resource "hipchatdc_reverse_proxy" "edge" {
  name            = %q
  datacenter      = %q
  cluster         = %q
  datastore       = %q
  network         = %q
  ova_path        = %q
  num_cpus        = %d
  memory          = 2048
  hostname        = "%s.example.com"
  ipv4_address    = %q
  ipv4_netmask    = 24
  ipv4_gateway    = %q
  public_hostname = %q
  certificate_pem = %q
  private_key_pem = %q
  nodes           = %s
%s
}
`, o.name, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, lab.KindDebian, 20), o.cpus, o.name, o.address,
		acctest.Gateway(l, false), publicName, o.cert.ChainPEM, o.key, nodes, o.extra)
}

// httpsClient trusts only the test CA and reaches publicName at the proxy's address, checking
// chain and host name as a Hipchat client would.
func httpsClient(ca *tlstest.CA, proxyAddr string) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: publicName},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, net.JoinHostPort(proxyAddr, "443"))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(c *http.Client, url string) (*http.Response, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestAccReverseProxy_tlsInFrontOfTheNode(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-proxy"
	addr := acctest.LabAddress(t, l, false, 208)
	// A bound for two guests' boots, which take longer while other tests run beside this one.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node, err := l.StartGuestVM(ctx, "tf-proxy-node", lab.KindNode)
	if err != nil {
		t.Fatal(err)
	}
	node2, err := l.StartGuestVM(ctx, "tf-proxy-node-2", lab.KindNode)
	if err != nil {
		t.Fatal(err)
	}
	// Distinct names, so that the page tells which node answered.
	for g, name := range map[*lab.Guest]string{node: "node-a.example.com", node2: "node-b.example.com"} {
		if _, err := g.Exec(ctx, `hostnamectl set-hostname `+name); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := tlstest.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf1, err := ca.Issue(tlstest.Options{DNSNames: []string{publicName}})
	if err != nil {
		t.Fatal(err)
	}
	leaf2, err := ca.Issue(tlstest.Options{DNSNames: []string{publicName, "chat2.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	client := httpsClient(ca, addr)
	// A port of the user's own (a monitoring agent): listed, it answers; the rest stay shut.
	base := proxyOpts{name: name, address: addr, cert: leaf1, nodes: []string{node.Address()}, extra: `  firewall_extra_ports = ["tcp/9100"]`}
	rotated := base
	rotated.cert = leaf2

	// Requests made while the certificate rotates: all must succeed.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	load := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if resp, _, err := get(client, "https://"+publicName+"/"); err == nil && resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}

	var ssh guest.Tally
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.CountSSH(&ssh, acctest.Factories()),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config: proxyConfig(t, l, base),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_reverse_proxy.edge", "url", "https://"+publicName),
					resource.TestCheckResourceAttr("hipchatdc_reverse_proxy.edge", "drift.#", "0"),
					func(*terraform.State) error {
						// The guest firewall, seen from a node: 22, 80 and 443 answer, and 9100
						// (firewall_extra_ports); a port something listens on but neither the guide
						// nor firewall_extra_ports opens is refused.
						acctest.Listen(t, l, name, 8080)
						acctest.Listen(t, l, name, 9100)
						for port, want := range map[int]string{22: "open", 80: "open", 443: "open", 9100: "open", 8080: "refused"} {
							if got := acctest.Probe(t, node, addr, port); got != want {
								return fmt.Errorf("port %d of the proxy from a node: %s, want %s", port, got, want)
							}
						}
						return nil
					},
					func(*terraform.State) error {
						// The node's page, over verified TLS, through the proxy.
						resp, body, err := get(client, "https://"+publicName+"/")
						if err != nil {
							return fmt.Errorf("HTTPS through the proxy: %w", err)
						}
						if resp.StatusCode != http.StatusOK || !strings.Contains(body, "node: node-a.example.com") {
							return fmt.Errorf("HTTPS through the proxy: %d %q", resp.StatusCode, body)
						}
						// Port 80 redirects to HTTPS.
						plain := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
						resp, _, err = get(plain, "http://"+addr+"/chat")
						if err != nil {
							return fmt.Errorf("port 80: %w", err)
						}
						if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
							return fmt.Errorf("port 80: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
						}
						// Upstream keep-alive: 30 client connections, far fewer node connections.
						for i := 0; i < 30; i++ {
							c := httpsClient(ca, addr)
							resp, _, err := get(c, fmt.Sprintf("https://%s/keepalive-%d", publicName, i))
							if err != nil {
								return fmt.Errorf("request %d: %w", i, err)
							}
							if resp.StatusCode != http.StatusOK {
								return fmt.Errorf("request %d: %d", i, resp.StatusCode)
							}
						}
						log, err := node.Exec(context.Background(), `grep keepalive- /var/log/nginx/access.log`)
						if err != nil {
							return err
						}
						conns := map[string]bool{}
						reused := false
						for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
							if m := regexp.MustCompile(`connection=(\d+) connection_requests=(\d+)`).FindStringSubmatch(line); m != nil {
								conns[m[1]] = true
								reused = reused || m[2] != "1"
							}
						}
						if len(conns) == 0 || len(conns) >= 30 || !reused {
							return fmt.Errorf("30 requests used %d upstream connections (reused: %v); keep-alive is not working:\n%s", len(conns), reused, log)
						}
						return nil
					},
				),
			},
			{
				// Re-apply: nothing planned, nothing changed, no reload.
				PreConfig:        ssh.Reset,
				Config:           proxyConfig(t, l, base),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check:            noChangingCommands(&ssh),
			},
			{
				// Certificate rotation is an in-place update, and requests during the reload succeed.
				PreConfig: func() {
					for i := 0; i < 3; i++ {
						load()
					}
				},
				Config: proxyConfig(t, l, rotated),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_reverse_proxy.edge", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					time.Sleep(300 * time.Millisecond)
					stop.Store(true)
					wg.Wait()
					if failed.Load() != 0 || ok.Load() == 0 {
						return fmt.Errorf("during the rotation %d requests failed, %d succeeded", failed.Load(), ok.Load())
					}
					resp, _, err := get(httpsClient(ca, addr), "https://"+publicName+"/")
					if err != nil {
						return err
					}
					if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(leaf2.Cert.SerialNumber) != 0 {
						return fmt.Errorf("the proxy still serves the old certificate")
					}
					return nil
				},
			},
			{
				// A configuration NGINX rejects: the apply fails with NGINX's own message and
				// the previous configuration keeps serving.
				Config:      proxyConfig(t, l, proxyOpts{name: name, address: addr, cert: leaf2, nodes: []string{"hipchat-9.nowhere.invalid"}}),
				ExpectError: regexp.MustCompile(`(?s)NGINX rejected.*host not found in upstream`),
			},
			{
				PreConfig: func() {
					resp, _, err := get(httpsClient(ca, addr), "https://"+publicName+"/")
					if err != nil || resp.StatusCode != http.StatusOK {
						t.Errorf("after the rejected configuration the proxy does not serve: %v %v", resp, err)
					}
				},
				Config: proxyConfig(t, l, rotated),
			},
			{
				// A second node (the Enterprise-scale path): both receive requests, and a
				// session sticks to one.
				Config: proxyConfig(t, l, proxyOpts{name: name, address: addr, cert: leaf2, nodes: []string{node.Address(), node2.Address()}}),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_reverse_proxy.edge", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					served := map[string]int{}
					for c := 0; c < 12; c++ {
						jar, _ := cookiejar.New(nil)
						client := httpsClient(ca, addr)
						client.Jar = jar
						first := ""
						for i := 0; i < 5; i++ {
							resp, body, err := get(client, "https://"+publicName+"/")
							if err != nil {
								return err
							}
							if resp.StatusCode != http.StatusOK {
								return fmt.Errorf("status %d", resp.StatusCode)
							}
							m := regexp.MustCompile(`node: (node-[ab])`).FindStringSubmatch(body)
							if m == nil {
								return fmt.Errorf("page names no node: %s", body)
							}
							if first == "" {
								first = m[1]
							} else if m[1] != first {
								return fmt.Errorf("client %d moved from %s to %s: no stickiness", c, first, m[1])
							}
							served[m[1]]++
						}
					}
					if served["node-a"] == 0 || served["node-b"] == 0 {
						return fmt.Errorf("requests per node %v: both nodes must receive requests", served)
					}
					t.Logf("12 clients x 5 requests: %v", served)
					return nil
				},
			},
			{
				// The opt-out: the provider's table, file and hook go, and the port is open.
				Config: proxyConfig(t, l, proxyOpts{name: name, address: addr, cert: leaf2, nodes: []string{node.Address(), node2.Address()}, extra: "  firewall = false"}),
				Check: func(*terraform.State) error {
					if got := acctest.GuestExec(t, l, name, "nft list tables; ls /etc/hipchatdc-firewall.nft /etc/network/if-pre-up.d/hipchatdc-firewall 2>/dev/null; true"); got != "" {
						return fmt.Errorf("firewall = false left on the proxy: %q", got)
					}
					if got := acctest.Probe(t, node, addr, 8080); got != "open" {
						return fmt.Errorf("firewall = false: port 8080 from a node: %s", got)
					}
					return nil
				},
			},
			// Import reads back the VM, its identity, the deployed site and certificate, and
			// whether the guest firewall is on; the private key is never read back.
			importVerify("hipchatdc_reverse_proxy.edge", "private_key_pem"),
		},
	})
}

func TestAccReverseProxy_rejectedAtPlan(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	ca, err := tlstest.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	good, _ := ca.Issue(tlstest.Options{DNSNames: []string{publicName}})
	other, _ := ca.Issue(tlstest.Options{DNSNames: []string{"other.example.test"}})
	expired, _ := ca.Issue(tlstest.Options{DNSNames: []string{publicName}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	// What NGINX refuses at apply time ("ee key too small", "ca md too weak").
	rsa1024, _ := ca.Issue(tlstest.Options{DNSNames: []string{publicName}, Key: tlstest.RSA1024})
	sha1, _ := ca.Issue(tlstest.Options{DNSNames: []string{publicName}, SignatureAlgorithm: x509.ECDSAWithSHA1})
	addr := acctest.LabAddress(t, l, false, 209)
	for i, c := range []struct {
		o    proxyOpts
		want string
	}{
		{proxyOpts{cert: good, key: other.KeyPEM}, `(?s)private_key_pem.*(match|does not belong)`},
		{proxyOpts{cert: expired}, `(?s)certificate_pem.*expired`},
		{proxyOpts{cert: other}, `(?s)(public_hostname|certificate_pem).*chat.example.test`},
		{proxyOpts{cert: &tlstest.Leaf{ChainPEM: "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", KeyPEM: good.KeyPEM}}, `(?s)certificate_pem`},
		{proxyOpts{cert: good, cpus: 1}, `(?s)num_cpus = 1.*reverse proxy needs at least 2 vCPU`},
		{proxyOpts{cert: rsa1024}, `(?s)Error: Certificate key too weak for NGINX.*certificate_pem.*` +
			wrapped(`the certificate has an RSA key of 1024 bits; NGINX refuses it at OpenSSL's default security level 2 ("ee key too small"), which asks for RSA keys of at least 2048 bits`).String()},
		{proxyOpts{cert: sha1}, `(?s)Error: Certificate signature too weak for NGINX.*certificate_pem.*` +
			wrapped(`the certificate is signed with ECDSA-SHA1; NGINX refuses it at OpenSSL's default security level 2 ("ca md too weak")`).String()},
		// A value with a newline is quoted, on one line, as in the provider's own messages.
		{proxyOpts{cert: good, extra: `  client_max_body_size = "100m\nfoo"`}, wrapped(`client_max_body_size = "100m\nfoo": must be an NGINX size such as 100m.`).String()},
	} {
		c.o.name, c.o.address, c.o.nodes = "tf-proxy-bad", addr, []string{"10.0.0.100"}
		// One subtest each, so that every case runs when one fails.
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.Factories(),
				Steps: []resource.TestStep{{
					Config:      proxyConfig(t, l, c.o),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(c.want),
				}},
			})
		})
	}
	if _, ok := acctest.VM(t, "tf-proxy-bad"); ok {
		t.Fatal("a VM was created for a rejected plan")
	}
}
