package lab

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// The lab's NTP server. The guide has every VM keep its clock with NTP ("must keep the time
// synchronized using NTP"), and configurations in the lab name the host's address on the public
// lab network (the guests' gateway) as their NTP server; until this server, nothing answered
// there. It is a minimal SNTP server (RFC 4330, a subset of NTP v4, RFC 5905): it answers each
// client request with the host's clock, stratum 1, reference "LAB", and does nothing else (no
// control or mode 6/7 queries, no authentication). A guest's NTP client (or the SNTP query of
// hipchatdc_health) measures its offset against it as against any NTP server.
//
// Guests share the host's kernel clock (a namespace does not get a CLOCK_REALTIME of its own),
// so a guest's clock cannot drift on its own in the lab. SetNTPOffset makes the server's clock
// differ from the guests' instead: a guest then measures an offset of exactly minus that much,
// which is what a guest whose own clock ran ahead by that much would measure.

// ntpPort is NTP's well-known port (the guide: "123 for NTP").
const ntpPort = 123

// ntpEpochOffset is the seconds from NTP's epoch (1900) to Unix's (1970).
const ntpEpochOffset = 2208988800

type ntpServer struct {
	conn   *net.UDPConn
	offset atomic.Int64 // nanoseconds added to the host's clock in every answer
	done   chan struct{}
}

// startNTP listens on addr:123 (UDP) and answers until close.
func startNTP(addr netip.Addr) (*ntpServer, error) {
	return listenNTP(netip.AddrPortFrom(addr, ntpPort))
}

func listenNTP(at netip.AddrPort) (*ntpServer, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(at))
	if err != nil {
		return nil, err
	}
	s := &ntpServer{conn: conn, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

func (s *ntpServer) serve() {
	defer close(s.done)
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		received := s.now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if reply := s.answer(buf[:n], received); reply != nil {
			_, _ = s.conn.WriteToUDPAddrPort(reply, from)
		}
	}
}

func (s *ntpServer) now() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) }

// answer is the reply to one request, or nil for what is not a client request (mode 3).
func (s *ntpServer) answer(req []byte, received time.Time) []byte {
	if len(req) < 48 || req[0]&0x7 != 3 {
		return nil
	}
	version := req[0] >> 3 & 0x7
	if version < 1 || version > 4 {
		return nil
	}
	r := make([]byte, 48)
	r[0] = version<<3 | 4 // leap indicator 0 (no warning), the client's version, mode 4 (server)
	r[1] = 1              // stratum 1: a primary reference (the host's clock)
	r[2] = req[2]         // poll interval: the client's
	r[3] = 0xec           // precision: 2^-20 s, about a microsecond
	copy(r[12:16], "LAB\x00")
	putNTPTime(r[16:24], received) // reference timestamp: the clock is always "just set"
	copy(r[24:32], req[40:48])     // originate timestamp: the client's transmit timestamp
	putNTPTime(r[32:40], received)
	putNTPTime(r[40:48], s.now())
	return r
}

// putNTPTime writes t as a 64-bit NTP timestamp (seconds since 1900, 32-bit fraction).
func putNTPTime(b []byte, t time.Time) {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	binary.BigEndian.PutUint64(b, secs<<32|frac)
}

func (s *ntpServer) close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// NTPServer is the address of the lab's NTP server: the host's address on the public lab
// network, the guests' gateway (HostAddress).
func (l *Lab) NTPServer() string { return l.HostAddress() }

// SetNTPOffset makes the lab's NTP server answer with the host's clock plus d, so that every
// guest measures its clock off by -d (guests share the host's clock; see ntp.go). Zero serves
// the true time again.
func (l *Lab) SetNTPOffset(d time.Duration) { l.ntp.offset.Store(int64(d)) }
