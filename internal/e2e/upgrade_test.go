package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// upgradeConfig is a root configuration around modules/small-scale-cluster whose node identity
// and OVA come from variables, as a team that upgrades its node writes it.
const upgradeConfig = `terraform {
  required_providers {
    hipchatdc = { source = "hipchatdc/hipchatdc" }
  }
}

provider "hipchatdc" {
  ssh {
    user             = "root"
    private_key      = file(var.ssh_private_key_file)
    known_hosts_file = var.ssh_known_hosts_file
  }
}

variable "datacenter" {}
variable "cluster" {}
variable "datastore" {}
variable "network" {}
variable "gateway" {}
variable "server_ova" {}
variable "hipchat_ova" {}
variable "node" { type = object({ name = string, hostname = string, address = string }) }
variable "addresses" { type = object({ data_stores = string, proxy = string }) }
variable "ssh_private_key_file" {}
variable "ssh_known_hosts_file" {}

module "cluster" {
  source = "../modules/small-scale-cluster"

  datacenter  = var.datacenter
  cluster     = var.cluster
  datastore   = var.datastore
  network     = var.network
  gateway     = var.gateway
  ntp_servers = [var.gateway]

  hipchat_ova = var.hipchat_ova
  server_ova  = var.server_ova

  node        = var.node
  data_stores = { name = "upg-data", hostname = "upg-data.example.com", address = var.addresses.data_stores, nfs_server = "ganesha" }
  proxy       = { name = "upg-proxy", hostname = "upg-proxy.example.com", address = var.addresses.proxy }

  drain_timeout = 20

  public_hostname   = "chat.example.com"
  certificate_pem   = file("../chat.pem")
  private_key_pem   = file("../chat.key")
  database_password = "upg-db-secret"
  redis_password    = "upg-redis-secret"
}
`

// upgradeVars are the values for upgradeConfig: the node of identity slot ("a" or "b") from
// the OVA given.
func (w *workspace) upgradeVars(t *testing.T, slot, ova string) string {
	l := acctest.Lab(t)
	v, s := l.VSphere(), l.SSH()
	host := map[string]int{"a": 192, "b": 193}[slot]
	return fmt.Sprintf(`datacenter           = %q
cluster              = %q
datastore            = %q
network              = %q
gateway              = %q
server_ova           = %q
hipchat_ova          = %q
node                 = { name = "upg-node-%s", hostname = "upg-node-%s.example.com", address = %q }
addresses            = { data_stores = %q, proxy = %q }
ssh_private_key_file = %q
ssh_known_hosts_file = %q
`, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.Gateway(l, false), acctest.OVA(t, lab.KindDebian, 60), ova, slot, slot,
		acctest.LabAddress(t, l, false, host), acctest.LabAddress(t, l, false, 190), acctest.LabAddress(t, l, false, 191),
		s.PrivateKeyFile, s.KnownHostsFile)
}

// answer is one request of the traffic through the proxy.
type answer struct {
	kind       string // "page", "session" (with the route cookie) or "longpoll"
	start, end time.Time
	release    string // what the page said ("" when it failed)
	err        string // transport error or unexpected status
}

