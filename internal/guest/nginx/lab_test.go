package nginx

// Apply and Read against the project's lab: a Debian proxy guest running the real NGINX, in
// front of node guests (the appliance stand-in's NGINX on :80). The client is Go's net/http
// on the host, verifying the chain against the test CA and the public hostname, as a browser
// would.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

const publicName = "chat.example.test"

// client reaches the proxy guest as https://chat.example.test/, trusting only ca.
func client(ca *tlstest.CA, proxy string, jar http.CookieJar, keepAlive bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: publicName},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return d.DialContext(ctx, network, net.JoinHostPort(proxy, port))
			},
			DisableKeepAlives: !keepAlive,
		},
		Jar:     jar,
		Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// get fetches url and returns the response with its body read.
func get(c *http.Client, url string) (*http.Response, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func exec(t *testing.T, g *lab.Guest, cmd string) string {
	t.Helper()
	out, err := g.Exec(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(string(out))
}

// nginxProcesses is the master PID and its workers' PIDs, read inside the guest.
func nginxProcesses(t *testing.T, g *lab.Guest) string {
	t.Helper()
	return exec(t, g, `p=$(cat /run/nginx.pid) && echo "master $p workers $(pgrep -P "$p" | sort -n | tr '\n' ' ')"`)
}

var logLine = regexp.MustCompile(`^(\S+) .*"GET (\S+) HTTP/1.1" (\d+) .* connection=(\d+) connection_requests=(\d+)$`)

type nodeRequest struct {
	from, uri           string
	connection, onConnN int
}

// nodeLog returns the requests a node guest's NGINX served, from its access log.
func nodeLog(t *testing.T, g *lab.Guest) []nodeRequest {
	t.Helper()
	var r []nodeRequest
	for _, line := range strings.Split(exec(t, g, "cat /var/log/nginx/access.log"), "\n") {
		m := logLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		c, _ := strconv.Atoi(m[4])
		n, _ := strconv.Atoi(m[5])
		r = append(r, nodeRequest{from: m[1], uri: m[2], connection: c, onConnN: n})
	}
	return r
}

// loggedRequests returns each guest's access log once lines matching match number at least
// want in all, or after 5 s: NGINX writes a request's line after it has sent the response, so
// a client can read the log before the last lines are in it.
func loggedRequests(t *testing.T, want int, match func(nodeRequest) bool, gs ...*lab.Guest) map[*lab.Guest][]nodeRequest {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs, n := map[*lab.Guest][]nodeRequest{}, 0
		for _, g := range gs {
			logs[g] = nodeLog(t, g)
			for _, r := range logs[g] {
				if match(r) {
					n++
				}
			}
		}
		if n >= want || time.Now().After(deadline) {
			return logs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOnLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	defer l.Stop()

	guests := map[string]*lab.Guest{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var bootErr error
	for name, kind := range map[string]string{"proxy": lab.KindDebian, "node1": lab.KindNode, "node2": lab.KindNode} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := l.StartGuestVM(ctx, name, kind)
			mu.Lock()
			defer mu.Unlock()
			guests[name] = g
			bootErr = errors.Join(bootErr, err)
		}()
	}
	wg.Wait()
	if bootErr != nil {
		t.Fatal(bootErr)
	}
	proxy, node1, node2 := guests["proxy"], guests["node1"], guests["node2"]

	s := l.SSH()
	conn, err := guest.Dial(ctx, guest.Config{
		Target:  guest.Endpoint{Host: proxy.Address(), User: s.User, PrivateKey: s.PrivateKeyPEM, HostKey: proxy.HostKey()},
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ca, err := tlstest.NewCA("Lab Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ca.Intermediate("Lab Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	leaf1, err := inter.Issue(tlstest.Options{DNSNames: []string{publicName}})
	if err != nil {
		t.Fatal(err)
	}
	site := Site{ServerName: publicName, Nodes: []string{node1.Address()}, CertificatePEM: leaf1.ChainPEM, PrivateKeyPEM: leaf1.KeyPEM}
	https := "https://" + publicName

	t.Run("first apply starts NGINX and serves the node over HTTPS", func(t *testing.T) {
		if st := nginxRunning(t, proxy); st {
			t.Fatal("NGINX already runs on a fresh Debian guest")
		}
		start := time.Now()
		guest.ResetStats()
		res, err := Apply(ctx, conn, site)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("first apply %v, %d commands: %+v", time.Since(start).Round(time.Millisecond), guest.Stats().ReadCommands+guest.Stats().ChangeCommands, res.Changed)
		if !res.Started || res.Reloaded || strings.Join(res.Changed, ",") != "config,certificate,private_key,default_site" {
			t.Errorf("result %+v", res)
		}
		resp, body, err := get(client(ca, proxy.Address(), nil, true), https+"/")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Hipchat Data Center") {
			t.Fatalf("%s: %s", resp.Status, body)
		}
		if v := resp.TLS.Version; v != tls.VersionTLS13 {
			t.Errorf("TLS version %x", v)
		}
		if got := exec(t, proxy, "stat -c '%a %U:%G' "+KeyFile+"; ls "+TLSDir+" | tr '\\n' ' '; ls -A "+TLSDir+" | grep -c '^\\.' || true"); got != "600 root:root\nfullchain.pem privkey.pem 0" {
			t.Errorf("key mode, TLS folder content, leftover staging folders:\n%s", got)
		}
		if exec(t, proxy, "[ -e "+DefaultSite+" ] && echo present || echo absent") != "absent" {
			t.Error("Debian's default site is still enabled")
		}
	})

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		c := &tls.Config{RootCAs: ca.Pool(), ServerName: publicName, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", proxy.Address()+":443", c)
		if err == nil {
			tc.Close()
			t.Fatal("TLS 1.1 handshake succeeded")
		}
		c = &tls.Config{RootCAs: ca.Pool(), ServerName: publicName, MaxVersion: tls.VersionTLS12}
		tc, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", proxy.Address()+":443", c)
		if err != nil {
			t.Fatalf("TLS 1.2: %v", err)
		}
		tc.Close()
	})

	t.Run("port 80 redirects to HTTPS", func(t *testing.T) {
		resp, _, err := get(client(ca, proxy.Address(), nil, false), "http://"+publicName+"/chat/room?x=1")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != https+"/chat/room?x=1" {
			t.Errorf("%s Location %q", resp.Status, resp.Header.Get("Location"))
		}
	})

	t.Run("requests reuse upstream connections", func(t *testing.T) {
		// Every client request on a connection of its own: reuse can only come from the
		// proxy's keep-alive pool.
		c := client(ca, proxy.Address(), nil, false)
		const n = 40
		for i := range n {
			if resp, _, err := get(c, fmt.Sprintf("%s/keepalive?i=%d", https, i)); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: %v %v", i, resp, err)
			}
		}
		conns, maxOnConn, seen := map[int]bool{}, 0, 0
		keepalive := func(r nodeRequest) bool { return strings.HasPrefix(r.uri, "/keepalive?") }
		for _, r := range loggedRequests(t, n, keepalive, node1)[node1] {
			if !keepalive(r) {
				continue
			}
			seen++
			if r.from != proxy.Address() {
				t.Errorf("request from %s, not the proxy", r.from)
			}
			conns[r.connection] = true
			maxOnConn = max(maxOnConn, r.onConnN)
		}
		t.Logf("%d requests on %d upstream connections, up to %d on one", seen, len(conns), maxOnConn)
		if seen != n || len(conns) > 4 || maxOnConn < n/4 {
			t.Errorf("%d requests on %d upstream connections (max %d requests on one): no keep-alive", seen, len(conns), maxOnConn)
		}
	})

	t.Run("read reports the deployed site in one command", func(t *testing.T) {
		guest.ResetStats()
		st, err := Read(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		if n := guest.Stats().ReadCommands; n != 1 {
			t.Errorf("read took %d commands", n)
		}
		want := site.WithDefaults()
		want.PrivateKeyPEM = ""
		if !st.Deployed || !st.Running || st.MasterPID == 0 || st.DefaultSite || !st.Installed {
			t.Errorf("state %+v", st)
		}
		if fmt.Sprint(st.Site) != fmt.Sprint(want) {
			t.Errorf("site read back\n%+v\nwant\n%+v", st.Site, want)
		}
		if st.CertificateFingerprint != tlscheck.Fingerprint(leaf1.Cert) || st.KeySHA256 != KeyDigest(leaf1.KeyPEM) || st.KeyMode != "600 root:root" {
			t.Errorf("certificate %s key %s %s", st.CertificateFingerprint, st.KeySHA256, st.KeyMode)
		}

		// A certificate replaced on the host shows.
		exec(t, proxy, "cp "+CertFile+" /root/cert.bak && printf '%s' "+guest.Quote(leaf1.CertPEM)+" > "+CertFile)
		st, err = Read(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, proxy, "mv /root/cert.bak "+CertFile)
		if st.CertificatePEM == site.WithDefaults().CertificatePEM || st.CertificateFingerprint != tlscheck.Fingerprint(leaf1.Cert) {
			t.Errorf("a chain cut down to its leaf reads as the deployed one")
		}
	})

	t.Run("re-apply changes nothing and does not reload", func(t *testing.T) {
		before := nginxProcesses(t, proxy)
		guest.ResetStats()
		res, err := Apply(ctx, conn, site)
		if err != nil {
			t.Fatal(err)
		}
		st := guest.Stats()
		if len(res.Changed) != 0 || res.Reloaded || res.Started || st.ChangeCommands != 0 || st.ReadCommands != 1 {
			t.Errorf("re-apply: %+v, %d changing and %d reading commands", res, st.ChangeCommands, st.ReadCommands)
		}
		if after := nginxProcesses(t, proxy); after != before {
			t.Errorf("NGINX processes changed: %s -> %s", before, after)
		}
	})

	t.Run("re-apply as a sudo user changes nothing", func(t *testing.T) {
		admin, err := guest.Dial(ctx, guest.Config{
			Target:  guest.Endpoint{Host: proxy.Address(), User: s.PasswordUser, Password: s.Password, HostKey: proxy.HostKey()},
			Timeout: 30 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		guest.ResetStats()
		res, err := Apply(ctx, admin, site)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changed) != 0 || res.Reloaded || guest.Stats().ChangeCommands != 0 {
			t.Errorf("re-apply through sudo: %+v (the key digest or mode read differently?)", res)
		}
	})

	leaf2, err := inter.Issue(tlstest.Options{DNSNames: []string{publicName}, Key: tlstest.RSA})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("certificate rotation under load", func(t *testing.T) {
		before := nginxProcesses(t, proxy)
		stop := make(chan struct{})
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		var loops sync.WaitGroup
		for w := range 3 {
			loops.Add(1)
			go func() {
				defer loops.Done()
				c := client(ca, proxy.Address(), nil, w == 0) // one keep-alive client, two new-connection clients
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					resp, _, err := get(c, fmt.Sprintf("%s/rotation?w=%d&i=%d", https, w, i))
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					} else {
						ok.Add(1)
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		rot := site
		rot.CertificatePEM, rot.PrivateKeyPEM = leaf2.ChainPEM, leaf2.KeyPEM
		res, err := Apply(ctx, conn, rot)
		time.Sleep(300 * time.Millisecond)
		close(stop)
		loops.Wait()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d requests during rotation, %d failed", ok.Load(), failed.Load())
		if failed.Load() != 0 || ok.Load() < 10 {
			t.Errorf("%d ok, %d failed (first: %v)", ok.Load(), failed.Load(), firstErr.Load())
		}
		if !res.Reloaded || strings.Join(res.Changed, ",") != "certificate,private_key" {
			t.Errorf("result %+v", res)
		}
		after := nginxProcesses(t, proxy)
		if strings.Fields(after)[1] != strings.Fields(before)[1] || after == before {
			t.Errorf("not a graceful reload: %s -> %s", before, after)
		}
		resp, _, err := get(client(ca, proxy.Address(), nil, false), https+"/")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.TLS.PeerCertificates[0]; !got.Equal(leaf2.Cert) {
			t.Errorf("served certificate %s (serial %s), want the new one", got.Subject, got.SerialNumber)
		}
		site = rot
	})

	t.Run("a configuration NGINX rejects leaves the old one serving", func(t *testing.T) {
		before := nginxProcesses(t, proxy)
		conf := exec(t, proxy, "cat "+ConfFile)
		bad := site
		// The guest cannot resolve this name (no DNS): nginx -t fails on it.
		bad.Nodes = []string{node1.Address(), "hipchat-3.nowhere.invalid"}
		res, err := Apply(ctx, conn, bad)
		var rej *RejectedError
		if !errors.As(err, &rej) || !strings.Contains(rej.Output, `host not found in upstream "hipchat-3.nowhere.invalid:80"`) {
			t.Fatalf("Apply = %+v, %v; want nginx's message", res, err)
		}
		t.Logf("error: %v", err)
		if got := exec(t, proxy, "cat "+ConfFile); got != conf {
			t.Errorf("the rejected configuration stayed in place:\n%s", got)
		}
		if exec(t, proxy, "ls -A "+TLSDir+" | tr '\\n' ' '") != "fullchain.pem privkey.pem" {
			t.Error("staging or backup files left behind")
		}
		if after := nginxProcesses(t, proxy); after != before {
			t.Errorf("NGINX processes changed: %s -> %s", before, after)
		}
		resp, _, err := get(client(ca, proxy.Address(), nil, false), https+"/")
		if err != nil || resp.StatusCode != http.StatusOK || !resp.TLS.PeerCertificates[0].Equal(leaf2.Cert) {
			t.Fatalf("old site does not serve: %v %v", resp, err)
		}
		// Rejected with a new certificate too: the old certificate and key are back.
		bad.CertificatePEM, bad.PrivateKeyPEM = leaf1.ChainPEM, leaf1.KeyPEM
		if _, err := Apply(ctx, conn, bad); !errors.As(err, &rej) {
			t.Fatalf("Apply = %v", err)
		}
		st, err := Read(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		if st.CertificateFingerprint != tlscheck.Fingerprint(leaf2.Cert) || st.KeySHA256 != KeyDigest(leaf2.KeyPEM) {
			t.Error("the rejected certificate or key stayed in place")
		}
	})

	// tlscheck refuses at plan time the certificates that this NGINX (OpenSSL 3 at its default
	// security level 2) refuses at apply time, with the same reason, and accepts the ones it
	// accepts: the plan-time rule is measured against the real thing.
	t.Run("tlscheck refuses what NGINX refuses, for the same reason", func(t *testing.T) {
		issue := func(ca *tlstest.CA, o tlstest.Options) *tlstest.Leaf {
			o.DNSNames = []string{publicName}
			l, err := ca.Issue(o)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		weakInter, err := ca.IntermediateWithKey("Lab Weak Intermediate", tlstest.RSA1024)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			leaf   *tlstest.Leaf
			reason string // OpenSSL's, in nginx -t's output and in tlscheck's finding; "" for accepted
		}{
			{"RSA-1024 leaf", issue(inter, tlstest.Options{Key: tlstest.RSA1024}), "ee key too small"},
			{"RSA-1024 intermediate", issue(weakInter, tlstest.Options{}), "ca key too small"},
			{"leaf signed with SHA-1", issue(inter, tlstest.Options{SignatureAlgorithm: x509.ECDSAWithSHA1}), "ca md too weak"},
			{"RSA-2048 leaf", issue(inter, tlstest.Options{Key: tlstest.RSA}), ""},
			{"ECDSA P-256 leaf", issue(inter, tlstest.Options{}), ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := tlscheck.Check(tlscheck.Input{CertificatePEM: c.leaf.ChainPEM, PrivateKeyPEM: c.leaf.KeyPEM, PublicHostname: publicName})
				try := site
				try.CertificatePEM, try.PrivateKeyPEM = c.leaf.ChainPEM, c.leaf.KeyPEM
				_, applyErr := Apply(ctx, conn, try)
				var rej *RejectedError
				if c.reason == "" {
					if err := res.Err(); err != nil {
						t.Errorf("tlscheck refuses what NGINX accepts: %v", err)
					}
					if applyErr != nil {
						t.Errorf("NGINX refused it: %v", applyErr)
					}
					return
				}
				if err := res.Err(); err == nil || !strings.Contains(err.Error(), c.reason) {
					t.Errorf("tlscheck: %v; want a finding naming %q", err, c.reason)
				}
				if !errors.As(applyErr, &rej) || !strings.Contains(rej.Output, c.reason) {
					t.Errorf("Apply = %v; want NGINX to refuse it with %q", applyErr, c.reason)
				}
			})
		}
		// Back to the site the next subtests start from.
		if _, err := Apply(ctx, conn, site); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("two nodes: both serve, a session sticks to one", func(t *testing.T) {
		two := site
		two.Nodes = []string{node1.Address(), node2.Address()}
		res, err := Apply(ctx, conn, two)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Reloaded || strings.Join(res.Changed, ",") != "config" {
			t.Errorf("result %+v", res)
		}
		const clients, requests = 12, 5
		for c := range clients {
			jar, _ := cookiejar.New(nil)
			hc := client(ca, proxy.Address(), jar, c%2 == 0) // half reuse their connection, half do not
			for i := range requests {
				resp, _, err := get(hc, fmt.Sprintf("%s/sticky?c=%d&i=%d", https, c, i))
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("client %d request %d: %v %v", c, i, resp, err)
				}
				if set := resp.Header.Get("Set-Cookie"); (i == 0) != strings.HasPrefix(set, RouteCookie+"=") {
					t.Errorf("client %d request %d: Set-Cookie %q", c, i, set)
				}
			}
		}
		served := map[string]map[*lab.Guest]int{} // client -> node -> requests
		sticky := func(r nodeRequest) bool { return strings.HasPrefix(r.uri, "/sticky?") }
		logs := loggedRequests(t, clients*requests, sticky, node1, node2)
		for _, g := range []*lab.Guest{node1, node2} {
			for _, r := range logs[g] {
				if c, ok := strings.CutPrefix(r.uri, "/sticky?c="); ok {
					c, _, _ = strings.Cut(c, "&")
					if served[c] == nil {
						served[c] = map[*lab.Guest]int{}
					}
					served[c][g]++
				}
			}
		}
		perNode := map[*lab.Guest]int{}
		for c, nodes := range served {
			if len(nodes) != 1 {
				t.Errorf("client %s was served by %d nodes", c, len(nodes))
			}
			for g, n := range nodes {
				perNode[g] += n
			}
		}
		t.Logf("clients per node: node1 %d requests, node2 %d requests", perNode[node1], perNode[node2])
		if t.Failed() {
			t.Logf("node2: %s", exec(t, node2, "cat /run/nginx.pid; ss -ltn; tail -3 /var/log/nginx/error.log"))
			t.Logf("proxy error log:\n%s", exec(t, proxy, "tail -n 20 /var/log/nginx/error.log"))
			t.Logf("%s\n%s", nginxProcesses(t, proxy), exec(t, proxy, "grep server "+ConfFile))
			for c, nodes := range served {
				t.Logf("client %s: node1 %d node2 %d", c, nodes[node1], nodes[node2])
			}
		}
		if len(served) != clients || perNode[node1] == 0 || perNode[node2] == 0 || perNode[node1]+perNode[node2] != clients*requests {
			t.Errorf("%d clients seen; requests per node: node1 %d, node2 %d", len(served), perNode[node1], perNode[node2])
		}
	})

	t.Run("stopped NGINX is started without rewriting files", func(t *testing.T) {
		exec(t, proxy, "nginx -s stop; i=0; while [ -e /run/nginx.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done")
		if nginxRunning(t, proxy) {
			t.Fatal("NGINX still runs")
		}
		two := site
		two.Nodes = []string{node1.Address(), node2.Address()}
		guest.ResetStats()
		res, err := Apply(ctx, conn, two)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Started || len(res.Changed) != 0 || guest.Stats().ChangeCommands != 1 {
			t.Errorf("result %+v with %d changing commands", res, guest.Stats().ChangeCommands)
		}
		if resp, _, err := get(client(ca, proxy.Address(), nil, false), https+"/"); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
	})

	t.Run("a WebSocket upgrade passes through to the node", func(t *testing.T) {
		// The node is a server on the lab host's bridge address that switches protocols as a
		// WebSocket endpoint does and then echoes: NGINX must forward the Upgrade and
		// Connection headers and then relay bytes both ways.
		saw := make(chan http.Header, 1)
		backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			saw <- r.Header.Clone()
			if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				http.Error(w, "not an upgrade", http.StatusBadRequest)
				return
			}
			c, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			_ = rw.Flush()
			_, _ = io.Copy(c, rw)
		})}
		ln, err := net.Listen("tcp", net.JoinHostPort(l.HostAddress(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = backend.Serve(ln) }()
		defer backend.Close()
		ws := site
		ws.Nodes = []string{ln.Addr().String()}
		if _, err := Apply(ctx, conn, ws); err != nil {
			t.Fatal(err)
		}

		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(proxy.Address(), "443"),
			&tls.Config{RootCAs: ca.Pool(), ServerName: publicName})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /chat/socket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", publicName)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
			t.Fatalf("upgrade through the proxy: %s, Upgrade %q", resp.Status, resp.Header.Get("Upgrade"))
		}
		h := <-saw
		if !strings.EqualFold(h.Get("Connection"), "upgrade") || h.Get("Sec-WebSocket-Key") == "" || h.Get("X-Forwarded-Proto") != "https" {
			t.Errorf("the node got Connection %q, Sec-WebSocket-Key %q, X-Forwarded-Proto %q", h.Get("Connection"), h.Get("Sec-WebSocket-Key"), h.Get("X-Forwarded-Proto"))
		}
		// After the switch the connection is the application's: bytes go through both ways.
		msg := "\x81\x05hello"
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		echo := make([]byte, len(msg))
		if _, err := io.ReadFull(br, echo); err != nil || string(echo) != msg {
			t.Errorf("echo through the upgraded connection: %q %v", echo, err)
		}
	})
}

func nginxRunning(t *testing.T, g *lab.Guest) bool {
	t.Helper()
	return exec(t, g, `p=$(cat /run/nginx.pid 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo yes || echo no`) == "yes"
}
