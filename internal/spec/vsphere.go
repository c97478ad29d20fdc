package spec

import "fmt"

// VSphereLimits is what vSphere itself refuses, whatever the guide says. vcsim accepts any
// value, so without these checks a configuration passes every test and fails on the first real
// vCenter, after the OVA upload.
var VSphereLimits = struct {
	// MaxNumCPUs is the largest vCPU count of a VM: "The maximum number of virtual CPUs that
	// you can assign to a virtual machine is 768" (vSphere 8.0 Virtual Machine Administration,
	// "Virtual CPU Limitations"; the vSphere 8 configuration maximums list the same figure).
	// Older hosts and hardware versions allow fewer; vSphere reports that at apply time.
	MaxNumCPUs int64
	// MemoryStepMB is the granularity of a VM's memory: vSphere sizes memory in multiples of
	// 4 MB (vSphere Virtual Machine Administration, "Change the Memory Configuration"), and a
	// reconfiguration or an import with another size fails.
	MemoryStepMB int64
}{MaxNumCPUs: 768, MemoryStepMB: 4}

// CheckVSphereNumCPUs refuses a vCPU count no vSphere VM can have.
func CheckVSphereNumCPUs(n int64) error {
	if max := VSphereLimits.MaxNumCPUs; n > max {
		return fmt.Errorf("vSphere allows at most %d vCPUs per VM (vSphere 8 configuration maximums); got %d", max, n)
	}
	return nil
}

// CheckVSphereMemory refuses a memory size (MiB) that is not a multiple of vSphere's 4 MB, and
// names the two nearest sizes that are.
func CheckVSphereMemory(mb int64) error {
	step := VSphereLimits.MemoryStepMB
	if rem := mb % step; mb > 0 && rem != 0 { // the schema refuses sizes under 4 MB
		below := mb - rem
		if below < step {
			return fmt.Errorf("vSphere requires memory in multiples of %d MB; use %d", step, below+step)
		}
		return fmt.Errorf("vSphere requires memory in multiples of %d MB; use %d or %d", step, below, below+step)
	}
	return nil
}
