package health

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// ClockSample is one SNTP query from the guest to one of its NTP servers.
type ClockSample struct {
	Server string
	// Offset is the guest's clock minus the server's (chronyc's "fast of NTP time"): positive
	// when the guest is ahead. It is known to within half of Delay (RFC 5905).
	Offset time.Duration
	Delay  time.Duration // the query's round trip, less the server's own processing time
	Err    string        // why there is no measurement ("timed out", a resolver error, ...)
}

// queryTimeout is how long the guest waits for each server's answer. A server on the
// network answers within milliseconds; three seconds also covers a loaded guest.
const queryTimeout = 3 * time.Second

// sntpProgram is the SNTP client (RFC 4330) the guest runs with python3: one query per server
// named in argv, one line per server: "ok SERVER OFFSET DELAY" (seconds, OFFSET = guest minus
// server) or "fail SERVER REASON".
const sntpProgram = `import socket, struct, sys, time
EPOCH = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
TIMEOUT = float(sys.argv[1])
for server in sys.argv[2:]:
    try:
        family, _, _, _, addr = socket.getaddrinfo(server, 123, 0, socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            req = bytearray(48)
            req[0] = 0x23  # leap indicator 0, version 4, mode 3 (client)
            t1 = time.time()
            # On the wire the seconds are modulo 2**32: era 1 begins in February 2036.
            struct.pack_into("!II", req, 40, (int(t1) + EPOCH) % 2**32, int((t1 % 1) * 2**32))
            s.sendto(req, addr)
            deadline = t1 + TIMEOUT
            while True:
                data = s.recv(512)
                t4 = time.time()
                # The answer to this query echoes its transmit timestamp; anything else is stale.
                if len(data) >= 48 and data[24:32] == req[40:48]:
                    break
                if t4 >= deadline:
                    raise socket.timeout("timed out")
        if data[0] & 7 != 4:
            raise ValueError("the answer is not an NTP server's (mode %d)" % (data[0] & 7))
        if data[1] == 0:
            raise ValueError("the server refused with kiss code %s" % data[12:16].decode("ascii", "replace"))
        if data[0] >> 6 == 3:
            raise ValueError("the server's own clock is not synchronized (leap indicator 3)")
        def ts(at):
            # A server timestamp carries no era: it is read as the time within 68 years of
            # this clock (RFC 5905, section 6: the difference of two timestamps in signed
            # 32-bit arithmetic), so that an offset stays right across 2036's wrap.
            sec, frac = struct.unpack_from("!II", data, at)
            diff = (sec - (int(t1) + EPOCH)) % 2**32
            if diff >= 2**31:
                diff -= 2**32
            return int(t1) + diff + frac / 2**32
        t2, t3 = ts(32), ts(40)
        # RFC 5905: the server's offset from the guest and the round trip.
        offset = ((t2 - t1) + (t3 - t4)) / 2
        delay = (t4 - t1) - (t3 - t2)
        print("ok %s %.6f %.6f" % (server, -offset, delay))
    except Exception as e:
        print("fail %s %s" % (server, " ".join((str(e) or type(e).__name__).split())))
`

// ClockScript is the command MeasureClock runs for servers.
func ClockScript(servers []string) string {
	args := make([]string, 0, len(servers)+1)
	args = append(args, strconv.FormatFloat(queryTimeout.Seconds(), 'f', -1, 64))
	for _, s := range servers {
		args = append(args, guest.Quote(s))
	}
	return "# measure the clock offset from the NTP servers\npython3 -c " + guest.Quote(sntpProgram) + " " + strings.Join(args, " ") + "\n"
}

// MeasureClock queries each of servers from the guest, one after the other, with one
// read-only command.
func MeasureClock(ctx context.Context, r Runner, servers []string) ([]ClockSample, error) {
	if len(servers) == 0 {
		return nil, nil
	}
	out, err := r.Run(ctx, ClockScript(servers), nil)
	if err != nil {
		return nil, fmt.Errorf("measure the clock offset: %w", err)
	}
	return ParseClock(string(out), servers)
}

// ParseClock reads ClockScript's output: one sample per server, in the order of servers.
func ParseClock(out string, servers []string) ([]ClockSample, error) {
	got := map[string]ClockSample{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		s := ClockSample{Server: f[1]}
		switch {
		case f[0] == "ok" && len(f) == 4:
			off, err1 := strconv.ParseFloat(f[2], 64)
			delay, err2 := strconv.ParseFloat(f[3], 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("measure the clock offset: unreadable line %q", line)
			}
			s.Offset, s.Delay = seconds(off), seconds(delay)
		case f[0] == "fail":
			s.Err = strings.Join(f[2:], " ")
			if s.Err == "" {
				s.Err = "no answer"
			}
		default:
			return nil, fmt.Errorf("measure the clock offset: unreadable line %q", line)
		}
		got[s.Server] = s
	}
	samples := make([]ClockSample, 0, len(servers))
	for _, srv := range servers {
		s, ok := got[srv]
		if !ok {
			return nil, fmt.Errorf("measure the clock offset: no result for NTP server %q in %q", srv, out)
		}
		samples = append(samples, s)
	}
	return samples, nil
}

func seconds(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Second))) }

// Best is the sample with the shortest round trip among those that were measured, the most
// exact of them (an NTP client prefers it too); false when no server answered.
func Best(samples []ClockSample) (ClockSample, bool) {
	var best ClockSample
	found := false
	for _, s := range samples {
		if s.Err == "" && (!found || s.Delay < best.Delay) {
			best, found = s, true
		}
	}
	return best, found
}

// Failures says, in one line, why each server that gave no measurement gave none.
func Failures(samples []ClockSample) string {
	var parts []string
	for _, s := range samples {
		if s.Err != "" {
			parts = append(parts, s.Server+": "+s.Err)
		}
	}
	return strings.Join(parts, "; ")
}
