package firewall

// Apply and Read against the project's lab: a Debian guest filtered by its own nftables, probed
// from another lab guest and from the host (where the provider connects from), as an attacker
// or a misplaced node would: a TCP connect, refused or answered.

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// probe connects from inside g to addr:port and says "open" or the error (ConnectionRefused…).
func probe(t *testing.T, ctx context.Context, g *lab.Guest, addr string, port string) string {
	t.Helper()
	return guesttest.Exec(t, ctx, g, `python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 10).close(); print("open")
except OSError as e:
    print(type(e).__name__)
' `+addr+` `+port)
}

func TestOnLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	defer l.Stop()
	guests := map[string]*lab.Guest{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var bootErr error
	for _, name := range []string{"fw-ds", "fw-node", "fw-other"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := l.StartGuestVM(ctx, name, lab.KindDebian)
			mu.Lock()
			defer mu.Unlock()
			guests[name] = g
			bootErr = errors.Join(bootErr, err)
		}()
	}
	wg.Wait()
	if bootErr != nil {
		t.Fatal(bootErr)
	}
	ds, node, other := guests["fw-ds"], guests["fw-node"], guests["fw-other"]
	// Something listens on every port probed, so "refused" is the firewall's doing.
	listen := func() {
		for _, port := range []string{"6379", "8080"} {
			guesttest.Exec(t, ctx, ds, `setsid python3 -m http.server `+port+` >/dev/null 2>&1 </dev/null & i=0; until python3 -c 'import socket; socket.create_connection(("127.0.0.1", `+port+`), 1)' 2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done`)
		}
	}
	listen()
	// A user's own table: the provider must neither read nor change it.
	guesttest.Exec(t, ctx, ds, `nft add table inet mine && nft add chain inet mine input '{ type filter hook input priority 10; policy accept; }'`)

	conn := guesttest.Dial(t, ctx, l, ds)
	cfg := Config{Enabled: true, Resource: "test", Rules: []Rule{
		{Service: "SSH", Provider: true},
		{Service: "Redis", Port: 6379, From: []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(node.Address()), 32)}},
	}}
	res, err := Apply(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Changed, ",") != "rules,hook,loaded" {
		t.Errorf("first apply changed %v", res.Changed)
	}

	wantPorts := func(when string) {
		t.Helper()
		for _, c := range []struct {
			from *lab.Guest
			port string
			want string
		}{
			{node, "6379", "open"},                    // the node reaches Redis
			{other, "6379", "ConnectionRefusedError"}, // another guest does not
			{node, "8080", "ConnectionRefusedError"},  // a port no rule opens
			{other, "22", "ConnectionRefusedError"},   // SSH only from the provider
			{node, "22", "ConnectionRefusedError"},    // ... whoever else reaches Redis
		} {
			if got := probe(t, ctx, c.from, ds.Address(), c.port); got != c.want {
				t.Errorf("%s: from %s to port %s: %s, want %s", when, c.from.Address(), c.port, got, c.want)
			}
		}
		// The provider (the host, where the session came from) still gets in over SSH.
		c2 := guesttest.Dial(t, ctx, l, ds)
		if _, err := c2.Run(ctx, "true", nil); err != nil {
			t.Errorf("%s: a new SSH session from the provider's address: %v", when, err)
		}
	}
	wantPorts("after apply")

	st, err := Read(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Drift(cfg); len(d) != 0 {
		t.Errorf("drift right after apply: %q", d)
	}
	if want := "ip saddr " + l.HostAddress() + " accept"; !strings.Contains(st.Loaded, want) {
		t.Errorf("the loaded SSH rule does not name the provider's address (%q):\n%s", want, st.Loaded)
	}
	guest.ResetStats()
	if res, err := Apply(ctx, conn, cfg); err != nil || len(res.Changed) != 0 || guest.Stats().ChangeCommands != 0 {
		t.Errorf("second apply: changed %v, %d changing commands, %v", res.Changed, guest.Stats().ChangeCommands, err)
	}

	// By hand: the Redis rule deleted. Refresh names it; apply restores it.
	guesttest.Exec(t, ctx, ds, `nft -a list chain inet hipchatdc input | sed -n 's/.*comment "Redis" # handle \([0-9]*\)/\1/p' | xargs -I{} nft delete rule inet hipchatdc input handle {}`)
	if got := probe(t, ctx, node, ds.Address(), "6379"); got != "ConnectionRefusedError" {
		t.Fatalf("the hand-deleted rule still lets the node in: %s", got)
	}
	st, _ = Read(ctx, conn)
	if d := strings.Join(st.Drift(cfg), "; "); !strings.Contains(d, "the loaded table lacks `tcp dport 6379 ip saddr "+node.Address()+` accept comment "Redis"`+"`") {
		t.Errorf("drift after deleting the Redis rule: %s", d)
	}
	if res, err := Apply(ctx, conn, cfg); err != nil || strings.Join(res.Changed, ",") != "loaded" {
		t.Errorf("apply after the rule was deleted: changed %v, %v", res.Changed, err)
	}
	wantPorts("after restoring the deleted rule")

	// The table flushed by hand: every port is open, and the provider still gets in.
	guesttest.Exec(t, ctx, ds, `nft flush table inet hipchatdc`)
	if got := probe(t, ctx, other, ds.Address(), "6379"); got != "open" {
		t.Errorf("after a flush, another guest reaches port 6379: %s", got)
	}
	st, _ = Read(ctx, conn)
	if d := strings.Join(st.Drift(cfg), "; "); !strings.Contains(d, "the loaded table lacks `ct state established,related accept`") {
		t.Errorf("drift after flushing the table: %s", d)
	}
	if _, err := Apply(ctx, conn, cfg); err != nil {
		t.Fatal(err)
	}

	// A power cycle: the guest boots with no ruleset at all; the hook loads it with ifup.
	c, err := l.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := find.NewFinder(c.Client).VirtualMachine(ctx, "fw-ds")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func(context.Context) error{
		func(ctx context.Context) error {
			task, err := vm.PowerOff(ctx)
			return errors.Join(err, wait(ctx, task))
		},
		func(ctx context.Context) error {
			task, err := vm.PowerOn(ctx)
			return errors.Join(err, wait(ctx, task))
		},
	} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ds, err = l.WaitGuest(ctx, "fw-ds"); err != nil {
		t.Fatal(err)
	}
	listen()
	conn = guesttest.Dial(t, ctx, l, ds)
	st, _ = Read(ctx, conn)
	if d := st.Drift(cfg); len(d) != 0 || !st.TableLoaded {
		t.Errorf("after a power cycle: loaded %t, drift %q", st.TableLoaded, d)
	}
	wantPorts("after a power cycle")

	// Turned off: the provider's table, file and hook go; a user's own table (made again: it
	// was not persisted across the power cycle) stays.
	guesttest.Exec(t, ctx, ds, `nft add table inet mine`)
	res, err = Apply(ctx, conn, Config{})
	if err != nil || strings.Join(res.Changed, ",") != "removed" {
		t.Fatalf("apply turned off: changed %v, %v", res.Changed, err)
	}
	if got := guesttest.Exec(t, ctx, ds, `nft list tables; ls `+RulesFile+` `+HookFile+` 2>&1 | wc -l`); got != "table inet mine\n2" {
		t.Errorf("after turning the firewall off, the guest has:\n%s", got)
	}
	if got := probe(t, ctx, other, ds.Address(), "6379"); got != "open" {
		t.Errorf("turned off, another guest reaches port 6379: %s", got)
	}
	st, _ = Read(ctx, conn)
	guest.ResetStats()
	if d := st.Drift(Config{}); len(d) != 0 {
		t.Errorf("turned off, drift %q", d)
	}
	if res, err := Apply(ctx, conn, Config{}); err != nil || len(res.Changed) != 0 || guest.Stats().ChangeCommands != 0 {
		t.Errorf("second apply turned off: %v, %d changing commands, %v", res.Changed, guest.Stats().ChangeCommands, err)
	}
}

func wait(ctx context.Context, task *object.Task) error {
	if task == nil {
		return nil
	}
	return task.Wait(ctx)
}
