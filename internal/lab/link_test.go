package lab

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]int64{"110MiB/s": 110 << 20, "1GiB": 1 << 30, "125MB/s": 125e6, "512KiB/s": 512 << 10, "1000": 1000} {
		if got, err := ParseBandwidth(in); err != nil || got != want {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1MiB/s", "10 parsecs"} {
		if _, err := ParseBandwidth(in); err == nil {
			t.Errorf("ParseBandwidth(%q) accepted", in)
		}
	}
}

func TestParseBootDelays(t *testing.T) {
	got, err := ParseBootDelays("node=30s, debian=5s,*=1s")
	if err != nil || got[KindNode] != 30*time.Second || got[KindDebian] != 5*time.Second || got[""] != time.Second {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParseBootDelays("node"); err == nil {
		t.Error("a kind without a delay was accepted")
	}
}

// Two uploads at once share the link: together they take at least their total size over the
// rate (less the burst), not each its own size over it. Load only makes them slower.
func TestLinkIsSharedByConcurrentUploads(t *testing.T) {
	const bps, each = 8 << 20, 2 << 20
	lim := rate.NewLimiter(rate.Limit(bps), linkBurst)
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &limitedReader{rc: io.NopCloser(bytes.NewReader(make([]byte, each))), lim: lim, ctx: context.Background()}
			if n, err := io.Copy(io.Discard, r); err != nil || n != each {
				t.Errorf("read %d bytes: %v", n, err)
			}
		}()
	}
	wg.Wait()
	if least := time.Duration(float64(2*each-linkBurst) / bps * float64(time.Second)); time.Since(start) < least {
		t.Errorf("2 x %d bytes at %d B/s took %s: the link was not shared (at least %s)", each, bps, time.Since(start), least)
	}
}
