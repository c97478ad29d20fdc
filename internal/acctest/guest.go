package acctest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// GuestExec runs a command inside the guest of a VM, as an operator at its console would, and
// returns its trimmed output. It fails the test when the guest or the command fails, or takes
// longer than 2 minutes (a bound for a hung guest, not a speed goal: guests answer slower while
// tests run in parallel on a busy machine).
func GuestExec(t testing.TB, l *lab.Lab, vmName, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := l.WaitGuest(ctx, vmName)
	if err != nil {
		t.Fatalf("guest of %s: %v", vmName, err)
	}
	out, err := g.Exec(ctx, cmd)
	if err != nil {
		t.Fatalf("guest %s: %s: %v", vmName, cmd, err)
	}
	return strings.TrimSpace(string(out))
}

// LabAddress returns host number n of the lab's public (or private) subnet, for static
// addresses in tests; the lab hands out addresses from .10 upwards, so use high numbers. The
// number is t's own: tests run in parallel, and LabAddress fails a test that takes a number
// another test of the binary took (see "Lab tests in parallel" in parallel.go).
func LabAddress(t testing.TB, l *lab.Lab, private bool, n int) string {
	t.Helper()
	claimAddress(t, l, private, n)
	return hostAddress(l, private, n)
}

func hostAddress(l *lab.Lab, private bool, n int) string {
	p := l.PublicSubnet()
	if private {
		p = l.PrivateSubnet()
	}
	a := p.Masked().Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a).String()
}

// Gateway is the lab network's gateway (its first address).
func Gateway(l *lab.Lab, private bool) string { return hostAddress(l, private, 1) }

// NewPrivateKey makes an ed25519 private key in OpenSSH PEM form, encrypted when passphrase is
// set, that no guest trusts.
func NewPrivateKey(t testing.TB, passphrase string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// Probe opens a TCP connection from inside g to addr:port, as a client on that guest would, and
// says "open", "refused" (a reset: the guest firewall's answer for a closed port) or the error.
func Probe(t testing.TB, g *lab.Guest, addr string, port int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := g.Exec(ctx, `python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 10).close(); print("open")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print(type(e).__name__, e)
' `+addr+` `+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("probe from %s to %s:%d: %v %s", g.Address(), addr, port, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Listen starts a throwaway TCP server (python3's http.server) on port inside the guest of
// vmName and waits until it accepts connections, so that a probe that is refused proves the
// firewall, not a missing service.
func Listen(t testing.TB, l *lab.Lab, vmName string, port int) {
	t.Helper()
	p := strconv.Itoa(port)
	GuestExec(t, l, vmName, `setsid python3 -m http.server `+p+` >/dev/null 2>&1 </dev/null &
i=0; until python3 -c 'import socket; socket.create_connection(("127.0.0.1", `+p+`), 1)' 2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done`)
}
