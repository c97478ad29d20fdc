package vsphere

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vmware/govmomi/session"
)

func TestConnectErrorsNameTheAttribute(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		cfg     func(Config) Config
		kind    ConnectErrorKind
		mention string
	}{
		{"bad password", func(c Config) Config { c.Password = "wrong"; return c }, ConnectBadCredentials, "user and password"},
		{"untrusted certificate", func(c Config) Config { c.CAFile = ""; return c }, ConnectUntrustedCertificate, "allow_unverified_ssl"},
		{"unreachable", func(c Config) Config { c.Server = "127.0.0.1:1"; return c }, ConnectUnreachable, "vsphere_server"},
		{"missing ca file", func(c Config) Config { c.CAFile = "/nonexistent/ca.pem"; return c }, ConnectBadConfig, "ca_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Connect(ctx, tc.cfg(testConfig()))
			if err == nil {
				_ = c.Logout(ctx)
				t.Fatal("Connect succeeded")
			}
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Kind != tc.kind {
				t.Fatalf("got %T %v; want ConnectError kind %d", err, err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}

	t.Run("allow_unverified_ssl", func(t *testing.T) {
		cfg := testConfig()
		cfg.CAFile, cfg.AllowUnverifiedSSL = "", true
		c, err := Connect(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Logout(ctx)
	})
	t.Run("URL form", func(t *testing.T) {
		cfg := testConfig()
		cfg.Server = "https://" + vcsimURL.Host + "/sdk"
		c, err := Connect(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Logout(ctx)
	})
}

func TestSessionIsReestablished(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	other := connect(t)

	us, err := session.NewManager(c.Vim25()).UserSession(ctx)
	if err != nil || us == nil {
		t.Fatalf("UserSession: %v %v", us, err)
	}
	// Another admin terminates our session behind our back.
	if err := session.NewManager(other.Vim25()).TerminateSession(ctx, []string{us.Key}); err != nil {
		t.Fatal(err)
	}
	before := c.RoundTrips()
	id, err := c.FindVM(ctx, "/DC0/vm/DC0_H0_VM0")
	if err != nil {
		t.Fatalf("FindVM after session termination: %v", err)
	}
	if id == "" || c.RoundTrips() <= before {
		t.Errorf("id %q, round trips %d -> %d", id, before, c.RoundTrips())
	}
	now, err := session.NewManager(c.Vim25()).UserSession(ctx)
	if err != nil || now == nil || now.Key == us.Key {
		t.Fatalf("expected a new session, got %v (%v)", now, err)
	}

	// Logged out (e.g. by an idle timeout): the next call logs in again.
	if err := session.NewManager(c.Vim25()).Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadVM(ctx, id); err != nil {
		t.Fatalf("ReadVM after logout: %v", err)
	}
}