// traffic is a client of the public URL sending requests all the time: pages without a cookie,
// pages of one session (the route cookie kept), and long polls held open for seconds by the
// node, many at once, as Hipchat's clients do.
type traffic struct {
	mu      sync.Mutex
	answers []answer
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var releaseLine = regexp.MustCompile(`release: ([^<\s]+)`)

func startTraffic(t *testing.T, w *workspace, proxy string) *traffic {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel}
	transport := func() *http.Transport {
		return &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool(), ServerName: "chat.example.com"},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(proxy, "443"))
			},
		}
	}
	get := func(c *http.Client, kind, path string) {
		a := answer{kind: kind, start: time.Now()}
		// Not ctx: a request under way when the traffic stops must finish and be judged.
		rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
		defer rcancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "https://chat.example.com"+path, nil)
		resp, err := c.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case rerr != nil:
				err = rerr
			case resp.StatusCode != http.StatusOK:
				err = fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
			default:
				if m := releaseLine.FindSubmatch(body); m != nil {
					a.release = string(m[1])
				} else {
					err = fmt.Errorf("no release on the page: %.200s", body)
				}
			}
		}
		if err != nil {
			a.err = err.Error()
		}
		a.end = time.Now()
		tr.mu.Lock()
		tr.answers = append(tr.answers, a)
		tr.mu.Unlock()
	}
	// every paces a worker: a request each period, each in its own goroutine so that a slow
	// answer does not lower the rate.
	every := func(period time.Duration, f func()) {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				tr.wg.Add(1)
				go func() { defer tr.wg.Done(); f() }()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	pages := &http.Client{Transport: transport()}
	jar, _ := cookiejar.New(nil)
	session := &http.Client{Transport: transport(), Jar: jar}
	polls := &http.Client{Transport: transport()}
	every(200*time.Millisecond, func() { get(pages, "page", "/") })
	every(200*time.Millisecond, func() { get(session, "session", "/") })
	// A 6 s long poll every 300 ms: about twenty are open at any moment.
	every(300*time.Millisecond, func() { get(polls, "longpoll", "/longpoll?seconds=6") })
	return tr
}

// stop ends the traffic and returns every answer, in the order the requests started.
func (tr *traffic) stop() []answer {
	tr.cancel()
	tr.wg.Wait()
	sort.Slice(tr.answers, func(i, j int) bool { return tr.answers[i].start.Before(tr.answers[j].start) })
	return tr.answers
}

// answerSummary counts answers by kind and release.
func answerSummary(as []answer) string {
	n := map[string]int{}
	for _, a := range as {
		r := a.release
		if a.err != "" {
			r = "FAILED"
		}
		n[a.kind+" "+r]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d; ", k, n[k])
	}
	return b.String()
}

