package nginx

// Memberships against the lab: a Debian proxy guest running the real NGINX with a site of no
// nodes of its own, and two node guests (the appliance stand-in, whose page says "node:
// <hostname>"). A client on the host keeps sending requests through the proxy while a node is
// added and the other one removed.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

var nodeName = regexp.MustCompile(`node: (\S+)</p>`)

// outcome is one request of the continuous client.
type outcome struct {
	start, end time.Time
	cookie     bool   // sent with a route cookie
	node       string // the node the page names ("" on failure)
	err        error
}

// traffic is a continuous client: several loops sending GETs through the proxy, each pausing
// 50 ms between requests, recording every outcome.
type traffic struct {
	mu   sync.Mutex
	out  []outcome
	stop atomic.Bool
	wg   sync.WaitGroup
}

// run starts one loop with client c; cookie says whether its requests carry a route cookie.
func (tr *traffic) run(c *http.Client, cookie bool) {
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for i := 0; !tr.stop.Load(); i++ {
			o := outcome{start: time.Now(), cookie: cookie}
			resp, body, err := get(c, fmt.Sprintf("https://%s/load?i=%d", publicName, i))
			switch {
			case err != nil:
				o.err = err
			case resp.StatusCode != http.StatusOK:
				o.err = fmt.Errorf("status %s", resp.Status)
			default:
				if m := nodeName.FindStringSubmatch(body); m != nil {
					o.node = m[1]
				} else {
					o.err = fmt.Errorf("the page names no node: %q", body)
				}
			}
			o.end = time.Now()
			tr.mu.Lock()
			tr.out = append(tr.out, o)
			tr.mu.Unlock()
			time.Sleep(50 * time.Millisecond) // pacing of a client, not a wait for a condition
		}
	}()
}

// after counts the requests started after t and returns them.
func (tr *traffic) after(t time.Time) []outcome {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var r []outcome
	for _, o := range tr.out {
		if o.start.After(t) {
			r = append(r, o)
		}
	}
	return r
}

func (tr *traffic) finish() []outcome {
	tr.stop.Store(true)
	tr.wg.Wait()
	return tr.out
}

// waitFor polls cond every 20 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closingNode is a node stand-in on the lab host that closes every kept-alive connection when
// the next request arrives on it, without answering: what a node does to the proxy whenever it
// closes an idle keep-alive connection just as the proxy sends a request on it (its web server
// reloads or restarts, or its keep-alive timeout ends). A real node does so at a moment chance
// decides (the 502 seen once under load); here every reused connection meets it. HTTP allows a
// server to close an idle connection at any time, and a client (the proxy) to retry an
// idempotent request on a new connection when that happens (RFC 9112, section 9.3.1).
type closingNode struct {
	ln             net.Listener
	served, closed atomic.Int64
}

func startClosingNode(t *testing.T, addr string) *closingNode {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	n := &closingNode{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go n.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return n
}

// serve answers the connection's first request (keeping the connection open) and closes it
// when a second one arrives.
func (n *closingNode) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	page := "<p>node: host-stand-in</p>\n"
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n", len(page))
	if req.Method != http.MethodHead {
		head += page
	}
	if _, err := io.WriteString(c, head); err != nil {
		return
	}
	n.served.Add(1)
	if _, err := http.ReadRequest(br); err == nil {
		n.closed.Add(1)
	}
}

