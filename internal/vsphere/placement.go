package vsphere

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
)

// Placement names where a VM goes. Each field takes a name, an inventory
// path or a managed object ID; "" means the datacenter's default (only one
// datacenter/datastore/pool) or, for Network, whatever the OVF or template says.
type Placement struct {
	Datacenter   string
	Cluster      string // its root resource pool is used unless ResourcePool is set
	Host         string
	ResourcePool string
	Folder       string // relative to the datacenter's VM folder, or an absolute path
	Datastore    string
	Network      string
}

// ResolvedPlacement holds the objects a Placement names.
type ResolvedPlacement struct {
	Datacenter   *object.Datacenter
	ResourcePool *object.ResourcePool
	Host         *object.HostSystem // nil unless Placement.Host was set
	Folder       *object.Folder
	Datastore    *object.Datastore
	Network      object.NetworkReference // nil unless Placement.Network was set
}

// PlacementError names the Placement field (as the user wrote it) that
// could not be resolved.
type PlacementError struct {
	Field      string // datacenter, cluster, host, resource_pool, folder, datastore, network
	Value      string
	Datacenter string
	Available  []string
	Err        error
}

func (e *PlacementError) Error() string {
	var b strings.Builder
	if e.Value == "" {
		fmt.Fprintf(&b, "no default %s", e.Field)
	} else {
		fmt.Fprintf(&b, "%s %q not found", e.Field, e.Value)
	}
	if e.Datacenter != "" {
		fmt.Fprintf(&b, " in datacenter %q", e.Datacenter)
	}
	if len(e.Available) > 0 {
		fmt.Fprintf(&b, "; available: %s", strings.Join(e.Available, ", "))
	}
	var nf *find.NotFoundError
	if e.Err != nil && !errors.As(e.Err, &nf) {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

func (e *PlacementError) Unwrap() error { return e.Err }

// ResolvePlacement finds the objects p names, in one datacenter.
func (c *Client) ResolvePlacement(ctx context.Context, p Placement) (*ResolvedPlacement, error) {
	return c.resolve(ctx, p, true)
}

// resolve finds the objects p names; without full only the datacenter, host and resource
// pool (where the VM runs), leaving Folder, Datastore and Network nil.
func (c *Client) resolve(ctx context.Context, p Placement, full bool) (*ResolvedPlacement, error) {
	if err := c.checkESXiPlacement(p); err != nil {
		return nil, err
	}
	f := find.NewFinder(c.vim, false)
	var r ResolvedPlacement
	var err error

	if p.Datacenter == "" {
		r.Datacenter, err = f.DefaultDatacenter(ctx)
	} else {
		r.Datacenter, err = f.Datacenter(ctx, p.Datacenter)
	}
	if err != nil {
		available := names(f.DatacenterList(ctx, "*"))
		if merr := c.vCenterMismatch(ctx, f, "datacenter", p.Datacenter, available); merr != nil {
			return nil, merr
		}
		return nil, &PlacementError{Field: "datacenter", Value: p.Datacenter, Available: available, Err: err}
	}
	f.SetDatacenter(r.Datacenter)
	dcName := r.Datacenter.Name()
	fail := func(field, value string, list func() []string, err error) error {
		e := &PlacementError{Field: field, Value: value, Datacenter: dcName, Err: err}
		if list != nil {
			e.Available = list()
		}
		return e
	}
	// The finder keeps the datacenter's folders once it has read them, for the host, pool,
	// datastore and network lookups below; Datacenter.Folders would read them a second time.
	vmFolder, err := f.DefaultFolder(ctx)
	if err != nil {
		return nil, err
	}

	// Folder: relative to the VM folder unless absolute or a moid.
	switch {
	case !full:
	case p.Folder == "":
		r.Folder = vmFolder
	default:
		fp := p.Folder
		if !strings.HasPrefix(fp, "/") && object.ReferenceFromString(fp) == nil {
			fp = path.Join(vmFolder.InventoryPath, fp)
		}
		if r.Folder, err = f.Folder(ctx, fp); err != nil {
			return nil, fail("folder", p.Folder, func() []string { return names(f.FolderList(ctx, vmFolder.InventoryPath+"/*")) }, err)
		}
	}

	if p.Host != "" {
		if r.Host, err = f.HostSystem(ctx, p.Host); err != nil {
			if merr := c.vCenterMismatch(ctx, f, "host", p.Host, nil); merr != nil {
				return nil, merr
			}
			return nil, fail("host", p.Host, func() []string { return names(f.HostSystemList(ctx, "*")) }, err)
		}
	}

	switch {
	case p.ResourcePool != "":
		if r.ResourcePool, err = f.ResourcePool(ctx, p.ResourcePool); err != nil {
			return nil, fail("resource_pool", p.ResourcePool, func() []string { return poolPaths(f.ResourcePoolList(ctx, "*")) }, err)
		}
	case p.Cluster != "":
		cl, err := f.ClusterComputeResource(ctx, p.Cluster)
		if err != nil {
			if merr := c.vCenterMismatch(ctx, f, "cluster", p.Cluster, nil); merr != nil {
				return nil, merr
			}
			return nil, fail("cluster", p.Cluster, func() []string { return names(f.ClusterComputeResourceList(ctx, "*")) }, err)
		}
		if r.ResourcePool, err = cl.ResourcePool(ctx); err != nil {
			return nil, err
		}
	case r.Host != nil:
		if r.ResourcePool, err = r.Host.ResourcePool(ctx); err != nil {
			return nil, err
		}
	default:
		if r.ResourcePool, err = f.DefaultResourcePool(ctx); err != nil {
			if merr := c.vCenterMismatch(ctx, f, "cluster", "", nil); merr != nil {
				return nil, merr
			}
			return nil, fail("resource_pool", "", func() []string { return poolPaths(f.ResourcePoolList(ctx, "*")) }, errors.New("set cluster, host or resource_pool"))
		}
	}
	if !full {
		return &r, nil
	}

	if p.Datastore == "" {
		r.Datastore, err = f.DefaultDatastore(ctx)
	} else {
		r.Datastore, err = f.Datastore(ctx, p.Datastore)
	}
	if err != nil {
		return nil, fail("datastore", p.Datastore, func() []string { return names(f.DatastoreList(ctx, "*")) }, err)
	}

	if p.Network != "" {
		if r.Network, err = f.Network(ctx, p.Network); err != nil {
			return nil, fail("network", p.Network, func() []string { return networkNames(f.NetworkList(ctx, "*")) }, err)
		}
	}
	return &r, nil
}

type named interface{ Name() string }

// names lists the base names of a Finder result, for error messages.
func names[T named](list []T, err error) []string {
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, o := range list {
		out = append(out, o.Name())
	}
	sort.Strings(out)
	return out
}

func networkNames(list []object.NetworkReference, err error) []string {
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, n := range list {
		out = append(out, path.Base(n.GetInventoryPath()))
	}
	sort.Strings(out)
	return out
}

// poolPaths lists pools by inventory path: every root pool is "Resources".
func poolPaths(list []*object.ResourcePool, err error) []string {
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, p := range list {
		out = append(out, p.InventoryPath)
	}
	sort.Strings(out)
	return out
}

// resolveDatastore finds a datastore ("" the only one) of a datacenter ("" the only one), for
// what needs no VM placement (a content library).
func (c *Client) resolveDatastore(ctx context.Context, datacenter, datastore string) (*object.Datastore, error) {
	f := find.NewFinder(c.vim, false)
	dc, err := f.DatacenterOrDefault(ctx, datacenter)
	if err != nil {
		return nil, &PlacementError{Field: "datacenter", Value: datacenter, Available: names(f.DatacenterList(ctx, "*")), Err: err}
	}
	f.SetDatacenter(dc)
	ds, err := f.DatastoreOrDefault(ctx, datastore)
	if err != nil {
		return nil, &PlacementError{Field: "datastore", Value: datastore, Datacenter: dc.Name(), Available: names(f.DatastoreList(ctx, "*")), Err: err}
	}
	return ds, nil
}
