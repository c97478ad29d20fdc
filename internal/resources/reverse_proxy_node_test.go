package resources_test

import (
	"context"
	"fmt"
	"io"
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
	"github.com/vmware/govmomi/object"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nginx"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

// memberConfig is a proxy without nodes of its own and one membership per node address
// (resource names app, app2, ...).
func memberConfig(t *testing.T, l *lab.Lab, proxy proxyOpts, nodes ...string) string {
	cfg := proxyConfig(t, l, proxy)
	for i, n := range nodes {
		name := "app"
		if i > 0 {
			name = fmt.Sprintf("app%d", i+1)
		}
		cfg += fmt.Sprintf(`
resource "hipchatdc_reverse_proxy_node" %q {
  proxy_address = hipchatdc_reverse_proxy.edge.ipv4_address
  node_address  = %q
  drain_timeout = 150
  lifecycle {
    create_before_destroy = true
  }
}
`, name, n)
	}
	return cfg
}

var pageNode = regexp.MustCompile(`node: (\S+)</p>`)

// servedBy is the node whose page answers GET / through the proxy.
func servedBy(c *http.Client) (string, error) {
	resp, body, err := get(c, "https://"+publicName+"/")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET through the proxy: %s", resp.Status)
	}
	m := pageNode.FindStringSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("the page names no node: %q", body)
	}
	return m[1], nil
}

func expectServedBy(ca *tlstest.CA, addr, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got, err := servedBy(httpsClient(ca, addr))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("the page through the proxy comes from %s, want %s", got, want)
		}
		return nil
	}
}

// clientLoad keeps clients sending requests through the proxy, 50 ms apart each, recording
// which node answered or why a request failed.
type clientLoad struct {
	mu     sync.Mutex
	served []struct {
		start time.Time
		node  string
		err   error
	}
	stop atomic.Bool
	wg   sync.WaitGroup
}

func (cl *clientLoad) run(c *http.Client) {
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		for !cl.stop.Load() {
			start := time.Now()
			node, err := servedBy(c)
			cl.mu.Lock()
			cl.served = append(cl.served, struct {
				start time.Time
				node  string
				err   error
			}{start, node, err})
			cl.mu.Unlock()
			time.Sleep(50 * time.Millisecond) // a client's pacing, not a wait for a condition
		}
	}()
}

// first is when the first request answered by node started.
func (cl *clientLoad) first(node string) time.Time {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, s := range cl.served {
		if s.node == node {
			return s.start
		}
	}
	return time.Time{}
}

// since returns the nodes that answered requests started after t, and the failures.
func (cl *clientLoad) since(t time.Time) (nodes map[string]int, failed []error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	nodes = map[string]int{}
	for _, s := range cl.served {
		if !s.start.After(t) {
			continue
		}
		if s.err != nil {
			failed = append(failed, s.err)
			continue
		}
		nodes[s.node]++
	}
	return nodes, failed
}

