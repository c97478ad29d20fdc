package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// TestAccParallelClusters applies three independent small-scale clusters (own names, VM
// folders and addresses) at the same time against one lab, as three pipelines sharing a
// vCenter would, checks each works, destroys them at the same time and proves nothing is
// left: no VM, no session (vcsim keeps an import's lease in its session, so no session left
// means no lease left), no disk file on the datastore. Issue 17: the data disk of every
// data-store node was the same file at the datastore root, so only the first cluster worked.
func TestAccParallelClusters(t *testing.T) {
	// Not parallel: it counts vCenter's sessions and the disk files on the datastore, which other tests change.
	l := acctest.Lab(t)
	w := newWorkspace(t)
	v := l.VSphere()
	clusters := []string{"par-a", "par-b", "par-c"}

	// Each cluster in a VM folder of its own, as separate teams would have.
	ctx := context.Background()
	c, err := l.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	finder := find.NewFinder(c.Client)
	dc, err := finder.Datacenter(ctx, v.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range clusters {
		f, err := folders.VmFolder.CreateFolder(ctx, name)
		if err != nil {
			t.Fatalf("folder %s: %v", name, err)
		}
		t.Cleanup(func() {
			if task, err := f.Destroy(context.Background()); err == nil {
				_ = task.Wait(context.Background())
			}
		})
	}

	ds, err := finder.Datastore(ctx, "/"+v.Datacenter+"/datastore/"+v.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	disksBefore := datastoreDisks(t, ds)
	sessions := acctest.Sessions(t)

	cert, key := readFile(t, filepath.Join(w.dir, "chat.pem")), readFile(t, filepath.Join(w.dir, "chat.key"))
	s := l.SSH()
	for i, name := range clusters {
		dir := filepath.Join(w.dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		first := 180 + 3*i
		conf := fmt.Sprintf(`terraform {
  required_providers {
    hipchatdc = { source = "hipchatdc/hipchatdc" }
  }
}

provider "hipchatdc" {
  ssh {
    private_key      = file(%[1]q)
    known_hosts_file = %[2]q
  }
}

module "cluster" {
  source = "../modules/small-scale-cluster"

  datacenter  = %[3]q
  cluster     = %[4]q
  datastore   = %[5]q
  network     = %[6]q
  folder      = %[7]q
  hipchat_ova = %[8]q
  server_ova  = %[9]q
  gateway     = %[10]q
  ntp_servers = [%[10]q]

  data_stores = { name = "%[7]s-data", hostname = "%[7]s-data.example.com", address = %[11]q, nfs_server = "ganesha" }
  node        = { name = "%[7]s-node", hostname = "%[7]s-node.example.com", address = %[12]q }
  proxy       = { name = "%[7]s-proxy", hostname = "%[7]s-proxy.example.com", address = %[13]q }

  public_hostname   = "chat.example.com"
  certificate_pem   = <<PEM
%[14]sPEM
  private_key_pem   = <<PEM
%[15]sPEM
  database_password = "%[7]s-db-secret"
  redis_password    = "%[7]s-redis-secret"
}

output "addresses" {
  value = module.cluster.addresses
}
`, s.PrivateKeyFile, s.KnownHostsFile, v.Datacenter, v.Cluster, v.Datastore, v.Network, name,
			acctest.OVA(t, lab.KindNode, 40), acctest.OVA(t, lab.KindDebian, 60), acctest.Gateway(l, false),
			acctest.LabAddress(t, l, false, first), acctest.LabAddress(t, l, false, first+1), acctest.LabAddress(t, l, false, first+2),
			cert, key)
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		w.mustTF(name, "get")
	}

	// each runs one terraform command in every cluster at the same time and reports the
	// failures by cluster.
	each := func(args ...string) (failed []string) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, name := range clusters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				out, err := w.tf(name, args...)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, name)
					t.Errorf("cluster %s: %v", name, err)
					return
				}
				t.Logf("cluster %s: terraform %s: %v; %s", name, args[0], time.Since(start).Round(time.Millisecond), summary(out))
			}()
		}
		wg.Wait()
		return failed
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			each("destroy", "-auto-approve", "-input=false", "-no-color")
		}
	})

	start := time.Now()
	failed := each("apply", "-auto-approve", "-input=false", "-no-color")
	t.Logf("three clusters applied in parallel: %v", time.Since(start).Round(time.Millisecond))

	var diskFiles []string // of the data-store nodes, relative to the datastore's root
	for _, name := range clusters {
		if slices.Contains(failed, name) {
			continue
		}
		// The cluster's VMs are in its folder, and the data-store node's data disk is a file
		// of its own, in its VM's folder on the datastore.
		for _, role := range []string{"data", "node", "proxy"} {
			if _, ok := acctest.VM(t, fmt.Sprintf("/%s/vm/%s/%s-%s", v.Datacenter, name, name, role)); !ok {
				t.Errorf("cluster %s: no VM %s-%s in folder %s", name, name, role, name)
			}
		}
		vm, _ := acctest.VM(t, fmt.Sprintf("/%s/vm/%s/%s-data", v.Datacenter, name, name))
		if vm.Config != nil {
			var vmx object.DatastorePath
			vmx.FromString(vm.Config.Files.VmPathName)
			var files []string
			for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
				var p object.DatastorePath
				p.FromString(d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName)
				files = append(files, p.String())
				diskFiles = append(diskFiles, p.Path)
				if p.Datastore != vmx.Datastore || path.Dir(p.Path) != path.Dir(vmx.Path) {
					t.Errorf("cluster %s: disk file %s is not in the VM's folder (%s)", name, p.String(), vmx.String())
				}
			}
			if len(files) != 2 {
				t.Errorf("cluster %s: the data-store node has disks %v, want the system disk and the data disk", name, files)
			}
		}
		// The node reaches its own Postgres, Redis and NFS.
		if out := acctest.GuestExec(t, l, name+"-node", "hipchat datacenter selfcheck"); !strings.Contains(out, "postgres: OK") ||
			!strings.Contains(out, "redis: OK") || !strings.Contains(out, "nfs: OK") {
			t.Errorf("cluster %s: self-check on the node:\n%s", name, out)
		}
	}

	// The datastore listing below sees the disks (so that its being empty after destroy means
	// something).
	disks := datastoreDisks(t, ds)
	for _, f := range diskFiles {
		if !slices.Contains(disks, f) {
			t.Errorf("disk file %s is not on datastore %s, which holds:\n%s", f, v.Datastore, strings.Join(disks, "\n"))
		}
	}

	start = time.Now()
	if len(each("destroy", "-auto-approve", "-input=false", "-no-color")) == 0 {
		destroyed = true
	}
	t.Logf("three clusters destroyed in parallel: %v", time.Since(start).Round(time.Millisecond))

	for _, name := range clusters {
		// In the cluster's folder, and at the top, where a VM put in the wrong place would be.
		if n := acctest.VMCount(t, name+"/"+name+"-") + acctest.VMCount(t, name+"-"); n != 0 {
			t.Errorf("cluster %s: %d VMs left in vSphere after destroy", name, n)
		}
	}
	if n := acctest.Sessions(t); n != sessions {
		t.Errorf("vSphere has %d sessions after the parallel applies and destroys, %d before", n, sessions)
	}
	if after := datastoreDisks(t, ds); !slices.Equal(after, disksBefore) {
		t.Errorf("disk files on datastore %s after destroy:\n%s\nbefore the applies:\n%s", v.Datastore, strings.Join(after, "\n"), strings.Join(disksBefore, "\n"))
	}
	for _, g := range l.Guests() {
		for _, name := range clusters {
			if strings.HasPrefix(g.VMName, name+"-") && g.Running() {
				t.Errorf("guest of %s still running after destroy", g.VMName)
			}
		}
	}
}

// datastoreDisks lists every .vmdk file on the datastore (paths relative to its root, sorted),
// read from the folder on disk that backs it in vcsim: what is really there, whatever vSphere's
// inventory says.
func datastoreDisks(t *testing.T, ds *object.Datastore) []string {
	t.Helper()
	var d mo.Datastore
	if err := ds.Properties(context.Background(), ds.Reference(), []string{"info"}, &d); err != nil {
		t.Fatal(err)
	}
	root := d.Info.GetDatastoreInfo().Url
	if root == "" {
		t.Fatalf("datastore %s has no backing folder", ds.Name())
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && strings.HasSuffix(p, ".vmdk") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// summary is terraform's "... complete! Resources: ..." line.
func summary(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "complete! Resources:") {
			return strings.TrimSpace(line)
		}
	}
	return lastLines(out, 1)
}
