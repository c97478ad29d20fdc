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

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
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

// heldRequest ends the long request of TestAccReverseProxyNode_replaceUnderLoad, which node A
// holds open (the lab's /hold), once node A has left the proxy: its membership file is gone, no
// change of NGINX is in progress on the proxy any more (the removal holds nginx.LockFile until
// its graceful reload is done), and the removal of the membership has not returned (it is
// draining). A removal that does not wait for the drain returns while the request is held, and
// then it is never released before the apply ends.
type heldRequest struct {
	release func(ctx context.Context) error // creates the request's release file on node A

	mu       sync.Mutex
	released time.Time // when run decided to release it; zero while held
	stopped  bool
	why      string // what run saw last, for a failure message
	done     chan struct{}
	once     sync.Once
}

func newHeldRequest(release func(ctx context.Context) error) *heldRequest {
	return &heldRequest{release: release, done: make(chan struct{})}
}

// run looks at the proxy (every 100 ms, for at most 10 minutes) until the request is to be
// released, releases it, and returns; or returns when stop is called.
func (h *heldRequest) run(proxy *lab.Guest, file string, removing *atomic.Int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	look := fmt.Sprintf("[ -e %s ] && echo present; flock -n %s true && echo unlocked; true", guest.Quote(file), nginx.LockFile)
	for {
		out, err := proxy.Exec(ctx, look)
		seen := ""
		switch {
		case err != nil:
			seen = fmt.Sprintf("looking at the proxy failed: %v", err)
		case strings.Contains(string(out), "present"):
			seen = "node A's membership file " + file + " was still on the proxy"
		case !strings.Contains(string(out), "unlocked"):
			seen = "node A's membership file was gone, but the change of NGINX (" + nginx.LockFile + ") was not over"
		case removing.Load() == 0:
			seen = "node A's membership file was gone and NGINX reloaded, but the removal of the membership had returned already"
		}
		h.mu.Lock()
		if h.stopped {
			h.mu.Unlock()
			return
		}
		h.why = seen
		if seen == "" {
			h.released = time.Now()
		}
		h.mu.Unlock()
		if seen == "" {
			if err := h.release(ctx); err != nil {
				h.mu.Lock()
				h.why = fmt.Sprintf("releasing it failed: %v", err)
				h.mu.Unlock()
			}
			return
		}
		select {
		case <-h.done:
			return
		case <-ctx.Done():
			h.mu.Lock()
			h.why += " (looked for 10 minutes)"
			h.mu.Unlock()
			return
		case <-time.After(100 * time.Millisecond): // the pace of looking, not a wait for a condition
		}
	}
}

// stop ends run without a release, unless it has released already: it returns when the request
// was released (zero if not) and what run saw last.
func (h *heldRequest) stop() (time.Time, string) {
	h.once.Do(func() { close(h.done) })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	return h.released, h.why
}

// watchRemovals serves the providers of factories so that removing counts the removals of a
// hipchatdc_reverse_proxy_node (applies planned to null) in progress, and removed holds when
// the last one returned (Unix nanoseconds).
func watchRemovals(removing *atomic.Int32, removed *atomic.Int64, factories map[string]func() (tfprotov6.ProviderServer, error)) map[string]func() (tfprotov6.ProviderServer, error) {
	return acctest.WrapFactories(factories, func(s tfprotov6.ProviderServer) tfprotov6.ProviderServer {
		return removalWatch{ProviderServer: s, removing: removing, removed: removed}
	})
}

type removalWatch struct {
	tfprotov6.ProviderServer
	removing *atomic.Int32
	removed  *atomic.Int64
}

