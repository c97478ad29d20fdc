package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// TestAccExample_standaloneESXi applies examples/standalone-esxi: the guide's deployment on two
// standalone ESXi hosts without a vCenter, one provider configuration per host. The node runs
// on the first host, the data stores and the proxy on the second; the node reaches the data
// stores across the hosts; a second plan is empty; destroy leaves no VM on either host.
func TestAccExample_standaloneESXi(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	w := newWorkspace(t)
	const ex = "examples/standalone-esxi"
	esx, s := l.StandaloneESXi(), l.SSH()
	host := func(e lab.VSphereInfo) string {
		return fmt.Sprintf("{ server = %q, user = %q, password = %q, ca_file = %q }", e.Server, e.User, e.Password, e.CAFile)
	}
	vars := fmt.Sprintf(`node_host            = %s
data_stores_host     = %s
hipchat_ova          = %q
server_ova           = %q
gateway              = %q
ntp_servers          = [%q]
addresses            = { node = %q, data_stores = %q, proxy = %q }
nfs_server           = "ganesha"
certificate_file     = %q
private_key_file     = %q
database_password    = "e2e-db-secret"
redis_password       = "e2e-redis-secret"
ssh_private_key_file = %q
ssh_known_hosts_file = %q
`, host(esx[0]), host(esx[1]), acctest.OVA(t, lab.KindNode, 40), acctest.OVA(t, lab.KindDebian, 60),
		acctest.Gateway(l, false), acctest.Gateway(l, false),
		acctest.LabAddress(t, l, false, 170), acctest.LabAddress(t, l, false, 171), acctest.LabAddress(t, l, false, 172),
		filepath.Join(w.dir, "chat.pem"), filepath.Join(w.dir, "chat.key"), s.PrivateKeyFile, s.KnownHostsFile)
	if err := os.WriteFile(filepath.Join(w.dir, ex, "lab.auto.tfvars"), []byte(vars), 0o600); err != nil {
		t.Fatal(err)
	}
	w.mustTF(ex, "get")
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = w.tf(ex, "destroy", "-auto-approve", "-input=false")
		}
	})

	start := time.Now()
	out := w.mustTF(ex, "apply", "-auto-approve", "-input=false")
	t.Logf("apply on two standalone ESXi hosts: %v", time.Since(start).Round(time.Millisecond))
	if strings.Contains(out, "node_and_data_stores_on_two_hosts") {
		t.Errorf("the module's check says the node and the data stores share a host:\n%s", out)
	}

	var hosts map[string]string
	if err := json.Unmarshal([]byte(w.mustTF(ex, "output", "-json", "hosts")), &hosts); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"node": esx[0].Host, "data_stores": esx[1].Host, "proxy": esx[1].Host}; fmt.Sprint(hosts) != fmt.Sprint(want) {
		t.Errorf("the VMs run on %v, want %v", hosts, want)
	}
	// What each ESXi host itself lists: the node on the first, the data stores and the proxy on
	// the second.
	for i, want := range [][]string{{"hipchat-node-1"}, {"hipchat-data-1", "hipchat-proxy-1"}} {
		if got := esxiVMs(t, l, i, "hipchat-"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ESXi host %s lists VMs %v, want %v", esx[i].Host, got, want)
		}
	}
	if n := acctest.VMCount(t, "hipchat-"); n != 0 {
		t.Errorf("the vCenter got %d hipchat-* VMs; they belong on the ESXi hosts", n)
	}

	// The node, on one host, uses the data stores on the other.
	if out := acctest.GuestExec(t, l, "hipchat-node-1", "hipchat datacenter selfcheck"); !strings.Contains(out, "postgres: OK") || !strings.Contains(out, "redis: OK") || !strings.Contains(out, "nfs: OK") {
		t.Errorf("self-check on the node:\n%s", out)
	}

	if _, err := w.tf(ex, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("second plan is not empty: %v", err)
	}
	w.mustTF(ex, "destroy", "-auto-approve", "-input=false")
	destroyed = true
	for i := range esx {
		if got := esxiVMs(t, l, i, "hipchat-"); len(got) != 0 {
			t.Errorf("ESXi host %s still lists %v after destroy", esx[i].Host, got)
		}
	}
}

// esxiVMs lists the names of the VMs on the lab's standalone ESXi host i whose names start
// with prefix, sorted.
func esxiVMs(t *testing.T, l *lab.Lab, i int, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := l.ESXiClient(ctx, i)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vms, err := f.SetDatacenter(dc).VirtualMachineList(ctx, prefix+"*")
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	var names []string
	for _, vm := range vms {
		names = append(names, vm.Name())
	}
	sort.Strings(names)
	return names
}

// TestAccModule_standaloneESXiTerraformTest runs the standalone ESXi module's own
// `terraform test` files, with mocked providers: the node goes to the provider configuration
// hipchatdc.node_host, the data stores and the proxy to hipchatdc.data_stores_host, and two
// configurations that reach one host are reported by the module's check.
func TestAccModule_standaloneESXiTerraformTest(t *testing.T) {
	t.Parallel()
	w := newWorkspace(t)
	const mod = "modules/small-scale-standalone-esxi"
	vars := fmt.Sprintf("certificate_pem = <<PEM\n%sPEM\nprivate_key_pem = <<PEM\n%sPEM\n",
		readFile(t, filepath.Join(w.dir, "chat.pem")), readFile(t, filepath.Join(w.dir, "chat.key")))
	varFile := filepath.Join(w.dir, "esxi.tfvars")
	if err := os.WriteFile(varFile, []byte(vars), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := w.tf(mod, "test", "-var-file="+varFile, "-no-color")
	t.Log(lastLines(out, 8))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "2 passed, 0 failed") {
		t.Errorf("terraform test did not pass both runs:\n%s", out)
	}
}
