// Package spec holds the rules of Atlassian's guide "Set up a small-scale Hipchat Data Center
// cluster" as data, with pure validators over them. Nothing here talks to vSphere or to a guest,
// so the same rules serve plan-time validation, apply-time checks and documentation.
package spec

import "fmt"

// Role is one of the three kinds of VM in a small-scale deployment.
type Role string

const (
	RoleNode         Role = "node"           // the Hipchat application node, from the Hipchat OVA
	RoleDataStores   Role = "datastore_node" // Redis, NFS v4 and Postgres on one VM
	RoleReverseProxy Role = "reverse_proxy"  // terminates TLS in front of the node(s)
)

// Title is how error messages and docs name the role.
func (r Role) Title() string {
	switch r {
	case RoleNode:
		return "a Hipchat node"
	case RoleDataStores:
		return "the data stores node"
	case RoleReverseProxy:
		return "the reverse proxy"
	}
	return string(r)
}

// Minimums is the guide's hardware floor for one role. Zero means the guide sets none.
type Minimums struct {
	NumCPUs  int64 // vCPUs
	MemoryMB int64 // MiB, the unit of the vsphere provider's `memory`
	DiskGiB  int64 // system disk
}

// Hardware is the table "Hardware requirements for a small-scale Hipchat Data Center
// deployment". The guide says GB; vSphere sizes in binary units, and reading "16GB RAM" as
// 16 GiB is the reading every hypervisor UI uses.
var Hardware = map[Role]Minimums{
	RoleNode:         {NumCPUs: 8, MemoryMB: 16 * 1024, DiskGiB: 40},
	RoleDataStores:   {NumCPUs: 8, MemoryMB: 16 * 1024, DiskGiB: 60},
	RoleReverseProxy: {NumCPUs: 2, MemoryMB: 2 * 1024},
}

// NFSVolumeMinGiB is "NFS volume requirements: Must be a minimum of 40GB."
const NFSVolumeMinGiB = 40

// CheckNumCPUs reports a vCPU count under the role's minimum.
func CheckNumCPUs(r Role, n int64) error {
	if min := Hardware[r].NumCPUs; n < min {
		return fmt.Errorf("%s needs at least %d vCPU (small-scale guide, hardware requirements); got %d", r.Title(), min, n)
	}
	return nil
}

// CheckMemory reports memory (MiB) under the role's minimum.
func CheckMemory(r Role, mb int64) error {
	if min := Hardware[r].MemoryMB; mb < min {
		return fmt.Errorf("%s needs at least %d MiB (%d GB) of RAM (small-scale guide, hardware requirements); got %d MiB", r.Title(), min, min/1024, mb)
	}
	return nil
}

// CheckDisk reports a system disk (GiB) under the role's minimum.
func CheckDisk(r Role, gib int64) error {
	if min := Hardware[r].DiskGiB; gib < min {
		return fmt.Errorf("%s needs at least %d GB of storage (small-scale guide, hardware requirements); got %d GB", r.Title(), min, gib)
	}
	return nil
}

// CheckNFSVolume reports an NFS volume (GiB) under the guide's 40 GB.
func CheckNFSVolume(gib int64) error {
	if gib < NFSVolumeMinGiB {
		return fmt.Errorf("the NFS volume must be at least %d GB (small-scale guide, NFS volume requirements); got %d GB", NFSVolumeMinGiB, gib)
	}
	return nil
}

// CheckGrow refuses to shrink a disk: vSphere cannot shrink a virtual disk, and doing it by
// hand loses data, so a smaller size is a configuration error, not a replacement.
func CheckGrow(oldGiB, newGiB int64) error {
	if newGiB < oldGiB {
		return fmt.Errorf("a disk cannot shrink: it is %d GB and the configuration asks for %d GB; keep the size or grow it", oldGiB, newGiB)
	}
	return nil
}

// MinCPUMHz is the guide's clock floor per role, in MHz as vSphere reports a host's
// summary.hardware.cpuMhz: "The Hipchat application node must have 8 CPU cores 2.8GHz (or
// faster)", "The data stores node must have 8 CPU cores 2.8GHz (or faster)", "The reverse proxy
// host can be small: 2 CPU cores 1GHz (or faster)" (small-scale guide, hardware requirements).
var MinCPUMHz = map[Role]int32{
	RoleNode:         2800,
	RoleDataStores:   2800,
	RoleReverseProxy: 1000,
}

// CheckCPUSpeed reports an ESXi host whose CPUs are slower than the role's minimum clock.
func CheckCPUSpeed(r Role, host string, mhz int32) error {
	if min := MinCPUMHz[r]; mhz < min {
		return fmt.Errorf("%s needs CPUs of %.1f GHz or faster (small-scale guide, hardware requirements); host %q runs at %d MHz",
			r.Title(), float64(min)/1000, host, mhz)
	}
	return nil
}

// SeparateHosts is the guide's topology: "This type of deployment uses one VMWare host for the
// Hipchat node, another VMWare host for all three data stores, and a reverse proxy"
// (small-scale guide, overview). hipchatdc_anti_affinity_rule enforces it.
const SeparateHosts = `the small-scale guide uses "one VMWare host for the Hipchat node, another VMWare host for all three data stores"`