func TestAccReverseProxyNode_replaceUnderLoad(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-pnode-proxy"
	addr := acctest.LabAddress(t, l, false, 116)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodeA, err := l.StartGuestVM(ctx, "tf-pnode-a", lab.KindNode)
	if err != nil {
		t.Fatal(err)
	}
	nodeB, err := l.StartGuestVM(ctx, "tf-pnode-b", lab.KindNode)
	if err != nil {
		t.Fatal(err)
	}
	for g, host := range map[*lab.Guest]string{nodeA: "node-a.example.com", nodeB: "node-b.example.com"} {
		if _, err := g.Exec(ctx, "hostnamectl set-hostname "+host); err != nil {
			t.Fatal(err)
		}
	}
	// A slow download on node A (2.5 MB at 28 kB/s: about 90 s), the long-lived request that is
	// in flight while node A leaves the proxy: long enough to outlast the apply's refresh and the
	// new membership's create (under load, with four busy loops and other suites beside it, node
	// B first served 32 s into the apply; a 25-s download ended before that), and ending within
	// drain_timeout (150 s) of the removal. Still a margin, not a handshake: a request held
	// open until the test sees node A's file removed would need none. The node's server block includes
	// these files.
	if _, err := nodeA.Exec(ctx, `head -c 2500000 /dev/zero > /var/tmp/slow.bin && install -d -m 0755 /etc/nginx/hipchat-datacenter && `+
		`printf 'location = /slow { alias /var/tmp/slow.bin; limit_rate 28k; }\n' > /etc/nginx/hipchat-datacenter/slow.conf && nginx -t 2>/dev/null && nginx -s reload`); err != nil {
		t.Fatal(err)
	}
	ca, err := tlstest.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{DNSNames: []string{publicName}})
	if err != nil {
		t.Fatal(err)
	}
	proxy := proxyOpts{name: name, address: addr, cert: leaf}
	member := "hipchatdc_reverse_proxy_node.app"
	fileA := nginx.MemberFile(nodeA.Address())

	load := &clientLoad{}
	type longResult struct {
		status int
		n      int64
		err    error
		end    time.Time
	}
	longDone := make(chan longResult, 1)
	var applyStart time.Time

	var ssh guest.Tally
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.CountSSH(&ssh, acctest.Factories()),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				// (a) A proxy with no nodes of its own and one membership: the page comes from
				// the node.
				Config: memberConfig(t, l, proxy, nodeA.Address()),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(member, "id", addr+"/"+nodeA.Address()+":80"),
					resource.TestCheckResourceAttr(member, "file", fileA),
					resource.TestCheckResourceAttr(member, "drift.#", "0"),
					resource.TestCheckResourceAttr("hipchatdc_reverse_proxy.edge", "nodes.#", "0"),
					resource.TestCheckResourceAttr("hipchatdc_reverse_proxy.edge", "drift.#", "0"),
					expectServedBy(ca, addr, "node-a.example.com"),
				),
			},
			{
				// Re-apply: nothing planned, nothing changed on the proxy.
				PreConfig:        ssh.Reset,
				Config:           memberConfig(t, l, proxy, nodeA.Address()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check:            noChangingCommands(&ssh),
			},
			{
				// (c) The membership file removed by hand: the proxy answers 502, the plan shows
				// the drift as an update of the membership (not of the proxy), and the apply
				// puts the node back.
				PreConfig: func() {
					acctest.GuestExec(t, l, name, "rm "+fileA+" && nginx -s reload")
					// The reload takes effect once the old workers stop accepting: wait for it.
					deadline := time.Now().Add(10 * time.Second)
					for {
						_, err := servedBy(httpsClient(ca, addr))
						if err != nil && strings.Contains(err.Error(), "502") {
							break
						}
						if time.Now().After(deadline) {
							t.Errorf("after removing the file by hand: %v; want 502", err)
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
				},
				Config: memberConfig(t, l, proxy, nodeA.Address()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(member, plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("hipchatdc_reverse_proxy.edge", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(member, "drift.#", "0"),
					expectServedBy(ca, addr, "node-a.example.com"),
				),
			},
			// (d) Import by "<proxy_address>/<node host:port>".
			{
				ResourceName:      member,
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				// (e) A node that does not answer from the proxy (the lab host's address, nothing
				// on port 81): the apply fails naming node_address, nothing is written, the
				// proxy keeps serving.
				Config:      memberConfig(t, l, proxy, nodeA.Address(), l.HostAddress()+":81"),
				ExpectError: regexp.MustCompile(`(?s)The node does not answer from the proxy.*` + acctest.Wrapped(fmt.Sprintf(`node_address = %q`, l.HostAddress()+":81")) + `.*refused.*Nothing\s+was\s+written`),
			},
			{
				PreConfig: func() {
					if got := acctest.GuestExec(t, l, name, "ls -A "+nginx.MembersDir+" "+nginx.TLSDir+" | grep -c -e _81 -e .member || true"); got != "0" {
						t.Errorf("files left on the proxy by the refused membership: %s", got)
					}
					if got, err := servedBy(httpsClient(ca, addr)); err != nil || got != "node-a.example.com" {
						t.Errorf("after the refused membership the proxy serves %q, %v", got, err)
					}
				},
				// (b) Node A replaced by node B (create_before_destroy) while clients keep
				// sending requests, some with route cookies (which all picked node A, the only
				// node when they got them), and one long download from node A in flight.
				Config: memberConfig(t, l, proxy, nodeA.Address()),
				Check: func(*terraform.State) error {
					for i := range 4 {
						c := httpsClient(ca, addr)
						if i%2 == 0 {
							c.Jar, _ = cookiejar.New(nil)
						}
						load.run(c)
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					headers := make(chan struct{})
					go func() {
						c := httpsClient(ca, addr)
						c.Timeout = 5 * time.Minute
						resp, err := c.Get("https://" + publicName + "/slow")
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
					applyStart = time.Now()
				},
				Config: memberConfig(t, l, proxy, nodeB.Address()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(member, plancheck.ResourceActionCreateBeforeDestroy),
					plancheck.ExpectResourceAction("hipchatdc_reverse_proxy.edge", plancheck.ResourceActionNoop),
				}},
				Check: func(*terraform.State) error {
					applied := time.Now()
					var long longResult
					select {
					case long = <-longDone:
					case <-time.After(5 * time.Minute):
						return fmt.Errorf("the long request did not end")
					}
					if long.end.After(applied) {
						return fmt.Errorf("the apply returned %v before the long request to the removed node ended: the old node was not drained", long.end.Sub(applied))
					}
					t.Logf("apply %v; the long request ended %v after the apply began", applied.Sub(applyStart).Round(time.Millisecond), long.end.Sub(applyStart).Round(time.Millisecond))
					if long.err != nil || long.status != http.StatusOK || long.n != 2500000 {
						return fmt.Errorf("the long request: status %d, %d bytes, %w; want 200 with 2500000 bytes", long.status, long.n, long.err)
					}
					// Requests after the switch: every one answered by node B.
					deadline := time.Now().Add(30 * time.Second)
					for {
						nodes, _ := load.since(applied)
						if nodes["node-b.example.com"]+nodes["node-a.example.com"] >= 20 || time.Now().After(deadline) {
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
					load.stop.Store(true)
					load.wg.Wait()
					all, failed := load.since(time.Time{})
					after, _ := load.since(applied)
					t.Logf("requests: %v in all, %v after the apply, %d failed", all, after, len(failed))
					if len(failed) > 0 {
						return fmt.Errorf("%d requests failed during the replacement, the first: %w", len(failed), failed[0])
					}
					if after["node-a.example.com"] > 0 || after["node-b.example.com"] < 20 {
						return fmt.Errorf("after the replacement the requests were answered by %v; want node-b.example.com only", after)
					}
					if all["node-a.example.com"] == 0 {
						return fmt.Errorf("no request reached node A: %v", all)
					}
					// The long request was still running once node B served, that is after the new
					// membership was created and so while the old one was removed (right after).
					if firstB := load.first("node-b.example.com"); !long.end.After(firstB) {
						return fmt.Errorf("the long request ended (%v) before node B served (%v): it did not span the removal", long.end, firstB)
					}
					if got := acctest.GuestExec(t, l, name, "ls "+nginx.MembersDir); got != strings.TrimPrefix(nginx.MemberFile(nodeB.Address()), nginx.MembersDir+"/") {
						return fmt.Errorf("membership files on the proxy: %q", got)
					}
					return nil
				},
			},
			{
				// The proxy VM destroyed by hand: refresh reports the membership as not verified
				// (a warning and drift, not an error), and the test's final destroy removes the
				// membership with a warning instead of waiting for the proxy forever.
				PreConfig: func() {
					acctest.WithVM(t, name, func(ctx context.Context, vm *object.VirtualMachine) {
						task, err := vm.PowerOff(ctx)
						if err == nil {
							err = task.Wait(ctx)
						}
						if err == nil {
							task, err = vm.Destroy(ctx)
						}
						if err == nil {
							err = task.Wait(ctx)
						}
						if err != nil {
							t.Fatalf("destroy the proxy VM: %v", err)
						}
					})
				},
				Config:             memberConfig(t, l, proxy, nodeB.Address()),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

func TestAccReverseProxyNode_rejectedAtPlan(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	ca, err := tlstest.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ca.Issue(tlstest.Options{DNSNames: []string{publicName}})
	proxy := proxyOpts{name: "tf-pnode-bad", address: acctest.LabAddress(t, l, false, 117), cert: leaf}
	for i, c := range []struct {
		node, extra, want string
	}{
		{"not an address!", "", acctest.Wrapped(`node_address = "not an address!": node "not an address!" is not an IP address or host name (optionally with :port)`)},
		{"10.0.0.5:70000", "", acctest.Wrapped(`node_address = "10.0.0.5:70000": node "10.0.0.5:70000": port "70000" is not 1-65535`)},
		{"10.0.0.5", "drain_timeout = 0", `(?s)drain_timeout.*between 1 and 3600`},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			cfg := memberConfig(t, l, proxy, c.node)
			if c.extra != "" {
				cfg = strings.Replace(cfg, "drain_timeout = 150", c.extra, 1)
			}
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.Factories(),
				Steps: []resource.TestStep{{
					Config:      cfg,
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(c.want),
				}},
			})
		})
	}
	if _, ok := acctest.VM(t, "tf-pnode-bad"); ok {
		t.Fatal("a VM was created for a rejected plan")
	}
}
