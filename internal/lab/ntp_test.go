package lab

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"
)

// ntpTime reads a 64-bit NTP timestamp.
func ntpTime(b []byte) time.Time {
	v := binary.BigEndian.Uint64(b)
	secs, frac := int64(v>>32)-ntpEpochOffset, v&0xffffffff
	return time.Unix(secs, int64(frac*uint64(time.Second)>>32))
}

// TestNTPServer queries the lab's NTP server as an SNTP client does and computes the offset
// the RFC 5905 way: zero against the host's clock, minus the skew once SetNTPOffset skews it.
func TestNTPServer(t *testing.T) {
	s, err := listenNTP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	conn, err := net.DialUDP("udp", nil, s.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	query := func() (offset, delay time.Duration) {
		t.Helper()
		req := make([]byte, 48)
		req[0] = 4<<3 | 3
		t1 := time.Now()
		putNTPTime(req[40:48], t1)
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		// A lost datagram on loopback is a failure, not something to wait out.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp := make([]byte, 512)
		n, err := conn.Read(resp)
		t4 := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if n != 48 || resp[0]&7 != 4 || resp[0]>>3&7 != 4 || resp[1] != 1 {
			t.Fatalf("answer % x: want 48 bytes, mode 4, version 4, stratum 1", resp[:n])
		}
		if string(resp[24:32]) != string(req[40:48]) {
			t.Errorf("originate timestamp % x, want the request's transmit timestamp % x", resp[24:32], req[40:48])
		}
		// Timestamps carry the wall clock only: compare them as such.
		t1, t4 = t1.Round(0), t4.Round(0)
		t2, t3 := ntpTime(resp[32:40]), ntpTime(resp[40:48])
		return (t2.Sub(t1) + t3.Sub(t4)) / 2, t4.Sub(t1) - t3.Sub(t2)
	}
	// The offset is known to within half the round trip (RFC 5905).
	check := func(want time.Duration) {
		t.Helper()
		off, delay := query()
		if math.Abs(float64(off-want)) > float64(delay/2+time.Microsecond) {
			t.Errorf("offset %v (round trip %v), want %v", off, delay, want)
		}
	}
	check(0)
	s.offset.Store(int64(90 * time.Second))
	check(90 * time.Second)
	if s.answer(make([]byte, 48), time.Now()) != nil {
		t.Error("answered a request of mode 0: only client requests (mode 3) get an answer")
	}
}
