package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// TestAccModule_rejectedAtPlan: the module's VMs clash with each other (one address or one host
// name for two of them), which no single resource can see; the module's preconditions refuse
// the plan, naming the variables and the value, and nothing is created.
func TestAccModule_rejectedAtPlan(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	w := newWorkspace(t)
	v := l.VSphere()
	addr := func(n int) string { return acctest.LabAddress(t, l, false, n) }
	vm := func(role, hostname, address string) string {
		return fmt.Sprintf(`{ name = "modtest-%s", hostname = %q, address = %q }`, role, hostname, address)
	}
	pinned := func(role, hostname, address, host string) string {
		return fmt.Sprintf(`{ name = "modtest-%s", hostname = %q, address = %q, host = %q }`, role, hostname, address, host)
	}
	for i, c := range []struct {
		name              string
		node, data, proxy string
		hipchatOVA        string // default: the lab's node OVA
		want              string // a regexp of the error
		extra             string // more module arguments
		passes            bool   // the plan passes, with want in its output (a warning)
	}{
		{
			"node and data stores share an address",
			vm("node", "modtest-node.example.com", addr(241)), vm("data", "modtest-data.example.com", addr(241)), vm("proxy", "modtest-proxy.example.com", addr(242)),
			"", precondition(fmt.Sprintf("Each VM needs a static address of its own: var.data_stores.address and var.node.address share %s on network %s.", addr(241), v.Network)), "", false,
		},
		{
			"proxy and node share an address",
			vm("node", "modtest-node.example.com", addr(241)), vm("data", "modtest-data.example.com", addr(242)), vm("proxy", "modtest-proxy.example.com", addr(241)),
			"", precondition(fmt.Sprintf("Each VM needs a static address of its own: var.node.address and var.proxy.address share %s on network %s.", addr(241), v.Network)), "", false,
		},
		{
			"node's host name is the data stores'",
			vm("node", "modtest-1.example.com", addr(241)), vm("data", "modtest-1.example.com", addr(242)), vm("proxy", "modtest-proxy.example.com", addr(243)),
			"", precondition("The guide asks for a unique host name per VM: var.data_stores.hostname and var.node.hostname share modtest-1.example.com."), "", false,
		},
		{
			// Where both name their host the plan knows the guide's two hosts are one.
			"node and data stores pinned to one ESXi host",
			pinned("node", "modtest-node.example.com", addr(241), v.Host), pinned("data", "modtest-data.example.com", addr(242), v.Host), vm("proxy", "modtest-proxy.example.com", addr(243)),
			"", precondition(fmt.Sprintf(`var.node.host and var.data_stores.host both name ESXi host %s: the small-scale guide uses "one VMWare host for the Hipchat node, another VMWare host for all three data stores".`, v.Host)), "", false,
		},
		{
			// The opt-out: the same plan passes with a warning.
			"pinned to one ESXi host with separate_hosts = warn",
			pinned("node", "modtest-node.example.com", addr(241), v.Host), pinned("data", "modtest-data.example.com", addr(242), v.Host), vm("proxy", "modtest-proxy.example.com", addr(243)),
			"", `(?s)Warning: Check block assertion failed.*` + acctest.Wrapped(fmt.Sprintf(`var.node.host and var.data_stores.host both name ESXi host %s, against the guide's "one VMWare host for the Hipchat node, another VMWare host for all three data stores"; accepted because separate_hosts = "warn".`, v.Host)),
			`separate_hosts = "warn"`, true,
		},
		{
			// Checked by the proxy's node_hostnames before the node joined the proxy through
			// hipchatdc_reverse_proxy_node; now the module's own precondition.
			"node's host name is the public host name",
			vm("node", "chat.example.com", addr(241)), vm("data", "modtest-data.example.com", addr(242)), vm("proxy", "modtest-proxy.example.com", addr(243)),
			"", precondition("var.node.hostname is chat.example.com, the public_hostname clients use"), "", false,
		},
		{
			// The module hands any scheme:// to ova_url, whose check refuses it; taken as a
			// path, it failed only at apply.
			"hipchat_ova on ftp",
			vm("node", "modtest-node.example.com", addr(241)), vm("data", "modtest-data.example.com", addr(242)), vm("proxy", "modtest-proxy.example.com", addr(243)),
			"ftp://downloads.example.com/hipchat.ova",
			`(?s)Error: OVA URL is not http or https.*` + acctest.Wrapped(`ova_url = "ftp://downloads.example.com/hipchat.ova": only http:// and https://`), "", false,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The provider's settings come from the lab's environment (VSPHERE_*,
			// HIPCHATDC_SSH_*), as in a pipeline: the configuration is the module alone.
			dir := fmt.Sprintf("modcheck-%d", i)
			if err := os.MkdirAll(filepath.Join(w.dir, dir), 0o755); err != nil {
				t.Fatal(err)
			}
			hipchatOVA := c.hipchatOVA
			if hipchatOVA == "" {
				hipchatOVA = acctest.OVA(t, lab.KindNode, 40)
			}
			conf := fmt.Sprintf(`module "cluster" {
  source = "../modules/small-scale-cluster"

  datacenter  = %q
  cluster     = %q
  datastore   = %q
  network     = %q
  hipchat_ova = %q
  server_ova  = %q
  gateway     = %q
  ntp_servers = [%q]

  node        = %s
  data_stores = %s
  proxy       = %s

  public_hostname   = "chat.example.com"
  certificate_pem   = file("../chat.pem")
  private_key_pem   = file("../chat.key")
  database_password = "modtest-db-secret"
  redis_password    = "modtest-redis-secret"
  %s
}
`, v.Datacenter, v.Cluster, v.Datastore, v.Network, hipchatOVA, acctest.OVA(t, lab.KindDebian, 60),
				acctest.Gateway(l, false), acctest.Gateway(l, false), c.node, c.data, c.proxy, c.extra)
			if err := os.WriteFile(filepath.Join(w.dir, dir, "main.tf"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			w.mustTF(dir, "get")
			out, err := w.tf(dir, "plan", "-input=false", "-no-color")
			if c.passes {
				if err != nil {
					t.Fatalf("plan failed: %v\n%s", err, out)
				}
				if !regexp.MustCompile(c.want).MatchString(out) {
					t.Errorf("plan passed without the message %q:\n%s", c.want, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("plan passed:\n%s", out)
			}
			if want := regexp.MustCompile(c.want); !want.MatchString(out) {
				t.Errorf("plan failed without the message %q:\n%s", c.want, out)
			}
		})
	}
	if n := acctest.VMCount(t, "modtest-"); n != 0 {
		t.Errorf("%d VMs created for rejected plans", n)
	}
}

// precondition matches the module's precondition error with message msg.
func precondition(msg string) string {
	return `(?s)Error: Resource precondition failed.*` + acctest.Wrapped(msg)
}
