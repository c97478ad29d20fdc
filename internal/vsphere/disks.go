package vsphere

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// newDiskFile returns where a new disk of VM moid goes: its datastore and a
// file in the VM's own folder named after the VM, `[ds] dir/name_N.vmdk`, as
// vSphere names the disks it adds, with N the first number that no device
// of devs uses. The name is given in full rather than as a bare `[ds]`
// (which leaves the name to the server): vcsim makes that the file
// `[ds] .vmdk` at the datastore root, the same file for every VM, so a second
// VM on the datastore failed with FileAlreadyExists.
func (c *Client) newDiskFile(ctx context.Context, moid string, vmDatastores []types.ManagedObjectReference, devs object.VirtualDeviceList) (types.ManagedObjectReference, string, error) {
	var none types.ManagedObjectReference
	var o mo.VirtualMachine
	pc := property.DefaultCollector(c.vim)
	if err := pc.RetrieveOne(ctx, c.objectVM(moid).Reference(), []string{"config.files.vmPathName"}, &o); err != nil {
		return none, "", c.vmErr(moid, err)
	}
	var vmx object.DatastorePath
	if o.Config == nil || !vmx.FromString(o.Config.Files.VmPathName) || vmx.Path == "" {
		return none, "", fmt.Errorf("VM %s: its configuration file has no datastore path (%q), so a new disk has no folder to go in", moid, vmPathName(o))
	}
	if len(vmDatastores) == 0 {
		return none, "", fmt.Errorf("VM %s: has no datastore for a new disk", moid)
	}
	var dss []mo.Datastore
	if err := pc.Retrieve(ctx, vmDatastores, []string{"name"}, &dss); err != nil {
		return none, "", c.vmErr(moid, err)
	}
	var ds *types.ManagedObjectReference
	for i := range dss {
		if dss[i].Name == vmx.Datastore {
			ds = &dss[i].Self
		}
	}
	if ds == nil {
		return none, "", fmt.Errorf("VM %s: its folder's datastore %q is not among the VM's datastores", moid, vmx.Datastore)
	}

	used := map[string]bool{}
	for _, d := range devs {
		if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			used[b.GetVirtualDeviceFileBackingInfo().FileName] = true
		}
	}
	// The .vmx file's name is the VM's name as vSphere made it safe for a file.
	dir, base := path.Dir(vmx.Path), strings.TrimSuffix(path.Base(vmx.Path), path.Ext(vmx.Path))
	for n := 1; ; n++ {
		p := object.DatastorePath{Datastore: vmx.Datastore, Path: path.Join(dir, fmt.Sprintf("%s_%d.vmdk", base, n))}
		if !used[p.String()] {
			return *ds, p.String(), nil
		}
	}
}

func vmPathName(o mo.VirtualMachine) string {
	if o.Config == nil {
		return ""
	}
	return o.Config.Files.VmPathName
}

// diskFileErr names the file when vSphere refuses a new disk because its
// file exists (the fault itself carries no message), and says what to do.
func diskFileErr(err error, files []string) error {
	if len(files) == 0 || !fault.Is(err, &types.FileAlreadyExists{}) {
		return err
	}
	return fmt.Errorf("%w: the new disk's file %s already exists on the datastore; it belongs to no disk of this VM, so it "+
		"was left there by something else (an earlier VM of the same name?): move or delete it (vSphere Client: "+
		"Storage > Files; or `govc datastore.rm`) and apply again", err, strings.Join(files, " or "))
}