func (s removalWatch) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	if req.TypeName == "hipchatdc_reverse_proxy_node" {
		if null, err := req.PlannedState.IsNull(); req.PlannedState == nil || (err == nil && null) {
			s.removing.Add(1)
			defer func() { s.removed.Store(time.Now().UnixNano()); s.removing.Add(-1) }()
		}
	}
	return s.ProviderServer.ApplyResourceChange(ctx, req)
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
		body   string
		err    error
		end    time.Time
	}
	longDone := make(chan longResult, 1)
	// The long request is held open by node A (the lab's /hold) until hold releases it: once
	// node A's membership file is gone from the proxy and the proxy has reloaded without it,
	// while the provider is still removing the membership (draining). So it spans the switch
	// whatever the machine's speed, with no length to guess.
	var removing atomic.Int32
	var removed atomic.Int64
	hold := newHeldRequest(func(ctx context.Context) error {
		_, err := nodeA.Exec(ctx, "install -d /run/hipchatdc-lab-hold && touch /run/hipchatdc-lab-hold/replace")
		return err
	})
	t.Cleanup(func() { hold.stop() })
	var applyStart time.Time

	var ssh guest.Tally
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: watchRemovals(&removing, &removed, acctest.CountSSH(&ssh, acctest.Factories())),
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
				// (c) The membership file removed by hand (the only one: the upstream has no
				// server left, so NGINX refuses to load that and keeps serving node A): the plan
				// shows the drift as an update of the membership (not of the proxy), and the
				// apply puts the file back.
				PreConfig: func() {
					// Without the file the upstream has no server: NGINX refuses to reload
					// and keeps serving the configuration it has.
					out := acctest.GuestExec(t, l, name, "rm "+fileA+" && nginx -t 2>&1 || true")
					if !strings.Contains(out, "no servers are inside upstream") {
						t.Errorf("nginx -t without the membership file: %s", out)
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
					// The long request, opened on node A before the apply: its headers come at once.
					headers := make(chan error, 1)
					go func() {
						c := httpsClient(ca, addr)
						c.Timeout = 15 * time.Minute // /hold gives up after 10
						resp, err := c.Get("https://" + publicName + "/hold?release=replace")
						if err == nil && resp.Header.Get("X-Hipchat-Node") != "node-a.example.com" {
							err = fmt.Errorf("the long request went to %q, want node-a.example.com", resp.Header.Get("X-Hipchat-Node"))
						}
						headers <- err
						if err != nil {
							longDone <- longResult{err: err, end: time.Now()}
							return
						}
						defer resp.Body.Close()
						body, err := io.ReadAll(resp.Body)
						longDone <- longResult{status: resp.StatusCode, body: string(body), err: err, end: time.Now()}
					}()
					select {
					case err := <-headers:
						if err != nil {
							t.Fatalf("the long request to node A: %v", err)
						}
					case <-time.After(2 * time.Minute):
						t.Fatal("the long request to node A (/hold) got no answer headers within 2 minutes")
					}
					applyStart = time.Now()
					wctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					proxyGuest, err := l.WaitGuest(wctx, name)
					if err != nil {
						t.Fatal(err)
					}
					go hold.run(proxyGuest, fileA, &removing)
				},
				Config: memberConfig(t, l, proxy, nodeB.Address()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(member, plancheck.ResourceActionCreateBeforeDestroy),
					plancheck.ExpectResourceAction("hipchatdc_reverse_proxy.edge", plancheck.ResourceActionNoop),
				}},
				Check: func(*terraform.State) error {
					applied := time.Now()
					released, why := hold.stop()
					if released.IsZero() {
						select {
						case long := <-longDone:
							return fmt.Errorf("the long request to node A ended before the test released it (%s): status %d, body %q, %w: node A's requests were cut off, not drained", why, long.status, long.body, long.err)
						default:
						}
						// Let it end, so that the step does not leave it open.
						if err := hold.release(context.Background()); err != nil {
							t.Log(err)
						}
						return fmt.Errorf("the apply returned while the long request to node A was still open (it is released once node A's membership file is gone, the proxy has reloaded and the removal is still draining; %s): node A was not drained", why)
					}
					var long longResult
					select {
					case long = <-longDone:
					case <-time.After(5 * time.Minute):
						_, why = hold.stop()
						return fmt.Errorf("the long request to node A, released %v before the apply returned, did not end within 5 minutes (%s)", applied.Sub(released), why)
					}
					// The removal drained node A: it returned only after the request it waited
					// for was released (whatever the pace of the test's polling).
					if r := time.Unix(0, removed.Load()); !r.After(released) {
						return fmt.Errorf("the removal of node A's membership returned %v before the test released the long request to node A: node A was not drained", released.Sub(r))
					}
					t.Logf("apply %v; the long request released %v and ended %v after the apply began",
						applied.Sub(applyStart).Round(time.Millisecond), released.Sub(applyStart).Round(time.Millisecond), long.end.Sub(applyStart).Round(time.Millisecond))
					// Its whole body: node A's line, the lines sent while held, and the end written
					// only after the release (a connection cut by the switch ends it short).
					if long.err != nil || long.status != http.StatusOK || !strings.HasPrefix(long.body, "<p>node: node-a.example.com</p>") || !strings.HasSuffix(long.body, "\nreleased\n") {
						return fmt.Errorf("the long request to node A, open while node A's membership was removed: status %d, body %q, %w; want 200, node-a.example.com's answer ending with \"released\"", long.status, long.body, long.err)
					}
					// Requests after the switch: every one answered by node B (20 of them take about
					// a second; the bound is for a busy machine).
					deadline := time.Now().Add(2 * time.Minute)
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