func failures(t *testing.T, as []answer) {
	t.Helper()
	bad := 0
	for _, a := range as {
		if a.err != "" {
			bad++
			if bad <= 10 {
				t.Errorf("%s request started %s failed after %v: %s", a.kind, a.start.Format("15:04:05.000"), a.end.Sub(a.start).Round(time.Millisecond), a.err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d requests failed", bad, len(as))
	}
}

// hookTimes reads `terraform apply -json`: when the apply of addr (action, "" for any) started
// and completed.
func hookTimes(t *testing.T, applyJSON, addr, action string) (start, end time.Time) {
	t.Helper()
	for _, line := range strings.Split(applyJSON, "\n") {
		var msg struct {
			Timestamp string `json:"@timestamp"`
			Type      string `json:"type"`
			Hook      struct {
				Action   string `json:"action"`
				Resource struct {
					Addr string `json:"addr"`
				} `json:"resource"`
			} `json:"hook"`
		}
		if json.Unmarshal([]byte(line), &msg) != nil || msg.Hook.Resource.Addr != addr || (action != "" && msg.Hook.Action != action) {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, msg.Timestamp)
		if err != nil {
			t.Fatalf("timestamp %q: %v", msg.Timestamp, err)
		}
		switch msg.Type {
		case "apply_start":
			start = ts
		case "apply_complete":
			end = ts
		}
	}
	if start.IsZero() || end.IsZero() {
		t.Fatalf("no %s of %s in the apply's output:\n%s", action, addr, applyJSON)
	}
	return start, end
}

// changesPlanned is what a saved plan does to each resource that changes: "create,delete" for a
// replacement that creates first.
func changesPlanned(t *testing.T, w *workspace, dir string, args ...string) map[string]string {
	t.Helper()
	w.mustTF(dir, append([]string{"plan", "-input=false", "-out=upgrade.tfplan"}, args...)...)
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Deposed string `json:"deposed"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(w.mustTF(dir, "show", "-json", "upgrade.tfplan")), &plan); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rc := range plan.ResourceChanges {
		if a := strings.Join(rc.Change.Actions, ","); a != "no-op" && a != "read" {
			addr := rc.Address
			if rc.Deposed != "" {
				addr += " (deposed)"
			}
			got[addr] = a
		}
	}
	return got
}

// TestAccModule_upgradeNode upgrades the small-scale cluster's node to a new OVA release while a
// client sends requests through the proxy all the time (pages, a session with its route cookie,
// long polls): first to a release whose self-check fails, then to a good one. It asserts what
// the issue asks: the plan replaces the node (create before destroy) and changes the proxy
// membership, nothing else but the anti-affinity rule's VM list; no request fails; the failed
// release stops the apply naming the self-check, with the old node still serving and still in
// the proxy, and leaves nothing the next apply cannot take over; after the good release every
// request is answered by it, the old VM is gone and the next plan is empty. Then a rollback to
// release A (the old OVA again, on the first identity), interrupted with SIGINT during the OVA's
// upload: release B keeps serving, and the next apply finishes the rollback the same way.
func TestAccModule_upgradeNode(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	w := newWorkspace(t)
	const dir = "upgrade"
	if err := os.MkdirAll(filepath.Join(w.dir, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, dir, "main.tf"), []byte(upgradeConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(w.dir, dir, "terraform.tfvars")
	use := func(slot, ova string) {
		if err := os.WriteFile(vars, []byte(w.upgradeVars(t, slot, ova)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	releaseA, releaseB := acctest.ReleaseOVA(t, "A", false), acctest.ReleaseOVA(t, "B", false)
	broken := acctest.ReleaseOVA(t, "C-broken", true)
	w.mustTF(dir, "get")
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = w.tf(dir, "destroy", "-auto-approve", "-input=false")
		}
	})
	const (
		node    = "module.cluster.hipchatdc_node.app"
		member  = "module.cluster.hipchatdc_reverse_proxy_node.app"
		rule    = "module.cluster.hipchatdc_anti_affinity_rule.separate_hosts[0]"
		proxyVM = "upg-proxy"
	)
	proxy := acctest.LabAddress(t, l, false, 191)

	use("a", releaseA)
	start := time.Now()
	applied := w.mustTF(dir, "apply", "-auto-approve", "-input=false", "-json")
	t.Logf("measured: first apply (three VMs and the membership) %v", time.Since(start).Round(time.Second))
	checkCreatesOverlap(t, applied, 3)

	// The traffic runs from here to the end: it must see release A before anything changes.
	tr := startTraffic(t, w, proxy)
	stopped := false
	defer func() {
		if !stopped {
			tr.stop()
		}
	}()
	waitAnswered := func(release string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			tr.mu.Lock()
			seen := false
			for _, a := range tr.answers {
				seen = seen || (a.kind == "longpoll" && a.release == release)
			}
			tr.mu.Unlock()
			if seen {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no long poll answered by release %s within a minute", release)
			}
		}
	}
	waitAnswered("A")
	// waitAfter lets the traffic run on after a switch until every kind of request has been
	// answered 20 times since (started after it), so that "after the switch" is a sample.
	waitAfter := func(switched time.Time) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			n := map[string]int{}
			tr.mu.Lock()
			for _, a := range tr.answers {
				if a.start.After(switched) {
					n[a.kind]++
				}
			}
			tr.mu.Unlock()
			if n["page"] >= 20 && n["session"] >= 20 && n["longpoll"] >= 20 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the switch, in 2 minutes only %v requests answered", n)
			}
		}
	}

	// 1. A release whose self-check fails.
	use("b", broken)
	if got, want := changesPlanned(t, w, dir), map[string]string{node: "create,delete", member: "create,delete", rule: "update"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan of the upgrade: %v, want %v", got, want)
	}
	out, err := w.tf(dir, "apply", "-auto-approve", "-input=false", "-no-color")
	if err == nil {
		t.Fatalf("the apply of a release whose self-check fails succeeded:\n%s", out)
	}
	if !regexp.MustCompile(`(?s)self-check failed.*release: FAILED`).MatchString(out) {
		t.Errorf("the failed apply does not name the self-check:\n%s", out)
	}
	if _, ok := acctest.VM(t, "upg-node-b"); ok {
		t.Error("the VM of the release whose self-check failed is still in vSphere")
	}
	if _, ok := acctest.VM(t, "upg-node-a"); !ok {
		t.Error("the old node's VM is gone after the failed upgrade")
	}
	if show := w.mustTF(dir, "state", "show", "-no-color", member); !strings.Contains(show, acctest.LabAddress(t, l, false, 192)) {
		t.Errorf("the proxy membership is no longer the old node's:\n%s", show)
	}
	// Nothing is left that the next apply cannot take over: it plans the same upgrade again (a
	// deposed object left in the state would show up here as a destroy of its own).
	if got, want := changesPlanned(t, w, dir), map[string]string{node: "create,delete", member: "create,delete", rule: "update"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan after the failed upgrade: %v, want %v", got, want)
	}

	// 2. The good release.
	use("b", releaseB)
	if got, want := changesPlanned(t, w, dir), map[string]string{node: "create,delete", member: "create,delete", rule: "update"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan of the upgrade: %v, want %v", got, want)
	}
	start = time.Now()
	applied = w.mustTF(dir, "apply", "-auto-approve", "-input=false", "-json")
	took := time.Since(start)
	// The old membership: removed from the proxy and drained (its delete), then the old node.
	drainStart, drainEnd := hookTimes(t, applied, member, "delete")
	waitAfter(drainEnd)
	answers := tr.stop()
	stopped = true
	t.Logf("measured: upgrade apply %v; old node taken out of the proxy and drained in %v; requests: %s",
		took.Round(time.Second), drainEnd.Sub(drainStart).Round(time.Millisecond), answerSummary(answers))

	failures(t, answers)
	var afterSwitch, drained int
	for _, a := range answers {
		if a.err != "" {
			continue
		}
		if a.start.After(drainEnd) {
			afterSwitch++
			if a.release != "B" {
				t.Errorf("%s request started %s, after the old node left the proxy (%s), answered by release %s", a.kind, a.start.Format("15:04:05.000"), drainEnd.Format("15:04:05.000"), a.release)
			}
		}
		if a.kind == "longpoll" && a.release == "A" && a.end.After(drainStart) {
			drained++
		}
	}
	if afterSwitch == 0 {
		t.Error("no request started after the old node left the proxy")
	}
	if drained == 0 {
		t.Error("no long poll of the old node was still open when it was taken out of the proxy: the drain was not exercised")
	}
	t.Logf("%d long polls of the old node finished during its drain; %d requests after the switch, all release B", drained, afterSwitch)
	for _, a := range answers {
		if a.release != "" && a.release != "A" && a.release != "B" {
			t.Errorf("%s request answered by release %s: the broken release served", a.kind, a.release)
		}
	}

	if _, ok := acctest.VM(t, "upg-node-a"); ok {
		t.Error("the old node's VM is still in vSphere")
	}
	if out, err := w.tf(dir, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("plan after the upgrade is not empty: %v", err)
	} else {
		t.Logf("no-op plan:\n%s", lastLines(out, 2))
	}
	if _, ok := acctest.VM(t, proxyVM); !ok {
		t.Error("the proxy VM is gone")
	}

	// 3. Roll back to release A, on the other identity, and interrupt that apply (SIGINT) in the
	// middle of the OVA's upload: release B keeps serving without a failed request, and the
	// next apply finishes the rollback by itself.
	bigA := filepath.Join(t.TempDir(), "release-a.ova")
	// 64 MiB: more than the socket buffers between the OVA server and the provider, so that the
	// paused download stops the upload itself (as in TestAccInterruptedCreate).
	if err := ovatest.Write(bigA, ovatest.Options{Name: "hipchat-node", NumCPUs: 2, MemoryMB: 4096, DiskCapacityGiB: 40, DataBytes: 64 << 20, Seed: 23,
		ExtraConfig: map[string]string{lab.KindKey: lab.KindNode, lab.ReleaseKey: "A"}}); err != nil {
		t.Fatal(err)
	}
	url, halfSent, release := pausedOVA(t, bigA)
	use("a", url)
	tr = startTraffic(t, w, proxy)
	stopped = false
	waitAnswered("B")
	apply, applyOut := w.startTF(dir, "apply", "-auto-approve", "-input=false", "-no-color")
	select {
	case <-halfSent:
	case <-time.After(2 * time.Minute):
		_ = apply.Process.Kill()
		t.Fatal("the rollback's OVA was not being downloaded within 2 minutes")
	}
	if err := apply.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := waitCmd(t, apply); err == nil {
		t.Errorf("the interrupted rollback succeeded:\n%s", applyOut)
	}
	release()
	t.Logf("interrupted rollback:\n%s", lastLines(applyOut.String(), 8))
	if _, ok := acctest.VM(t, "upg-node-b"); !ok {
		t.Error("the serving node's VM is gone after the interrupted rollback")
	}
	if got, want := changesPlanned(t, w, dir), map[string]string{node: "create,delete", member: "create,delete", rule: "update"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan after the interrupted rollback: %v, want %v", got, want)
	}
	start = time.Now()
	applied = w.mustTF(dir, "apply", "-auto-approve", "-input=false", "-json")
	took = time.Since(start)
	drainStart, drainEnd = hookTimes(t, applied, member, "delete")
	waitAfter(drainEnd)
	answers = tr.stop()
	stopped = true
	t.Logf("measured: rollback apply %v; drain %v; requests: %s", took.Round(time.Second), drainEnd.Sub(drainStart).Round(time.Millisecond), answerSummary(answers))
	failures(t, answers)
	afterSwitch = 0
	for _, a := range answers {
		if a.err == "" && a.start.After(drainEnd) {
			afterSwitch++
			if a.release != "A" {
				t.Errorf("%s request started %s, after release B left the proxy, answered by release %s", a.kind, a.start.Format("15:04:05.000"), a.release)
			}
		}
	}
	if afterSwitch == 0 {
		t.Error("no request started after the rollback's switch")
	}
	if _, ok := acctest.VM(t, "upg-node-b"); ok {
		t.Error("release B's VM is still in vSphere after the rollback")
	}
	if _, err := w.tf(dir, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("plan after the rollback is not empty: %v", err)
	}

	// 4. The proxy VM to be replaced (tainted, as after a failed create): the next apply
	// replaces it the usual way, destroy then create, since its name and address are the
	// service's. Had the membership taken the proxy's address from the proxy VM, Terraform
	// would have given the proxy VM create_before_destroy, and its new VM would have clashed
	// with the old one's name. The new proxy VM has no member yet: the next plan shows the
	// membership's file as drift, and its apply puts the node back behind the proxy.
	const proxyRes = "module.cluster.hipchatdc_reverse_proxy.edge"
	w.mustTF(dir, "taint", proxyRes)
	if got, want := changesPlanned(t, w, dir), map[string]string{proxyRes: "delete,create"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan with the proxy VM tainted: %v, want %v", got, want)
	}
	w.mustTF(dir, "apply", "-auto-approve", "-input=false")
	if got, want := changesPlanned(t, w, dir), map[string]string{member: "update"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan after the proxy VM was replaced: %v, want %v (the membership's file is not on the new proxy VM)", got, want)
	}
	w.mustTF(dir, "apply", "-auto-approve", "-input=false")
	tr = startTraffic(t, w, proxy)
	stopped = false
	waitAnswered("A")
	tr.stop()
	stopped = true
	if _, err := w.tf(dir, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("plan after the membership was added to the new proxy VM is not empty: %v", err)
	}

	w.mustTF(dir, "destroy", "-auto-approve", "-input=false")
	destroyed = true
	if n := acctest.VMCount(t, "upg-"); n != 0 {
		t.Errorf("%d VMs left in vSphere after destroy", n)
	}
}