func TestMembersOnLab(t *testing.T) {
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
	for name, kind := range map[string]string{"proxy": lab.KindDebian, "node-old": lab.KindNode, "node-new": lab.KindNode} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := l.StartGuestVM(ctx, name, kind)
			if err == nil && kind == lab.KindNode {
				// Distinct host names, so that the page says which node answered.
				_, err = g.Exec(ctx, "hostnamectl set-hostname "+name)
			}
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
	proxy, oldNode, newNode := guests["proxy"], guests["node-old"], guests["node-new"]

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
	leaf, err := ca.Issue(tlstest.Options{DNSNames: []string{publicName}})
	if err != nil {
		t.Fatal(err)
	}
	https := "https://" + publicName
	oldMember := Member{Node: oldNode.Address(), Drain: 30 * time.Second}
	newMember := Member{Node: newNode.Address(), Drain: 30 * time.Second}

	t.Run("a site without nodes passes nginx -t and answers 502", func(t *testing.T) {
		if _, err := Apply(ctx, conn, Site{ServerName: publicName, CertificatePEM: leaf.ChainPEM, PrivateKeyPEM: leaf.KeyPEM}); err != nil {
			t.Fatal(err)
		}
		resp, _, err := get(client(ca, proxy.Address(), nil, false), https+"/")
		if err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("GET through a proxy without nodes: %v %v; want 502", resp, err)
		}
	})

	t.Run("a node that does not answer is refused and nothing is written", func(t *testing.T) {
		before := nginxProcesses(t, proxy)
		// The lab host's address: a real machine on the proxy's network, with nothing on 81.
		bad := Member{Node: l.HostAddress() + ":81"}
		_, err := AddMember(ctx, conn, bad)
		var ue *NodeUnreachableError
		if !errors.As(err, &ue) || !strings.Contains(ue.Output, "refused") {
			t.Fatalf("AddMember = %v; want a *NodeUnreachableError saying the connection was refused", err)
		}
		t.Logf("error: %v", err)
		if got := exec(t, proxy, "ls -A "+TLSDir+" "+MembersDir+" 2>&1 | tr '\\n' ' '"); strings.Contains(got, ".member") || strings.Contains(got, "_81") {
			t.Errorf("files left behind: %s", got)
		}
		if after := nginxProcesses(t, proxy); after != before {
			t.Errorf("NGINX was reloaded: %s -> %s", before, after)
		}
	})

	t.Run("the only node closes a kept-alive connection as the proxy reuses it: the request is retried, not answered 502", func(t *testing.T) {
		stand := startClosingNode(t, l.HostAddress())
		m := Member{Node: stand.ln.Addr().String(), Drain: 5 * time.Second}
		if _, err := AddMember(ctx, conn, m); err != nil {
			t.Fatal(err)
		}
		if got := exec(t, proxy, "ls "+PlaceholderFile+" 2>&1 || true"); !strings.Contains(got, "No such file") {
			t.Errorf("the placeholder is still there next to the only membership: %s", got)
		}
		// One client connection: NGINX serves it with one worker, which reuses the connection to
		// the node it kept from the previous request.
		c := client(ca, proxy.Address(), nil, true)
		const n = 20
		var failed []string
		for i := range n {
			resp, body, err := get(c, fmt.Sprintf("%s/closing?i=%d", https, i))
			if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "node: host-stand-in") {
				status := "no answer"
				if resp != nil {
					status = resp.Status
				}
				failed = append(failed, fmt.Sprintf("request %d: %s %q %v", i, status, body, err))
			}
		}
		t.Logf("%d requests through the proxy, %d failed; the stand-in answered %d and closed %d reused connections",
			n, len(failed), stand.served.Load(), stand.closed.Load())
		if len(failed) > 0 {
			t.Errorf("requests answered with an error instead of being retried on a new connection:\n%s\nproxy error log:\n%s",
				strings.Join(failed, "\n"), exec(t, proxy, "tail -n 20 /var/log/nginx/error.log"))
		}
		// The case was exercised: the proxy did reuse connections the node then closed.
		if stand.closed.Load() < n/2 {
			t.Errorf("the stand-in closed only %d reused connections in %d requests: the proxy did not keep connections alive", stand.closed.Load(), n)
		}
		if _, err := RemoveMember(ctx, conn, m); err != nil {
			t.Fatal(err)
		}
		// No membership left: the placeholder is back, so that NGINX still accepts the site.
		if resp, _, err := get(client(ca, proxy.Address(), nil, false), https+"/"); err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Errorf("GET through a proxy without members: %v %v; want 502", resp, err)
		}
		if out, err := proxy.Exec(ctx, "nginx -t 2>&1 && cat "+PlaceholderFile); err != nil || !strings.Contains(string(out), placeholderServer+" down;") {
			t.Errorf("nginx -t or the placeholder after the last membership was removed: %s %v", out, err)
		}
	})

	t.Run("a membership adds the node: the page comes from it", func(t *testing.T) {
		res, err := AddMember(ctx, conn, oldMember)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Changed || !res.Reloaded {
			t.Errorf("result %+v", res)
		}
		resp, body, err := get(client(ca, proxy.Address(), nil, false), https+"/")
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "node: node-old") {
			t.Fatalf("GET through the proxy: %v %q %v", resp, body, err)
		}
		// The proxy's own Read still reports no node: memberships are not its nodes.
		st, err := Read(ctx, conn)
		if err != nil || len(st.Site.Nodes) != 0 {
			t.Errorf("Read: nodes %v, %v", st.Site.Nodes, err)
		}
		guest.ResetStats()
		if res, err := AddMember(ctx, conn, oldMember); err != nil || res.Changed || res.Reloaded || guest.Stats().ChangeCommands != 0 {
			t.Errorf("second AddMember: %+v, %v, %d changing commands", res, err, guest.Stats().ChangeCommands)
		}
		ms, err := ReadMember(ctx, conn, oldMember.Node)
		if err != nil || len(ms.Drift(oldMember)) != 0 || ms.DrainTimeout != 30*time.Second {
			t.Errorf("ReadMember: %+v %v, drift %v", ms, err, ms.Drift(oldMember))
		}
	})

	t.Run("file removed by hand shows as drift", func(t *testing.T) {
		f := MemberFile(oldMember.Node)
		exec(t, proxy, "mv "+f+" /root/member.keep")
		ms, err := ReadMember(ctx, conn, oldMember.Node)
		if err != nil {
			t.Fatal(err)
		}
		if d := ms.Drift(oldMember); len(d) != 1 || !strings.Contains(d[0], "is missing") {
			t.Errorf("drift %q", d)
		}
		exec(t, proxy, "mv /root/member.keep "+f)
	})

	// A slow download on the old node: 1.5 MB at 250 kB/s takes 6 s, in flight while the node
	// is removed. The node's server block includes hipchat-datacenter/*.conf.
	exec(t, oldNode, `head -c 1500000 /dev/zero > /var/tmp/slow.bin && install -d -m 0755 /etc/nginx/hipchat-datacenter && `+
		`printf 'location = /slow { alias /var/tmp/slow.bin; limit_rate 250k; }\n' > /etc/nginx/hipchat-datacenter/slow.conf && nginx -t 2>/dev/null && nginx -s reload`)
	waitFor(t, 10*time.Second, "the old node serves /slow", func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+oldNode.Address()+"/slow", nil)
		req.Header.Set("Range", "bytes=0-0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusPartialContent
	})

	t.Run("node replaced under load: zero failed requests, the long request completes", func(t *testing.T) {
		tr := &traffic{}
		for i := range 4 {
			var jar http.CookieJar
			if i%2 == 0 {
				jar, _ = cookiejar.New(nil) // keeps the route cookie from its first answer
			}
			tr.run(client(ca, proxy.Address(), jar, i < 2), jar != nil)
		}
		waitFor(t, 10*time.Second, "requests through the proxy", func() bool { return len(tr.after(time.Time{})) >= 8 })

		addStart := time.Now()
		if _, err := AddMember(ctx, conn, newMember); err != nil {
			t.Fatal(err)
		}
		t.Logf("new node added in %v", time.Since(addStart).Round(time.Millisecond))

		// Route cookies that now pick the old node, the way a user's session is stuck to it.
		var oldCookies []string
		for i := 0; i < 64 && len(oldCookies) < 2; i++ {
			resp, body, err := get(client(ca, proxy.Address(), nil, false), https+"/")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(body, "node: node-old") {
				for _, c := range resp.Cookies() {
					if c.Name == RouteCookie {
						oldCookies = append(oldCookies, c.Value)
					}
				}
			}
		}
		if len(oldCookies) < 2 {
			t.Fatalf("no route cookie picked the old node in 64 tries: %v", oldCookies)
		}
		u, _ := url.Parse(https + "/")
		for _, v := range oldCookies {
			jar, _ := cookiejar.New(nil)
			jar.SetCookies(u, []*http.Cookie{{Name: RouteCookie, Value: v}})
			tr.run(client(ca, proxy.Address(), jar, true), true)
		}

		// The long request, on the old node by its cookie, in flight across the removal.
		type longResult struct {
			status int
			n      int64
			err    error
			end    time.Time
		}
		headers, longDone := make(chan struct{}), make(chan longResult, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, https+"/slow", nil)
			req.AddCookie(&http.Cookie{Name: RouteCookie, Value: oldCookies[0]})
			c := client(ca, proxy.Address(), nil, false)
			c.Timeout = time.Minute
			resp, err := c.Do(req)
			close(headers)
			if err != nil {
				longDone <- longResult{err: err, end: time.Now()}
				return
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			longDone <- longResult{status: resp.StatusCode, n: n, err: err, end: time.Now()}
		}()
		<-headers

		removeStart := time.Now()
		res, err := RemoveMember(ctx, conn, oldMember)
		removed := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		long := <-longDone
		t.Logf("old node removed in %v (drained %v, %d workers cut off); the long request ended %v after the removal began",
			removed.Sub(removeStart).Round(time.Millisecond), res.Drained.Round(time.Millisecond), res.CutOff, long.end.Sub(removeStart).Round(time.Millisecond))
		if long.err != nil || long.status != http.StatusOK || long.n != 1500000 {
			t.Errorf("the long request: status %d, %d bytes, %v; want 200 with 1500000 bytes", long.status, long.n, long.err)
		}
		if res.CutOff != 0 {
			t.Errorf("%d workers were cut off", res.CutOff)
		}
		// The removal waited for the request it drained: it ended before RemoveMember returned.
		if long.end.After(removed) {
			t.Errorf("RemoveMember returned %v before the long request ended: it did not wait for the drain", long.end.Sub(removed))
		}
		if left := exec(t, proxy, "pgrep -f '[w]orker process is shutting down' || true"); left != "" {
			t.Errorf("retired workers still running after RemoveMember: %s", left)
		}

		waitFor(t, 20*time.Second, "requests after the removal", func() bool { return len(tr.after(removed)) >= 20 })
		all := tr.finish()
		perNode := map[string]int{}
		failed := 0
		for _, o := range all {
			if o.err != nil {
				failed++
				t.Errorf("request started %v after the load began failed: %v", o.start.Sub(all[0].start).Round(time.Millisecond), o.err)
				continue
			}
			perNode[o.node]++
		}
		after := tr.after(removed)
		var wrong []string
		cookieAfter := 0
		for _, o := range after {
			if o.err == nil && o.node != "node-new" {
				wrong = append(wrong, o.node)
			}
			if o.cookie {
				cookieAfter++
			}
		}
		t.Logf("%d requests (%d failed): %v; %d after the removal (%d with a route cookie)", len(all), failed, perNode, len(after), cookieAfter)
		if failed > 0 {
			t.Logf("the load began at %s; proxy error log:\n%s", all[0].start.UTC().Format("15:04:05.000"), exec(t, proxy, "tail -n 30 /var/log/nginx/error.log"))
		}
		if len(wrong) > 0 {
			t.Errorf("%d requests after the removal were answered by %v, not node-new", len(wrong), wrong)
		}
		if perNode["node-old"] == 0 || perNode["node-new"] == 0 || cookieAfter == 0 {
			t.Errorf("the load did not reach both nodes, or no cookie request after the removal: %v, %d", perNode, cookieAfter)
		}
		if got := exec(t, proxy, "ls "+MembersDir+" | tr '\\n' ' '"); strings.TrimSpace(got) != strings.TrimPrefix(MemberFile(newMember.Node), MembersDir+"/") {
			t.Errorf("membership files left: %q", got)
		}
	})

	t.Run("removing a membership that is gone changes nothing", func(t *testing.T) {
		guest.ResetStats()
		res, err := RemoveMember(ctx, conn, oldMember)
		if err != nil || res.Changed || guest.Stats().ChangeCommands != 0 {
			t.Errorf("RemoveMember: %+v %v, %d changing commands", res, err, guest.Stats().ChangeCommands)
		}
	})

	t.Run("the last membership file removed by hand, then the membership: the node is taken out", func(t *testing.T) {
		// NGINX refuses an upstream without a server, so it keeps the node it has.
		exec(t, proxy, "rm "+MemberFile(newMember.Node)+" && { nginx -s reload 2>/dev/null; true; }")
		if resp, page, err := get(client(ca, proxy.Address(), nil, false), https+"/"); err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(page, "node-new") {
			t.Fatalf("GET after the file went by hand: %v %q %v; want node-new's page", resp, page, err)
		}
		res, err := RemoveMember(ctx, conn, newMember)
		if err != nil || !res.Reloaded {
			t.Fatalf("RemoveMember: %+v %v; want a reload", res, err)
		}
		exec(t, proxy, "test -e "+PlaceholderFile+" && nginx -t 2>/dev/null")
		waitFor(t, time.Minute, "the proxy answers 502 without a node", func() bool {
			resp, _, err := get(client(ca, proxy.Address(), nil, false), https+"/")
			return err == nil && resp.StatusCode == http.StatusBadGateway
		})
	})

	t.Run("a site NGINX refuses, with no node at all: the placeholder is restored with the old site", func(t *testing.T) {
		_, err := Apply(ctx, conn, Site{ServerName: publicName, CertificatePEM: leaf.ChainPEM, PrivateKeyPEM: leaf.KeyPEM, Nodes: []string{"no-such-node.invalid"}})
		var rejected *RejectedError
		if !errors.As(err, &rejected) {
			t.Fatalf("Apply with a node NGINX cannot resolve: %v; want NGINX's refusal", err)
		}
		exec(t, proxy, "test -e "+PlaceholderFile+" && nginx -t 2>/dev/null")
	})
}
