package lab

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"golang.org/x/time/rate"
)

// The lab's network is loopback: an OVA crosses it at memory speed, where a real runner's
// upload to vCenter crosses a link. Options.NFCBandwidth and SetBootDelay give the lab's timings
// the shape of a real vCenter's: the environment variables below set them for hipchatdc-lab
// and the benchmarks.
const (
	// EnvNFCBandwidth limits the lab's NFC and content-library uploads, all of them together,
	// as one link does:
	// "110MiB/s" is a 1 Gbit/s link's payload rate. Units: B, KiB, MiB, GiB (also KB, MB, GB);
	// "/s" is optional.
	EnvNFCBandwidth = "HIPCHATDC_LAB_NFC_BANDWIDTH"
	// EnvBootDelay delays the boot of the guests of some kinds, as "node=30s,debian=5s" (a
	// kind of "" or "*" for every kind): see SetBootDelay.
	EnvBootDelay = "HIPCHATDC_LAB_BOOT_DELAY"
)

// linkBurst is the most bytes one read takes from the link at once: small against a second's
// worth, so that uploads sharing the link interleave finely.
const linkBurst = 256 << 10

// ParseBandwidth reads a rate such as "110MiB/s" into bytes per second.
func ParseBandwidth(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v <= 0 {
		return 0, fmt.Errorf("bandwidth %q: want a positive rate such as 110MiB/s", s)
	}
	return int64(v * mult), nil
}

// ParseBootDelays reads EnvBootDelay's "kind=duration,..." into SetBootDelay's arguments.
func ParseBootDelays(s string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		kind, d, ok := strings.Cut(item, "=")
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if !ok || err != nil || dur < 0 {
			return nil, fmt.Errorf("boot delay %q: want kind=duration, such as node=30s", item)
		}
		if kind = strings.TrimSpace(kind); kind == "*" {
			kind = ""
		}
		out[kind] = dur
	}
	return out, nil
}

// newLink is the lab's one uplink of bytesPerSecond (nil: loopback speed), shared by the
// vCenter and the standalone ESXi hosts as the runner's link is.
func newLink(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSecond), linkBurst)
}

// limitNFC makes every NFC upload to vcsim read its body through one shared limiter: the
// uploads running at once divide the link between them, as they do on a real network. A
// method pattern is more specific than vcsim's own "/nfc/" (Go 1.22 ServeMux precedence), so
// uploads come here first and go on to ServeNFC; downloads (GET) are not limited.
func limitNFC(mux *http.ServeMux, lim *rate.Limiter) {
	upload := func(w http.ResponseWriter, r *http.Request) {
		r.Body = &limitedReader{rc: r.Body, lim: lim, ctx: r.Context()}
		simulator.ServeNFC(w, r)
	}
	mux.HandleFunc("PUT /nfc/", upload)
	mux.HandleFunc("POST /nfc/", upload)
}

type limitedReader struct {
	rc  io.ReadCloser
	lim *rate.Limiter
	ctx context.Context
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(p) > linkBurst {
		p = p[:linkBurst]
	}
	n, err := l.rc.Read(p)
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (l *limitedReader) Close() error { return l.rc.Close() }
