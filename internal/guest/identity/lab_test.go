package identity

// Read and Apply against the project's lab guests: real network namespaces with sshd,
// ifupdown, and the lab's stand-ins for the appliance commands.

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// The labs are shared by the tests of this package: one on a network the host reaches, one
// (started on first use) whose guests are only reachable through its jump host.
var (
	theLab, privateLab *lab.Lab
	labMu              sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, l := range []*lab.Lab{theLab, privateLab} {
		if l != nil {
			l.Stop()
		}
	}
	os.Exit(code)
}

func getLab(t *testing.T, private bool) *lab.Lab {
	t.Helper()
	labMu.Lock()
	defer labMu.Unlock()
	l := &theLab
	if private {
		l = &privateLab
	}
	if *l == nil {
		started, err := lab.Start(context.Background(), lab.Options{PrivateNetwork: private})
		if err != nil {
			t.Fatalf("lab: %v", err)
		}
		*l = started
	}
	return *l
}

// startGuest boots one guest of the given kind in l (on its private network in private mode).
func startGuest(t *testing.T, l *lab.Lab, name, kind string) *lab.Guest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var networks []string
	if l.PrivateNetwork() {
		networks = []string{"private"}
	}
	g, err := l.StartGuestVM(ctx, name, kind, networks...)
	must(t, err)
	return g
}

// config reaches g as root with the lab key, or as the password user (sudo) when asked;
// through the jump host in a private lab.
func config(l *lab.Lab, g *lab.Guest, passwordUser bool) guest.Config {
	s := l.SSH()
	ep := guest.Endpoint{Host: g.Address(), User: s.User, PrivateKey: s.PrivateKeyPEM, HostKey: g.HostKey()}
	if passwordUser {
		ep.User, ep.PrivateKey, ep.Password = s.PasswordUser, "", s.Password
	}
	cfg := guest.Config{Target: ep, Timeout: 30 * time.Second, KeepAliveInterval: 2 * time.Second}
	if j := s.JumpHost; j != nil {
		cfg.Bastion = &guest.Endpoint{Host: j.Address, Port: j.Port, User: j.User, PrivateKey: s.PrivateKeyPEM, HostKey: j.HostKey}
	}
	return cfg
}

func dial(t *testing.T, cfg guest.Config) *guest.Conn {
	t.Helper()
	c, err := guest.Dial(context.Background(), cfg)
	must(t, err)
	return c
}

