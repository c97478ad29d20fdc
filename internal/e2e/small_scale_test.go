package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// TestAccExample_smallScale applies examples/small-scale, the whole deployment of the guide,
// checks it as a user would, plans again (nothing), and destroys it (nothing left).
func TestAccExample_smallScale(t *testing.T) {
	// Not parallel: it counts vCenter's sessions and the lab's hipchat-* guests, which other tests change.
	l := acctest.Lab(t)
	w := newWorkspace(t)
	const ex = "examples/small-scale"
	if err := os.WriteFile(filepath.Join(w.dir, ex, "lab.auto.tfvars"), []byte(w.smallScaleVars(t, "", 150)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Modules only: with dev_overrides, init would look the provider up in the registry.
	w.mustTF(ex, "get")
	sessions := acctest.Sessions(t)
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = w.tf(ex, "destroy", "-auto-approve", "-input=false")
		}
	})

	start := time.Now()
	applied := w.mustTF(ex, "apply", "-auto-approve", "-input=false", "-json")
	t.Logf("apply of the whole deployment: %v", time.Since(start).Round(time.Millisecond))
	// The module creates its three VMs at the same time (issue 16): Terraform starts every
	// create before any of them completes. Chained (the node reading the data stores'
	// attributes, the proxy the node's), the node's create started only after the data
	// stores' completed.
	checkCreatesOverlap(t, applied, 3)

	var addrs map[string]string
	if err := json.Unmarshal([]byte(w.mustTF(ex, "output", "-json", "addresses")), &addrs); err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(w.mustTF(ex, "output", "-raw", "public_url"))
	if url != "https://chat.example.com" {
		t.Errorf("public_url = %q", url)
	}

	// The public URL answers over HTTPS through the proxy, chain and name verified.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool(), ServerName: "chat.example.com"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(addrs["proxy"], "443"))
		},
	}}
	resp, err := client.Get(url + "/")
	if err != nil {
		t.Fatalf("HTTPS through the proxy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "configured for https://chat.example.com") {
		t.Errorf("the public URL answered %d:\n%s", resp.StatusCode, body)
	}

	// The node reaches Postgres, Redis and NFS with the configured credentials.
	node := func(cmd string) string { return acctest.GuestExec(t, l, "hipchat-node-1", cmd) }
	if out := node("hipchat datacenter selfcheck"); !strings.Contains(out, "postgres: OK") || !strings.Contains(out, "redis: OK") || !strings.Contains(out, "nfs: OK") {
		t.Errorf("self-check on the node:\n%s", out)
	}
	if out := node(fmt.Sprintf("REDISCLI_AUTH=e2e-redis-secret redis-cli -h %s PING", addrs["data_stores"])); out != "PONG" {
		t.Errorf("redis from the node: %q", out)
	}
	if out := node(fmt.Sprintf("PGPASSWORD=e2e-db-secret psql -X -A -t -h %s -U hipchat_user -d hipchat_postgres -c 'SHOW max_connections'", addrs["data_stores"])); out != "1000" {
		t.Errorf("postgres from the node: %q", out)
	}

	// The guide's two hosts: the node and the data stores run on different ESXi hosts, and the
	// cluster keeps a DRS anti-affinity rule over the two (read from its configurationEx).
	v := l.VSphere()
	nodeVM, _ := acctest.VM(t, "hipchat-node-1")
	dataVM, _ := acctest.VM(t, "hipchat-data-1")
	if hn, hd := acctest.VMHost(t, nodeVM.Self.Value), acctest.VMHost(t, dataVM.Self.Value); hn == hd {
		t.Errorf("the node and the data stores both run on ESXi host %s", hn)
	}
	if rule, ok := acctest.AntiAffinityRule(t, v.Cluster, "hipchat-node-1-separate-hosts"); !ok {
		t.Errorf("cluster %s has no anti-affinity rule for the node and the data stores", v.Cluster)
	} else if len(rule.Vm) != 2 || rule.Vm[0].Value != dataVM.Self.Value || rule.Vm[1].Value != nodeVM.Self.Value {
		t.Errorf("anti-affinity rule lists %v, want the data stores %s and the node %s", rule.Vm, dataVM.Self.Value, nodeVM.Self.Value)
	}

	// All of the above went through the guest firewalls the module turns on (the guide's
	// "only ... 80 (HTTP), 443 (HTTPS), and 22 (SSH)"): the proxy and the data stores have the
	// provider's table loaded, and the node, as the only client of the data stores, got in.
	for _, vm := range []string{"hipchat-proxy-1", "hipchat-data-1"} {
		if out := acctest.GuestExec(t, l, vm, "nft list table inet hipchatdc >/dev/null && echo loaded"); out != "loaded" {
			t.Errorf("%s: the guest firewall is not loaded: %q", vm, out)
		}
	}

	// A second apply plans nothing.
	if out, err := w.tf(ex, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("second plan is not empty: %v", err)
	} else {
		t.Logf("no-op plan:\n%s", lastLines(out, 2))
	}
	// The cost of a no-op plan of the three resources against one of an empty configuration,
	// in the same run (reported, not asserted: timing belongs to benchmarks).
	full := timePlan(t, w, ex)
	emptyDir := filepath.Join(w.dir, "empty")
	if err := os.MkdirAll(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(emptyDir, "main.tf"), []byte("terraform {\n  required_providers {\n    hipchatdc = { source = \"hipchatdc/hipchatdc\" }\n  }\n}\nprovider \"hipchatdc\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := timePlan(t, w, "empty")
	t.Logf("no-op plan of the three resources: %v; plan of an empty configuration: %v (ratio %.2f)", full, empty, float64(full)/float64(empty))

	if n := acctest.VMCount(t, "hipchat-"); n != 3 {
		t.Errorf("%d hipchat-* VMs in vSphere before destroy, want 3", n)
	}
	w.mustTF(ex, "destroy", "-auto-approve", "-input=false")
	destroyed = true
	if n := acctest.VMCount(t, "hipchat-"); n != 0 {
		t.Errorf("%d VMs left in vSphere after destroy", n)
	}
	// Every terraform command ran the provider in a process of its own, each logging in once:
	// each must have logged out when Terraform stopped it.
	if n := acctest.Sessions(t); n != sessions {
		t.Errorf("vSphere has %d sessions after the terraform commands, %d before: the provider does not log out", n, sessions)
	}
	for _, g := range l.Guests() {
		if strings.HasPrefix(g.VMName, "hipchat-") && g.Running() {
			t.Errorf("guest of %s still running after destroy", g.VMName)
		}
	}
}

// timePlan is the median wall time of three no-op plans (refresh included).
func timePlan(t *testing.T, w *workspace, dir string) time.Duration {
	var times []time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		w.mustTF(dir, "plan", "-input=false", "-lock=false")
		times = append(times, time.Since(start))
	}
	if times[0] > times[1] {
		times[0], times[1] = times[1], times[0]
	}
	if times[1] > times[2] {
		times[1], times[2] = times[2], times[1]
	}
	if times[0] > times[1] {
		times[0], times[1] = times[1], times[0]
	}
	return times[1].Round(time.Millisecond)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestAccModule_terraformTest runs the module's own `terraform test` files against the lab (the
// separate_hosts_* files with a mocked provider: they need no lab).
func TestAccModule_terraformTest(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	w := newWorkspace(t)
	v := l.VSphere()
	const mod = "modules/small-scale-cluster"
	vars := fmt.Sprintf(`datacenter        = %q
cluster           = %q
datastore         = %q
network           = %q
hipchat_ova       = %q
server_ova        = %q
gateway           = %q
ntp_servers       = [%q]
node              = { name = "tftest-node", hostname = "tftest-node.example.com", address = %q }
data_stores       = { name = "tftest-data", hostname = "tftest-data.example.com", address = %q, nfs_server = "ganesha" }
proxy             = { name = "tftest-proxy", hostname = "tftest-proxy.example.com", address = %q }
public_hostname   = "chat.example.com"
certificate_pem   = <<PEM
%sPEM
private_key_pem   = <<PEM
%sPEM
database_password = "tftest-db-secret"
redis_password    = "tftest-redis-secret"
`, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, lab.KindNode, 40), acctest.OVA(t, lab.KindDebian, 60),
		acctest.Gateway(l, false), acctest.Gateway(l, false),
		acctest.LabAddress(t, l, false, 160), acctest.LabAddress(t, l, false, 161), acctest.LabAddress(t, l, false, 162),
		readFile(t, filepath.Join(w.dir, "chat.pem")), readFile(t, filepath.Join(w.dir, "chat.key")))
	varFile := filepath.Join(w.dir, "lab.tfvars")
	if err := os.WriteFile(varFile, []byte(vars), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := w.tf(mod, "test", "-var-file="+varFile, "-no-color")
	t.Log(lastLines(out, 12))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "26 passed, 0 failed") {
		t.Errorf("terraform test did not pass all 26 runs:\n%s", out)
	}
	if n := acctest.VMCount(t, "tftest-"); n != 0 {
		t.Errorf("terraform test left %d VMs behind", n)
	}
}

func readFile(t *testing.T, name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkCreatesOverlap reads `terraform apply -json` output and fails unless want creates
// started before the first of them completed.
func checkCreatesOverlap(t *testing.T, applyJSON string, want int) {
	t.Helper()
	started := map[string]bool{}
	for _, line := range strings.Split(applyJSON, "\n") {
		var msg struct {
			Type string `json:"type"`
			Hook struct {
				Action   string `json:"action"`
				Resource struct {
					Addr string `json:"addr"`
				} `json:"resource"`
			} `json:"hook"`
		}
		if json.Unmarshal([]byte(line), &msg) != nil || msg.Hook.Action != "create" {
			continue
		}
		switch msg.Type {
		case "apply_start":
			started[msg.Hook.Resource.Addr] = true
		case "apply_complete", "apply_errored":
			if len(started) < want {
				t.Errorf("%s's create ended when only %d of %d creates had started (%v): the VMs are created one after another", msg.Hook.Resource.Addr, len(started), want, started)
			}
			return
		}
	}
	t.Errorf("no create completed in the apply's output:\n%s", applyJSON)
}
