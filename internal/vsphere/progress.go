package vsphere

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// progressLog reports transfer progress through tflog at least every
// interval or every 5 %, whichever comes first, so a long import shows it is
// alive in TF_LOG=INFO output.
type progressLog struct {
	what     string
	total    int64
	done     atomic.Int64
	start    time.Time
	stop     chan struct{}
	finished chan struct{}
}

const progressInterval = 5 * time.Second

func startProgress(ctx context.Context, what string, total int64) *progressLog {
	p := &progressLog{what: what, total: total, start: time.Now(), stop: make(chan struct{}), finished: make(chan struct{})}
	go p.run(ctx)
	return p
}

func (p *progressLog) add(n int) { p.done.Add(int64(n)) }

func (p *progressLog) run(ctx context.Context) {
	defer close(p.finished)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	lastPct := int64(-5)
	for {
		select {
		case <-p.stop:
			p.log(ctx, "finished")
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			pct := p.percent()
			if time.Since(lastLog) >= progressInterval || pct >= lastPct+5 {
				p.log(ctx, "progress")
				lastLog, lastPct = time.Now(), pct/5*5
			}
		}
	}
}

func (p *progressLog) percent() int64 {
	if p.total <= 0 {
		return 0
	}
	return 100 * p.done.Load() / p.total
}

func (p *progressLog) log(ctx context.Context, msg string) {
	done := p.done.Load()
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(done) / (1 << 20) / secs
	}
	tflog.Info(ctx, p.what+" "+msg, map[string]any{
		"bytes": done, "total_bytes": p.total, "percent": p.percent(), "mib_per_s": rate,
	})
}

// Finish logs the final figures and stops the reporter.
func (p *progressLog) Finish() {
	close(p.stop)
	<-p.finished
}

// Rate returns the mean throughput so far in MiB/s.
func (p *progressLog) Rate() float64 {
	return float64(p.done.Load()) / (1 << 20) / time.Since(p.start).Seconds()
}