// exec is the test's back door into the guest (nsenter), to check what a user would see on
// its console, independently of the SSH path under test.
func exec(t *testing.T, g *lab.Guest, cmd string) string {
	t.Helper()
	out, err := g.Exec(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(string(out))
}

// spareAddress is an address of a lab subnet that the lab never hands out (it allocates
// from .10 up).
func spareAddress(subnet netip.Prefix, n int) netip.Prefix {
	a := subnet.Addr().As4()
	a[3] = byte(200 + n)
	return netip.PrefixFrom(netip.AddrFrom4(a), subnet.Bits())
}

func TestApplyOnTheApplianceNode(t *testing.T) {
	l := getLab(t, false)
	g := startGuest(t, l, "identity-node", lab.KindNode)
	ctx := context.Background()
	c := dial(t, config(l, g, false))
	old := g.Address()

	guest.ResetStats()
	before, err := Read(ctx, c, Appliance)
	must(t, err)
	if st := guest.Stats(); st.Commands() != 1 {
		t.Fatalf("Read ran %d commands, want 1", st.Commands())
	}
	if before.Address.Addr().String() != old || before.Hostname != "hipchat" || before.Timezone != "Europe/Berlin" || len(before.NTPServers) == 0 {
		t.Fatalf("Read = %+v; want the lab node's first-boot identity at %s", before, old)
	}

	gw := netip.MustParseAddr(l.HostAddress())
	want := Identity{
		Address: spareAddress(l.PublicSubnet(), 0), Gateway: gw, DNS: []string{gw.String()},
		Hostname: "hipchat-worker-1.example.com", NTPServers: []string{"time1.example.com", "time2.example.com"}, Timezone: "UTC",
	}
	start := time.Now()
	res, err := Apply(ctx, c, Appliance, want, Options{ReconnectTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	t.Logf("measured: Apply with an address change took %v", time.Since(start).Round(time.Millisecond))
	defer res.Conn.Close()
	if !slices.Equal(res.Changed, []string{"address", "hostname", "ntp_servers", "timezone"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	// The connection followed the address.
	if res.Conn.Host() != want.Address.Addr().String() {
		t.Errorf("the returned connection goes to %s, want %s", res.Conn.Host(), want.Address.Addr())
	}
	// What an operator would check on the console.
	if got := g.Address(); got != want.Address.Addr().String() {
		t.Errorf("eth0 has %s, want %s", got, want.Address.Addr())
	}
	if got := exec(t, g, "hostname; cat /etc/hostname"); got != "hipchat-worker-1.example.com\nhipchat-worker-1.example.com" {
		t.Errorf("hostname: %q", got)
	}
	if got := exec(t, g, "grep -c '^127.0.0.1[[:space:]]*hipchat-worker-1.example.com$' /etc/hosts"); got != "1" {
		t.Errorf("/etc/hosts lines for the hostname: %s", got)
	}
	if got := exec(t, g, "grep '^server' /etc/ntp.conf"); got != "server time1.example.com iburst\nserver time2.example.com iburst" {
		t.Errorf("/etc/ntp.conf servers: %q", got)
	}
	if got := exec(t, g, "cat /etc/timezone; readlink /etc/localtime"); got != "Etc/UTC\n/usr/share/zoneinfo/Etc/UTC" {
		t.Errorf("timezone: %q", got)
	}
	if got := exec(t, g, "cat "+PreviousFile); !strings.Contains(got, "address "+old) {
		t.Errorf("the previous interfaces file was not kept: %q", got)
	}
	if got := exec(t, g, "ip -4 route show default"); !strings.Contains(got, "via "+gw.String()) {
		t.Errorf("default route: %q", got)
	}

	// A second Apply finds nothing to do and changes nothing.
	guest.ResetStats()
	again, err := Apply(ctx, res.Conn, Appliance, want, Options{})
	must(t, err)
	if len(again.Changed) != 0 || again.Conn != res.Conn {
		t.Errorf("second Apply changed %v", again.Changed)
	}
	if st := guest.Stats(); st.ChangeCommands != 0 || st.ReadCommands != 1 || st.Connections != 0 {
		t.Errorf("second Apply: %+v, want one read command and nothing else", st)
	}
	// Leaving the gateway and DNS out (a configuration that does not manage them) keeps the
	// guest's: the address is the same, so nothing is rewritten and eth0 is not bounced.
	guest.ResetStats()
	partial := want
	partial.Gateway, partial.DNS = netip.Addr{}, nil
	again, err = Apply(ctx, res.Conn, Appliance, partial, Options{})
	must(t, err)
	if len(again.Changed) != 0 || guest.Stats().ChangeCommands != 0 {
		t.Errorf("Apply without gateway and DNS changed %v (%+v)", again.Changed, guest.Stats())
	}
	read, err := Read(ctx, res.Conn, Appliance)
	must(t, err)
	if read.Address != want.Address || read.Gateway != want.Gateway || !slices.Equal(read.DNS, want.DNS) ||
		read.Hostname != want.Hostname || !slices.Equal(read.NTPServers, want.NTPServers) || read.Timezone != "UTC" {
		t.Errorf("Read after Apply = %+v, want %+v", read, want)
	}
}

func TestApplyOnDebianAsASudoUser(t *testing.T) {
	l := getLab(t, false)
	g := startGuest(t, l, "identity-debian", lab.KindDebian)
	ctx := context.Background()
	c := dial(t, config(l, g, true))
	want := Identity{
		Address: spareAddress(l.PublicSubnet(), 1), Gateway: netip.MustParseAddr(l.HostAddress()),
		Hostname: "data-1.example.com", NTPServers: []string{"10.0.0.123", "time1.example.com"}, Timezone: "UTC",
	}
	res, err := Apply(ctx, c, Debian, want, Options{ReconnectTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer res.Conn.Close()
	if !slices.Equal(res.Changed, []string{"address", "hostname", "ntp_servers", "timezone"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	if got := g.Address(); got != want.Address.Addr().String() {
		t.Errorf("eth0 has %s", got)
	}
	if got := exec(t, g, "grep ^NTP= /etc/systemd/timesyncd.conf"); got != "NTP=10.0.0.123 time1.example.com" {
		t.Errorf("timesyncd.conf: %q", got)
	}
	if got := exec(t, g, "hostname; grep -c 'debian$' /etc/hosts || true"); got != "data-1.example.com\n0" {
		t.Errorf("hostname and stale /etc/hosts lines: %q", got)
	}
	if got := exec(t, g, "stat -c '%a %U' /etc/hosts /etc/network/interfaces"); got != "644 root\n644 root" {
		t.Errorf("modes and owners: %q", got)
	}

	guest.ResetStats()
	again, err := Apply(ctx, res.Conn, Debian, want, Options{})
	must(t, err)
	if st := guest.Stats(); len(again.Changed) != 0 || st.ChangeCommands != 0 {
		t.Errorf("second Apply changed %v (%+v)", again.Changed, st)
	}
}

func TestFailedAddressChangeRollsBack(t *testing.T) {
	l := getLab(t, false)
	g := startGuest(t, l, "identity-rollback", lab.KindDebian)
	ctx := context.Background()
	old := g.Address()
	interfacesBefore := exec(t, g, "cat "+InterfacesFile)

	check := func(t *testing.T, res Result, err error, cause string) {
		t.Helper()
		if err == nil {
			t.Fatal("Apply succeeded")
		}
		t.Logf("error: %v", err)
		for _, s := range []string{"rolled back", "answers at " + old + " again", cause} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
		// The message ends with where to read more, not with the guest's ifdown and ip noise
		// ("RTNETLINK answers: No such process", "Error: ipv4: Address not found.").
		for _, noise := range []string{"RTNETLINK", "Error: ipv4"} {
			if strings.Contains(err.Error(), noise) {
				t.Errorf("error %q contains the guest's command noise %q", err, noise)
			}
		}
		if !strings.HasSuffix(err.Error(), "is in /run/hipchatdc-net/log there)") {
			t.Errorf("error %q does not end by pointing to the log on the guest", err)
		}
		if res.Conn == nil {
			t.Fatal("no connection to the old address returned")
		}
		defer res.Conn.Close()
		if out, err := res.Conn.Run(ctx, "ip -4 -o addr show dev eth0", nil); err != nil || !strings.Contains(string(out), " "+old+"/") {
			t.Errorf("the guest does not answer with its old address: %q, %v", out, err)
		}
		if got := g.Address(); got != old {
			t.Errorf("eth0 has %s, want the old %s", got, old)
		}
		if got := exec(t, g, "cat "+InterfacesFile); got != interfacesBefore {
			t.Errorf("/etc/network/interfaces not restored:\n%s", got)
		}
	}

	t.Run("ifup fails", func(t *testing.T) {
		// The kernel refuses a gateway that is the interface's own address, so ifup fails
		// after it already took the old address away.
		bad := spareAddress(l.PublicSubnet(), 2)
		start := time.Now()
		res, err := Apply(ctx, dial(t, config(l, g, false)), Debian, Identity{Address: bad, Gateway: bad.Addr()},
			Options{ReconnectTimeout: 2 * time.Minute, RollbackAfter: 150 * time.Second})
		took := time.Since(start)
		t.Logf("measured: failed change and rollback took %v", took.Round(time.Millisecond))
		check(t, res, err, "ifup eth0 failed")
		// ifup's own reason is kept (the kernel's refusal of the gateway).
		if err != nil && !strings.Contains(err.Error(), "ifup eth0 failed (it said: ") {
			t.Errorf("error %q does not give ifup's reason", err)
		}
		// The guest's return to its old address is noticed: the two minutes allowed for the
		// new one are not waited out. (A bound far from both, so that a busy machine passes.)
		if took > time.Minute {
			t.Errorf("the failure was reported after %v", took)
		}
	})
	t.Run("ifup fails while the provider confirms", func(t *testing.T) {
		// ifup sets the new address before the kernel refuses the gateway; the change holds its
		// rollback (up to 60 s) until the provider, connected at that address, is confirming.
		// The rollback leaves that connection hanging: keep-alives would find it dead after up
		// to twice their interval (set long here: without the race against the watch, the cause
		// would say the connection was lost); the guest's return to its old address ends it.
		bad := spareAddress(l.PublicSubnet(), 8)
		hold := `i=0; while ! pgrep -f 'confirm address change' >/dev/null && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done; sleep 1`
		cfg := config(l, g, false)
		cfg.KeepAliveInterval = 5 * time.Minute
		res, err := Apply(ctx, dial(t, cfg), Debian, Identity{Address: bad, Gateway: bad.Addr()},
			Options{ReconnectTimeout: 2 * time.Minute, RollbackAfter: 150 * time.Second, beforeRollback: hold})
		check(t, res, err, "ifup eth0 failed")
		if want := "went back to " + old + " while its new address " + bad.Addr().String() + " was being confirmed"; err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	})
	t.Run("not confirmed in time", func(t *testing.T) {
		// ifup succeeds but the provider never gets to confirm: the watchdog restores.
		res, err := Apply(ctx, dial(t, config(l, g, false)), Debian, Identity{Address: spareAddress(l.PublicSubnet(), 3)},
			Options{ReconnectTimeout: time.Millisecond, RollbackAfter: 3 * time.Second})
		check(t, res, err, "did not confirm the new address in time")
	})
}

// After its address changed, the guest is recognised by the host key it had at the old
// address: a known_hosts file that does not list the new address (yet) does not matter.
func TestAddressChangeVerifiesTheMovedGuestByItsHostKey(t *testing.T) {
	l := getLab(t, false)
	g := startGuest(t, l, "identity-pin", lab.KindDebian)
	ctx := context.Background()
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(g.HostKey()))
	must(t, err)
	// The old address only, unlike the lab's own file, which its poll extends.
	known := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(known, []byte(knownhosts.Line([]string{g.Address()}, key)+"\n"), 0o600))
	cfg := config(l, g, false)
	cfg.Target.HostKey, cfg.Target.KnownHostsFile = "", known

	want := Identity{Address: spareAddress(l.PublicSubnet(), 4)}
	res, err := Apply(ctx, dial(t, cfg), Debian, want, Options{ReconnectTimeout: 20 * time.Second, RollbackAfter: 25 * time.Second})
	if err != nil {
		t.Fatalf("Apply with a known_hosts file that lacks the new address: %v", err)
	}
	defer res.Conn.Close()
	if got := g.Address(); got != want.Address.Addr().String() || res.Conn.Host() != got {
		t.Errorf("eth0 has %s, the connection goes to %s; want %s", got, res.Conn.Host(), want.Address.Addr())
	}

	// With insecure_ignore_host_key, the key the guest showed is pinned for the move too.
	cfg = config(l, g, false)
	cfg.Target.HostKey, cfg.Target.InsecureIgnoreHostKey = "", true
	want = Identity{Address: spareAddress(l.PublicSubnet(), 5)}
	res, err = Apply(ctx, dial(t, cfg), Debian, want, Options{ReconnectTimeout: 20 * time.Second, RollbackAfter: 25 * time.Second})
	if err != nil {
		t.Fatalf("Apply with insecure_ignore_host_key: %v", err)
	}
	defer res.Conn.Close()
	if got := res.Conn.Config().Target; got.HostKey != g.HostKey() || got.InsecureIgnoreHostKey {
		t.Errorf("the connection to the new address verifies host_key %q (insecure: %v), want the guest's %q", got.HostKey, got.InsecureIgnoreHostKey, g.HostKey())
	}
}

func TestAddressChangeThroughTheBastion(t *testing.T) {
	l := getLab(t, true)
	g := startGuest(t, l, "identity-private", lab.KindNode)
	ctx := context.Background()
	want := Identity{Address: spareAddress(l.PrivateSubnet(), 0)}
	res, err := Apply(ctx, dial(t, config(l, g, false)), Appliance, want, Options{ReconnectTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer res.Conn.Close()
	// The new connection goes to the new address, again through the jump host (the host
	// cannot reach the private network).
	if cfg := res.Conn.Config(); cfg.Target.Host != want.Address.Addr().String() || cfg.Bastion == nil {
		t.Errorf("new connection: target %s, bastion %v", cfg.Target.Host, cfg.Bastion)
	}
	if out, err := res.Conn.Run(ctx, "ip -4 -o addr show dev eth0", nil); err != nil || !strings.Contains(string(out), " "+want.Address.String()+" ") {
		t.Errorf("eth0 through the new connection: %q, %v", out, err)
	}
	if got := g.Address(); got != want.Address.Addr().String() {
		t.Errorf("eth0 has %s", got)
	}
}

// The command that schedules an address change can lose its connection: the change's ifdown
// may cut its session before sshd sent the exit status (seen in CI on a busy machine). The
// change is then followed like any other, and when it never started the error says so.
func TestAddressChangeWhoseSchedulingLostItsConnection(t *testing.T) {
	l := getLab(t, false)
	g := startGuest(t, l, "identity-lost", lab.KindDebian)
	ctx := context.Background()
	old := g.Address()

	t.Run("while the change goes ahead", func(t *testing.T) {
		// The scheduling command keeps running past the change's ifdown, so its session dies
		// with the old address every time.
		want := Identity{Address: spareAddress(l.PublicSubnet(), 6)}
		res, err := Apply(ctx, dial(t, config(l, g, false)), Debian, want,
			Options{ReconnectTimeout: 30 * time.Second, RollbackAfter: 45 * time.Second, scheduleTail: "sleep 60\n"})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		defer res.Conn.Close()
		if got := g.Address(); got != want.Address.Addr().String() || res.Conn.Host() != got {
			t.Errorf("eth0 has %s, the connection goes to %s; want %s", got, res.Conn.Host(), want.Address.Addr())
		}
		if got := exec(t, g, "cat /run/hipchatdc-net/result"); got != "confirmed" {
			t.Errorf("the guest recorded %q, want confirmed (its watchdog would roll back otherwise)", got)
		}
	})
	t.Run("before the change started", func(t *testing.T) {
		// Put the guest back at its first address (which leaves that change's files, result
		// "confirmed", on the guest), then cut the scheduling command's session before it
		// does anything: the earlier change's files must not be taken for this one's.
		res, err := Apply(ctx, dial(t, config(l, g, false)), Debian, Identity{Address: netip.MustParsePrefix(old + "/" + strconv.Itoa(l.PublicSubnet().Bits()))},
			Options{ReconnectTimeout: 30 * time.Second, RollbackAfter: 45 * time.Second})
		if err != nil {
			t.Fatalf("moving the guest back to %s: %v", old, err)
		}
		res.Conn.Close()
		before := exec(t, g, "cat "+InterfacesFile)
		res, err = Apply(ctx, dial(t, config(l, g, false)), Debian, Identity{Address: spareAddress(l.PublicSubnet(), 7)},
			Options{ReconnectTimeout: 10 * time.Second, RollbackAfter: 20 * time.Second, scheduleHead: "kill -9 $PPID; exit 0\n"})
		if err == nil {
			t.Fatal("Apply succeeded")
		}
		t.Logf("error: %v", err)
		for _, s := range []string{"not started, nothing was changed", "lost its connection"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
		if res.Conn == nil {
			t.Fatal("no connection to the old address returned")
		}
		res.Conn.Close()
		if got := g.Address(); got != old {
			t.Errorf("eth0 has %s, want the old %s", got, old)
		}
		if got := exec(t, g, "cat "+InterfacesFile); got != before {
			t.Errorf("/etc/network/interfaces changed:\n%s", got)
		}
	})
}
