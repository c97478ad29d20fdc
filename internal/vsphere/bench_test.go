package vsphere

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// peakHeap samples HeapInuse while an import runs, to show memory stays
// flat whatever the disk size.
func peakHeap(stop <-chan struct{}) *atomic.Uint64 {
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return &peak
}

// benchmarkImport imports a 256 MiB-payload OVA; manifest names the digest of its manifest
// ("" for none), which the import computes over every byte as it streams.
func benchmarkImport(b *testing.B, fromURL bool, manifest string) {
	c := connect(b)
	dir := b.TempDir()
	ova := filepath.Join(dir, "bench.ova")
	if err := ovatest.Write(ova, ovatest.Options{DiskCapacityGiB: 40, DataBytes: 256 << 20, Manifest: manifest}); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(ova)
	src := ova
	if fromURL {
		src = serveDir(b, dir).URL + "/bench.ova"
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	peak := peakHeap(stop)
	b.SetBytes(st.Size())
	b.ResetTimer()
	var cpu time.Duration // of this process (the import and vcsim), while importing
	for i := 0; i < b.N; i++ {
		start := cpuTime()
		id, err := c.ImportOVA(context.Background(), ImportSpec{Name: "bench", Source: src, Placement: Placement{Cluster: "DC0_C0"}})
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - start
		b.StopTimer()
		_ = c.Destroy(context.Background(), id)
		b.StartTimer()
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(base.HeapInuse)/(1<<20), "base-heap-MiB")
	// CPU time, unlike throughput, hardly depends on what else the machine runs: it shows what
	// checking the manifest costs on a machine whose cores are all busy.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkImportFile(b *testing.B)       { benchmarkImport(b, false, "") }
func BenchmarkImportURL(b *testing.B)        { benchmarkImport(b, true, "") }
func BenchmarkImportFileSHA256(b *testing.B) { benchmarkImport(b, false, "SHA256") }
func BenchmarkImportURLSHA256(b *testing.B)  { benchmarkImport(b, true, "SHA256") }
func BenchmarkImportFileSHA512(b *testing.B) { benchmarkImport(b, false, "SHA512") }
