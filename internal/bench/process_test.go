package bench

import (
	"context"
	"os"
	"runtime"
	"syscall"
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
	r0 := rusageCPU(t)
	// Spin until the kernel's own account (getrusage) shows 300 ms more CPU: on a loaded
	// machine 300 ms of wall time can be far less CPU, which is not what this test is about.
	for deadline := time.Now().Add(30 * time.Second); rusageCPU(t)-r0 < 300*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatal("no 300 ms of CPU in 30 s")
		}
	}
	u1, s1 := procCPU(pid)
	want := rusageCPU(t) - r0
	// /proc counts in 10 ms ticks; allow a few of them.
	if got := (u1 - u0) + (s1 - s0); got < want-50*time.Millisecond || got > want+50*time.Millisecond {
		t.Errorf("procCPU counted %v of CPU; getrusage counted %v", got, want)
	}
}

// rusageCPU is the user + system time this process has used, as getrusage reports it.
func rusageCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
