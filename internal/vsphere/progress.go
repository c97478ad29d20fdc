package vsphere

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// progressLog reports transfer progress through tflog at every 5 % step and at least every
// interval, so a long import shows it is alive in TF_LOG=INFO output.
type progressLog struct {
	ctx      context.Context
	what     string
	total    int64
	done     atomic.Int64
	lastLog  atomic.Int64 // unix nanoseconds of the last line
	start    time.Time
	stop     chan struct{}
	finished chan struct{}
}

const progressInterval = 5 * time.Second

func startProgress(ctx context.Context, what string, total int64) *progressLog {
	p := &progressLog{ctx: ctx, what: what, total: total, start: time.Now(), stop: make(chan struct{}), finished: make(chan struct{})}
	p.lastLog.Store(p.start.UnixNano())
	go p.run()
	return p
}

// add counts transferred bytes and logs the line of a 5 % step right away: a fast import covers
// many percent between two ticks of the reporter, and every step should show. It runs on the
// upload's read path, but only 20 times per transfer does it do more than an addition.
func (p *progressLog) add(n int) {
	done := p.done.Add(int64(n))
	if p.total > 0 && 20*done/p.total != 20*(done-int64(n))/p.total {
		p.log("progress")
	}
}

// run covers the slow case: a line at least every progressInterval.
func (p *progressLog) run() {
	defer close(p.finished)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			p.log("finished")
			return
		case <-p.ctx.Done():
			return
		case <-tick.C:
			if time.Since(time.Unix(0, p.lastLog.Load())) >= progressInterval {
				p.log("progress")
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

func (p *progressLog) log(msg string) {
	p.lastLog.Store(time.Now().UnixNano())
	done := p.done.Load()
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(done) / (1 << 20) / secs
	}
	tflog.Info(p.ctx, p.what+" "+msg, map[string]any{
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
