package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// byHand deploys an OVA as an operator would with "Deploy OVF Template", powers it on and, at
// the guest's console, follows the guide's steps by hand.
func byHand(t *testing.T, l *lab.Lab, name, ova string, console string) *lab.Guest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v := l.VSphere()
	c, err := vsphere.Connect(ctx, vsphere.Config{Server: v.Server, User: v.User, Password: v.Password, CAFile: v.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(context.Background()) }()
	moid, err := c.ImportOVA(ctx, vsphere.ImportSpec{Name: name, Source: ova,
		Placement: vsphere.Placement{Datacenter: v.Datacenter, Cluster: v.Cluster, Datastore: v.Datastore, Network: v.Network}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PowerOn(ctx, moid); err != nil {
		t.Fatal(err)
	}
	g, err := l.WaitGuest(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if console != "" {
		acctest.GuestExec(t, l, name, console)
	}
	return g
}

// planActions lists, per resource address, the actions of a saved plan.
func planActions(t *testing.T, w *workspace, dir string) map[string][]string {
	t.Helper()
	w.mustTF(dir, "plan", "-input=false", "-out=tfplan")
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(w.mustTF(dir, "show", "-json", "tfplan")), &plan); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, rc := range plan.ResourceChanges {
		out[rc.Address] = rc.Change.Actions
	}
	return out
}

// TestAccImport_handMadeDeployment brings VMs that an operator built by hand into Terraform,
// with an import block (Terraform 1.5+) and with `terraform import`: the plan that follows
// replaces nothing and changes only what the configuration asks for.
func TestAccImport_handMadeDeployment(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	v := l.VSphere()
	nodeOVA, serverOVA := acctest.OVA(t, lab.KindNode, 40), acctest.OVA(t, lab.KindDebian, 60)
	node := byHand(t, l, "ops-node", nodeOVA, `dont-blame-hipchat -c "hostnamectl set-hostname ops-node-1.example.com" && `+
		`printf '127.0.0.1 ops-node-1.example.com\n' >> /etc/hosts && hipchat service --ntp-servers time1.example.com && `+
		`ln -sf /usr/share/zoneinfo/UTC /etc/localtime && echo Etc/UTC > /etc/timezone`)
	// Postgres as the guide has it set up by hand: a cluster, the Hipchat user with its
	// password, and its database.
	data := byHand(t, l, "ops-data", serverOVA, `cd /tmp && v=$(ls /usr/lib/postgresql | sort -V | tail -n 1) && `+
		`{ pg_lsclusters -h | grep -q "^$v main " || pg_createcluster $v main -- --auth-host=scram-sha-256 >/dev/null; } && pg_ctlcluster $v main start && `+
		`runuser -u postgres -- psql -X -q -c "CREATE USER hipchat_user PASSWORD 'ops-db-secret'" && `+
		`runuser -u postgres -- createdb -O hipchat_user hipchat_postgres`)
	nodeAddr, dataAddr := node.Address(), data.Address()

	w := newWorkspace(t)
	dir := filepath.Join(w.dir, "imported")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	placement := fmt.Sprintf("datacenter = %q\n  cluster    = %q\n  datastore  = %q\n  network    = %q", v.Datacenter, v.Cluster, v.Datastore, v.Network)
	config := fmt.Sprintf(`terraform {
  required_providers {
    hipchatdc = { source = "hipchatdc/hipchatdc" }
  }
}

provider "hipchatdc" {}

import {
  to = hipchatdc_node.app
  id = "/%s/vm/ops-node"
}

resource "hipchatdc_node" "app" {
  name       = "ops-node"
  %s
  ova_path   = %q

  # The guide's sizing: the OVA came with less, so this is a change the configuration asks for.
  num_cpus  = 8
  memory    = 16384
  disk_size = 40

  # What the operator set up by hand.
  hostname     = "ops-node-1.example.com"
  ipv4_address = %q
  ipv4_netmask = 24
  ipv4_gateway = %q
  ntp_servers  = ["time1.example.com"]
}

resource "hipchatdc_datastore_node" "data" {
  name          = "ops-data"
  %s
  ova_path      = %q
  disk_size     = 60
  nfs_server    = "ganesha"
  hostname      = "ops-data-1.example.com"
  ipv4_address  = %q
  ipv4_netmask  = 24
  ipv4_gateway  = %q

  redis_password    = "ops-redis-secret"
  postgres_database = "hipchat_postgres"
  postgres_user     = "hipchat_user"
  postgres_password = "ops-db-secret"
}
`, v.Datacenter, placement, nodeOVA, nodeAddr, acctest.Gateway(l, false), placement, serverOVA, dataAddr, acctest.Gateway(l, false))
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	const sub = "imported"
	t.Cleanup(func() { _, _ = w.tf(sub, "destroy", "-auto-approve", "-input=false") })

	// terraform import for the data stores VM, by its BIOS UUID.
	ctx := context.Background()
	c, err := vsphere.Connect(ctx, vsphere.Config{Server: v.Server, User: v.User, Password: v.Password, CAFile: v.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	moid, err := c.FindVM(ctx, "/"+v.Datacenter+"/vm/ops-data")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.ReadVM(ctx, moid)
	_ = c.Logout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.mustTF(sub, "import", "-input=false", "hipchatdc_datastore_node.data", info.BIOSUUID)

	// The plan: the import block's import, updates in place, nothing created or destroyed.
	actions := planActions(t, w, sub)
	for addr, acts := range actions {
		for _, a := range acts {
			if a == "create" || a == "delete" {
				t.Fatalf("the plan after import would %s %s (actions %v): an imported VM must not be replaced", a, addr, actions)
			}
		}
	}
	if got := strings.Join(actions["hipchatdc_node.app"], ","); got != "update" {
		t.Errorf("node: actions %q, want update (the sizing the configuration asks for)", got)
	}
	show := w.mustTF(sub, "show", "-no-color", "tfplan")
	for _, unchanged := range []string{`hostname     = "ops-node-1.example.com" -> `, `ipv4_address = "` + nodeAddr + `" -> `} {
		if strings.Contains(show, unchanged) {
			t.Errorf("the plan changes what the operator already set up (%s):\n%s", unchanged, show)
		}
	}
	// The data stores' drift after the import: the Postgres password is not in the state (the
	// server cannot give it back), which is not the same as a password that differs.
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Before struct {
					Drift []string `json:"drift"`
				} `json:"before"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(w.mustTF(sub, "show", "-json", "tfplan")), &plan); err != nil {
		t.Fatal(err)
	}
	for _, rc := range plan.ResourceChanges {
		if rc.Address != "hipchatdc_datastore_node.data" {
			continue
		}
		drift := strings.Join(rc.Change.Before.Drift, "; ")
		if !strings.Contains(drift, `postgres: the password of user "hipchat_user" is not known to the state after import; the apply compares it with the configured one and changes it only if they do not match`) ||
			strings.Contains(drift, "password of user hipchat_user differs") {
			t.Errorf("data stores' drift after import: %q; want that the password is not known to the state, not that it differs", drift)
		}
	}
	w.mustTF(sub, "apply", "-input=false", "tfplan")
	if _, err := w.tf(sub, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("after applying the imported configuration the plan is not empty: %v", err)
	}
	if got := acctest.GuestExec(t, l, "ops-node", "hostname"); got != "ops-node-1.example.com" {
		t.Errorf("node hostname %q", got)
	}
	if vm, ok := acctest.VM(t, "ops-node"); !ok || vm.Config.Hardware.NumCPU != 8 {
		t.Errorf("node not resized in place")
	}
}
