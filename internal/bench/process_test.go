package bench

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

// A child's peak RSS is its own, whatever the harness holds: wait4's
// ru_maxrss would report the harness's 64 MiB for a `sleep` (exec copies
// the parent's high-water mark into it), which is how earlier bench tables
// showed the same peak for all three importers.
func TestMeasureReportsTheChildsOwnPeakRSS(t *testing.T) {
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	st, err := Measure(context.Background(), t.TempDir(), "sleep", []string{"0.2"}, nil)
	runtime.KeepAlive(ballast)
	if err != nil {
		t.Fatal(err)
	}
	if st.MaxRSS <= 0 || st.MaxRSS > 16<<20 {
		t.Errorf("peak RSS of sleep = %.1f MiB, want its own (a few MiB), not the harness's 64+ MiB", mib(st.MaxRSS))
	}
	if st.Wall < 200*time.Millisecond {
		t.Errorf("wall %v < 0.2 s", st.Wall)
	}
}

func TestProcCPUCountsBusyTime(t *testing.T) {
	pid := os.Getpid()
	u0, s0 := procCPU(pid)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
	}
	u1, s1 := procCPU(pid)
	if got := (u1 - u0) + (s1 - s0); got < 150*time.Millisecond {
		t.Errorf("300 ms of busy loop counted as %v of CPU", got)
	}
}
