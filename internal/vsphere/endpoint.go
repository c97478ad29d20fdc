package vsphere

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/find"
)

// ESXiDatacenter is the one datacenter a standalone ESXi host shows (its name and its managed
// object ID): the host answers the vSphere API itself, without a vCenter, and has no clusters.
const ESXiDatacenter = "ha-datacenter"

// EndpointError is a placement attribute that names an object of the wrong kind for the
// endpoint or for the attribute: a cluster or a datacenter other than ha-datacenter on a
// standalone ESXi host, ha-datacenter on a vCenter, an ESXi host given as cluster or a cluster
// given as host. No apply can make it right, so plan time refuses it, before anything is
// created. Field is the placement attribute to change.
type EndpointError struct {
	Field string
	Err   error
}

func (e *EndpointError) Error() string { return e.Err.Error() }
func (e *EndpointError) Unwrap() error { return e.Err }

// IsESXi tells whether the provider talks to a standalone ESXi host (API type HostAgent)
// rather than to a vCenter Server.
func (c *Client) IsESXi() bool { return !c.vim.IsVC() }

// endpoint names the server for messages: its address and what it says it is.
func (c *Client) endpoint() string {
	return fmt.Sprintf("vsphere_server %q is %s", c.vim.URL().Host, c.vim.ServiceContent.About.FullName)
}

// checkESXiPlacement refuses, on a standalone ESXi host, what only a vCenter has.
func (c *Client) checkESXiPlacement(p Placement) error {
	if !c.IsESXi() {
		return nil
	}
	if p.Cluster != "" {
		return &EndpointError{Field: "cluster", Err: fmt.Errorf("cluster = %q: %s, a standalone ESXi host without a vCenter, which has no clusters: "+
			"remove cluster (a VM on a standalone host runs on the host itself), or point vsphere_server at the vCenter Server that manages the host", p.Cluster, c.endpoint())}
	}
	if dc := strings.Trim(p.Datacenter, "/"); dc != "" && dc != ESXiDatacenter {
		return &EndpointError{Field: "datacenter", Err: fmt.Errorf("datacenter = %q: %s, a standalone ESXi host without a vCenter, whose only datacenter is %q: "+
			"remove datacenter, or point vsphere_server at the vCenter Server that has datacenter %q", p.Datacenter, c.endpoint(), ESXiDatacenter, p.Datacenter)}
	}
	return nil
}

// vCenterMismatch explains a lookup that failed on a vCenter because the value names an object
// of another kind: ha-datacenter (a standalone host's datacenter) as datacenter, an ESXi host
// as cluster, a cluster as host; or, for cluster "", because nothing names where the VM runs,
// as on a standalone ESXi host. It returns nil when that is not the reason.
func (c *Client) vCenterMismatch(ctx context.Context, f *find.Finder, field, value string, available []string) error {
	if c.IsESXi() {
		return nil
	}
	switch field {
	case "datacenter":
		if strings.Trim(value, "/") == ESXiDatacenter {
			return &EndpointError{Field: field, Err: fmt.Errorf("datacenter = %q is the datacenter of a standalone ESXi host, but %s, a vCenter Server: "+
				"name one of its datacenters (%s), or point vsphere_server at the ESXi host itself", value, c.endpoint(), strings.Join(available, ", "))}
		}
	case "cluster":
		if value == "" {
			// No compute placement at all, as for a standalone ESXi host, on a vCenter with
			// several places to run: no apply can pick one.
			clusters := names(f.ClusterComputeResourceList(ctx, "*"))
			if len(clusters) == 0 {
				return nil
			}
			return &EndpointError{Field: field, Err: fmt.Errorf("no cluster, host or resource_pool is set, and %s, a vCenter Server with several places to run a VM: "+
				"set cluster (%s), host or resource_pool. A configuration written for a standalone ESXi host (modules/small-scale-standalone-esxi) needs vsphere_server to be that host",
				c.endpoint(), strings.Join(clusters, ", "))}
		}
		if h, err := f.HostSystem(ctx, value); err == nil {
			return &EndpointError{Field: field, Err: fmt.Errorf("cluster = %q names the ESXi host %q, not a cluster: set host = %q instead and remove cluster", value, h.Name(), value)}
		}
	case "host":
		if cl, err := f.ClusterComputeResource(ctx, value); err == nil {
			return &EndpointError{Field: field, Err: fmt.Errorf("host = %q names the cluster %q, not an ESXi host: set cluster = %q instead and remove host, or name one of its hosts", value, cl.Name(), value)}
		}
	}
	return nil
}
