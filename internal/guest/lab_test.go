package guest

// The transport against the project's lab: a guest on a private network that the host cannot
// reach, only its jump host; and the lab's password user with sudo.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// privateGuest starts a private lab with one node guest on the private network.
func privateGuest(t *testing.T) (*lab.Lab, *lab.Guest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := lab.Start(context.Background(), lab.Options{PrivateNetwork: true})
	must(t, err)
	t.Cleanup(func() { _ = l.Stop() })
	g, err := l.StartGuestVM(ctx, "transport-private", lab.KindNode, "private")
	must(t, err)
	return l, g
}

func TestLabPrivateGuestOnlyThroughTheBastion(t *testing.T) {
	l, g := privateGuest(t)
	s := l.SSH()
	target := Endpoint{Host: g.Address(), User: "root", PrivateKey: s.PrivateKeyPEM, HostKey: g.HostKey()}
	bastion := Endpoint{Host: s.JumpHost.Address, Port: s.JumpHost.Port, User: s.JumpHost.User, PrivateKey: s.PrivateKeyPEM, HostKey: s.JumpHost.HostKey}

	// Directly, the guest cannot be reached: the budget runs out on network errors.
	_, err := Dial(context.Background(), Config{Target: target, Timeout: 2 * time.Second})
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("direct Dial to the private guest: %v, want a ConnectError", err)
	}

	// Through the bastion it answers, as root with the key and as the password user with sudo.
	ResetStats()
	c, err := Dial(context.Background(), Config{Target: target, Bastion: &bastion, Timeout: 20 * time.Second})
	must(t, err)
	defer c.Close()
	out, err := c.Run(context.Background(), "hostname", nil)
	if err != nil || strings.TrimSpace(string(out)) != "hipchat" {
		t.Fatalf("hostname through the bastion: %q, %v", out, err)
	}
	if st := Stats(); st.Connections != 1 || st.BastionConnections != 1 || st.ReadCommands != 1 {
		t.Errorf("Stats() = %+v", st)
	}

	admin := target
	admin.User, admin.PrivateKey, admin.Password = s.PasswordUser, "", s.Password
	ac, err := Dial(context.Background(), Config{Target: admin, Bastion: &bastion, Timeout: 20 * time.Second})
	must(t, err)
	defer ac.Close()
	out, err = ac.Run(context.Background(), "echo $SUDO_USER $(id -un)", nil)
	if err != nil || strings.TrimSpace(string(out)) != s.PasswordUser+" root" {
		t.Fatalf("sudo as %s: %q, %v", s.PasswordUser, out, err)
	}
	// WriteFile through sudo: owner and mode as asked, seen from inside the guest.
	must(t, ac.WriteFile(context.Background(), "/etc/hipchatdc-test.conf", []byte("x=1\n"), 0o600, "root:root"))
	got, err := g.Exec(context.Background(), "stat -c '%a %U' /etc/hipchatdc-test.conf; cat /etc/hipchatdc-test.conf")
	if err != nil || string(got) != "600 root\nx=1\n" {
		t.Fatalf("file written through sudo: %q, %v", got, err)
	}
}
