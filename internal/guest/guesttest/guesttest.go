// Package guesttest holds what the guest recipes' tests share: golden files and SSH to the lab's
// guests. Only tests import it.
package guesttest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// Golden compares got with testdata/name; `go test -update` rewrites the file instead.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// StartGuest starts a lab with one guest VM of kind called name; the lab stops when the test
// ends (after the connections Dial opened to it are closed).
func StartGuest(t testing.TB, ctx context.Context, name, kind string) (*lab.Lab, *lab.Guest) {
	t.Helper()
	l, err := lab.Start(ctx, lab.Options{})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() { _ = l.Stop() })
	g, err := l.StartGuestVM(ctx, name, kind)
	if err != nil {
		t.Fatal(err)
	}
	return l, g
}

// Dial connects to a lab guest as root with the lab's key, its host key pinned; the connection
// is closed when the test ends.
func Dial(t testing.TB, ctx context.Context, l *lab.Lab, g *lab.Guest) *guest.Conn {
	t.Helper()
	s := l.SSH()
	c, err := guest.Dial(ctx, guest.Config{
		Target:  guest.Endpoint{Host: g.Address(), User: s.User, PrivateKey: s.PrivateKeyPEM, HostKey: g.HostKey()},
		Timeout: 30 * time.Second, KeepAliveInterval: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Exec runs cmd inside a guest, as at its console, and returns its trimmed output.
func Exec(t testing.TB, ctx context.Context, g *lab.Guest, cmd string) string {
	t.Helper()
	out, err := g.Exec(ctx, cmd)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
