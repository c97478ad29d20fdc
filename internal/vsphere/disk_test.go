package vsphere

import (
	"context"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Two VMs on one datastore each get a data disk: both succeed, and each
// disk's file is in its own VM's folder (issue 17: the second data-store
// node failed with FileAlreadyExists because the first disk took the
// datastore root's file name).
func TestDataDisksOfTwoVMsOnOneDatastore(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	ova := writeOVA(t, ovatest.Options{DataBytes: 1 << 20, DiskCapacityGiB: 10})
	place := Placement{Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0"}
	var ids []string
	for _, name := range []string{"disk-a", "disk-b"} {
		id, err := c.ImportOVA(ctx, ImportSpec{Name: name, Placement: place, Source: ova})
		if err != nil {
			t.Fatalf("ImportOVA(%s): %v", name, err)
		}
		ids = append(ids, id)
		t.Cleanup(func() { _ = c.Destroy(context.Background(), id) })
		if err := c.Reconfigure(ctx, id, Sizing{Disks: []int64{0, 20}}); err != nil {
			t.Fatalf("VM %s: adding the data disk: %v", name, err)
		}
		var vm mo.VirtualMachine
		if err := property.DefaultCollector(c.Vim25()).RetrieveOne(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: id},
			[]string{"config.files.vmPathName", "config.hardware.device"}, &vm); err != nil {
			t.Fatal(err)
		}
		var vmx object.DatastorePath
		vmx.FromString(vm.Config.Files.VmPathName)
		disks := object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil))
		if len(disks) != 2 {
			t.Fatalf("VM %s has %d disks, want 2", name, len(disks))
		}
		for _, d := range disks {
			file := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName
			var p object.DatastorePath
			p.FromString(file)
			if p.Datastore != "LocalDS_0" || path.Dir(p.Path) != path.Dir(vmx.Path) || path.Base(p.Path) == ".vmdk" {
				t.Errorf("VM %s (config %s): disk file %q is not in the VM's folder on LocalDS_0", name, vm.Config.Files.VmPathName, file)
			}
		}
	}

	// Destroying the VMs removes their disks: nothing of theirs is left on the datastore.
	for _, id := range ids {
		if err := c.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if left := vmdks(t, c, "LocalDS_0", "disk-a", "disk-b"); len(left) > 0 {
		t.Errorf("disk files left after Destroy: %v", left)
	}

	// A file already where the new disk would go: the error names it.
	id, err := c.ImportOVA(ctx, ImportSpec{Name: "disk-c", Placement: place, Source: ova})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), id) })
	stray := "[LocalDS_0] disk-c/disk-c_1.vmdk"
	dc, err := find.NewFinder(c.Vim25()).Datacenter(ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualDiskManager(c.Vim25()).CreateVirtualDisk(ctx, stray, dc, &types.FileBackedVirtualDiskSpec{
		VirtualDiskSpec: types.VirtualDiskSpec{DiskType: string(types.VirtualDiskTypeThin), AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic)}, CapacityKb: 1024})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("creating %s: %v", stray, err)
	}
	err = c.Reconfigure(ctx, id, Sizing{Disks: []int64{0, 20}})
	if err == nil || !strings.Contains(err.Error(), stray) || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("Reconfigure with %s already there: %v; want an error naming the file and what to do", stray, err)
	}
	t.Logf("with %s already there: %v", stray, err)
	if left := vmdks(t, c, "LocalDS_0", "disk-c"); !slices.Contains(left, stray) {
		t.Errorf("disk-c's folder holds %v; want the stray file too (the check must see files)", left)
	}
}

// vmdks lists the .vmdk files in the named folders of a datastore.
func vmdks(t *testing.T, c *Client, dsName string, folders ...string) []string {
	t.Helper()
	ctx := context.Background()
	ds, err := find.NewFinder(c.Vim25()).Datastore(ctx, dsName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ds.Browser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range folders {
		task, err := b.SearchDatastoreSubFolders(ctx, ds.Path(f), &types.HostDatastoreBrowserSearchSpec{MatchPattern: []string{"*.vmdk"}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := task.WaitForResult(ctx)
		if err != nil {
			if fault.Is(err, &types.FileNotFound{}) {
				continue // the folder is gone too
			}
			t.Fatal(err)
		}
		for _, r := range res.Result.(types.ArrayOfHostDatastoreBrowserSearchResults).HostDatastoreBrowserSearchResults {
			for _, fi := range r.File {
				out = append(out, strings.TrimSuffix(r.FolderPath, "/")+"/"+fi.GetFileInfo().Path)
			}
		}
	}
	return out
}
