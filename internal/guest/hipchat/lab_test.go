package hipchat_test

// The recipe against a real node stand-in and real data stores: Redis, PostgreSQL and
// nfs-ganesha in a "debian" lab guest (set up with their own recipes, as
// internal/guest/packages' lab test does), and a "node" guest whose "hipchat datacenter"
// self-check connects to them with psql, redis-cli and libnfs.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/hipchat"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nfs"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/postgres"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/redis"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// processWatch records the command lines of every process on a guest, many times a second,
// until stopped: a password passed as an argument would show up in it.
func processWatch(ctx context.Context, g *lab.Guest) (stop func() string) {
	var (
		mu   sync.Mutex
		seen strings.Builder
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			out, _ := g.Exec(ctx, "ps -eo args")
			mu.Lock()
			seen.Write(out)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() string {
		close(done)
		wg.Wait()
		return seen.String()
	}
}

// watched checks that a process watch saw the appliance command run, so that finding no
// password in what it saw means something.
func watched(t *testing.T, seen string) {
	t.Helper()
	if !strings.Contains(seen, "hipchat-datacenter") {
		t.Errorf("the process watch never saw hipchat-datacenter running:\n%.2000s", seen)
	}
}

func TestNodeWiredToItsDataStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{})
	must(t, err)
	defer l.Stop()
	data, err := l.StartGuestVM(ctx, "datastores", lab.KindDebian)
	must(t, err)
	node, err := l.StartGuestVM(ctx, "hipchat-node", lab.KindNode)
	must(t, err)

	// The data stores, as hipchatdc_datastore_node sets them up.
	addr := netip.MustParseAddr(data.Address())
	rc := redis.Config{Address: addr, Password: `r3dis "pass" \ word`}
	pc := postgres.Config{Address: addr, AllowedCIDR: l.PublicSubnet(), Database: "hipchat_postgres", User: "hipchat_user", Password: "pg pa$$word 'quoted'"}
	nc := nfs.Config{AllowedCIDR: l.PublicSubnet(), Server: nfs.Ganesha}
	dc := guesttest.Dial(t, ctx, l, data)
	start := time.Now()
	_, err = redis.Apply(ctx, dc, rc)
	must(t, err)
	_, err = postgres.Apply(ctx, dc, pc)
	must(t, err)
	_, err = nfs.Apply(ctx, dc, nc)
	must(t, err)
	t.Logf("data stores up in %v", time.Since(start))

	right := hipchat.DataStores{
		PostgresHost: addr.String(), Database: pc.Database, User: pc.User, Password: pc.Password,
		RedisHost: addr.String(), RedisPassword: rc.Password,
		NFSExport: addr.String() + ":" + nfs.DefaultPath, PublicURL: "https://chat.example.com",
	}
	passwords := []string{pc.Password, rc.Password}
	noPasswords := func(t *testing.T, what, s string) {
		t.Helper()
		for _, p := range passwords {
			if strings.Contains(s, p) {
				t.Errorf("%s contains the password %q:\n%s", what, p, s)
			}
		}
	}
	var cmds hipchat.Commands // the defaults
	c := guesttest.Dial(t, ctx, l, node)
	// noProbe checks, on the data-stores VM, that the node's self-check left no probe file
	// in the export.
	noProbe := func(t *testing.T) {
		t.Helper()
		if got := guesttest.Exec(t, ctx, data, "ls -A "+nfs.DefaultPath); strings.Contains(got, ".hipchat-selfcheck-") {
			t.Errorf("the self-check left its probe on the NFS server: %q", got)
		}
	}

	t.Run("first apply configures the node and the self-check passes", func(t *testing.T) {
		watch := processWatch(ctx, node)
		start := time.Now()
		res, err := hipchat.Apply(ctx, c, right, cmds)
		took := time.Since(start)
		seen := watch()
		watched(t, seen)
		noPasswords(t, "the node's process list during apply", seen)
		must(t, err)
		t.Logf("first apply: %v\nconfigure: %s\nself-check: %s", took, res.Configure, res.SelfCheck)
		if !res.Changed {
			t.Error("Changed is false on a fresh node")
		}
		for _, want := range []string{"postgres: OK", "redis: OK", "nfs: OK"} {
			if !strings.Contains(res.SelfCheck, want) {
				t.Errorf("self-check output lacks %q:\n%s", want, res.SelfCheck)
			}
		}
		if got := guesttest.Exec(t, ctx, node, "stat -c '%a %U:%G' "+hipchat.SiteFile+" "+hipchat.DefaultConfigFile); got != "600 root:root\n600 root:root" {
			t.Errorf("modes and owners of site.json and the config file: %q", got)
		}
		site := guesttest.Exec(t, ctx, node, "jq -r '.\"database-server\", .\"redis-server\", .\"shared-storage-location\", .\"database-password\"' "+hipchat.SiteFile)
		if want := addr.String() + ":5432\n" + addr.String() + ":6379\n" + right.NFSExport + "\n" + pc.Password; site != want {
			t.Errorf("site.json says %q, want %q", site, want)
		}
		// The node was restarted with its new settings: its page says so.
		if page := guesttest.Exec(t, ctx, node, "curl -sS http://127.0.0.1/"); !strings.Contains(page, "configured for https://chat.example.com") {
			t.Errorf("the node's page: %s", page)
		}
		// The NFS check wrote to the export and read back what it wrote, and left nothing there.
		if !strings.Contains(res.SelfCheck, "nfs: OK (wrote, read back and removed "+right.NFSExport+"/.hipchat-selfcheck-") {
			t.Errorf("the nfs check does not say it wrote, read back and removed its probe:\n%s", res.SelfCheck)
		}
		noProbe(t)
	})

	t.Run("self-checks of a node recreated with the same host name and PID pass and leave nothing", func(t *testing.T) {
		// A recreated node has the same host name, and the self-check may well run as the same
		// PID: in a fresh PID namespace it is PID 1 each time.
		for i := 1; i <= 2; i++ {
			out := guesttest.Exec(t, ctx, node, "unshare --pid --fork hipchat datacenter selfcheck")
			if strings.Count(out, ": OK") != 3 {
				t.Errorf("self-check %d:\n%s", i, out)
			}
			noProbe(t)
		}
	})

	t.Run("read returns what was applied in one command", func(t *testing.T) {
		guest.ResetStats()
		st, err := hipchat.Read(ctx, c, cmds)
		must(t, err)
		if s := guest.Stats(); s.Commands() != 1 || s.ChangeCommands != 0 {
			t.Errorf("read ran %+v", s)
		}
		want := right
		want.PostgresPort, want.RedisPort = 5432, 6379
		if st.DataStores != want || st.Site != want || st.Unverified || st.ConfigMode != "600" || st.ConfigOwner != "root:root" {
			t.Errorf("read:\n%+v\nwant DataStores and Site %+v", st, want)
		}
		if d := st.Drift(right, cmds); len(d) > 0 {
			t.Errorf("drift right after apply: %q", d)
		}
	})

	t.Run("second apply runs no changing command", func(t *testing.T) {
		guest.ResetStats()
		res, err := hipchat.Apply(ctx, c, right, cmds)
		must(t, err)
		if s := guest.Stats(); s.ChangeCommands != 0 || s.Commands() != 1 || res.Changed {
			t.Errorf("second apply: changed=%v, %+v", res.Changed, s)
		}
	})

	// fails applies wrong and checks that the self-check's failure, in its own words, is the
	// error, and that no password is in it or in the node's process list.
	fails := func(t *testing.T, wrong hipchat.DataStores, wantLine string, wantWords ...string) {
		t.Helper()
		watch := processWatch(ctx, node)
		start := time.Now()
		_, err := hipchat.Apply(ctx, c, wrong, cmds)
		took := time.Since(start)
		seen := watch()
		watched(t, seen)
		noPasswords(t, "the node's process list during apply", seen)
		if err == nil {
			t.Fatal("apply with wrong data stores succeeded")
		}
		t.Logf("failed in %v: %v", took, err)
		if !hipchat.IsSelfCheckFailure(err) {
			t.Errorf("not a self-check failure: %v", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, wantLine) {
			t.Errorf("error lacks %q", wantLine)
		}
		for _, w := range wantWords {
			if !strings.Contains(msg, w) {
				t.Errorf("error lacks the client's words %q", w)
			}
		}
		noPasswords(t, "the error", msg)
		if wrong.Password != pc.Password && strings.Contains(msg, wrong.Password) {
			t.Errorf("the error contains the wrong password")
		}
		if wrong.RedisPassword != rc.Password && strings.Contains(msg, wrong.RedisPassword) {
			t.Errorf("the error contains the wrong Redis password")
		}
		noProbe(t)
	}
	passes := func(t *testing.T) {
		t.Helper()
		res, err := hipchat.Apply(ctx, c, right, cmds)
		if err != nil {
			t.Fatalf("apply with the right values after a failure: %v", err)
		}
		if !res.Changed || strings.Count(res.SelfCheck, ": OK") != 3 {
			t.Errorf("apply with the right values: changed=%v self-check:\n%s", res.Changed, res.SelfCheck)
		}
		st, err := hipchat.Read(ctx, c, cmds)
		must(t, err)
		if st.Unverified || len(st.Drift(right, cmds)) > 0 {
			t.Errorf("after the corrected apply: unverified=%v drift %q", st.Unverified, st.Drift(right, cmds))
		}
		noProbe(t)
	}

	t.Run("a wrong postgres password fails with postgres' own message, and a corrected apply converges", func(t *testing.T) {
		wrong := right
		wrong.Password = "not-the-pg-password-42"
		passwords = append(passwords, wrong.Password)
		defer func() { passwords = passwords[:2] }()
		fails(t, wrong, "postgres: FAILED", "password authentication failed for user \"hipchat_user\"", "redis: OK", "nfs: OK")

		// The new file stays in place, marked unverified: the same values again are not
		// taken as done, they are configured and checked again.
		st, err := hipchat.Read(ctx, c, cmds)
		must(t, err)
		if !st.Unverified || st.DataStores.Password != wrong.Password {
			t.Errorf("after the failure: unverified=%v, deployed password is the wrong one: %v", st.Unverified, st.DataStores.Password == wrong.Password)
		}
		fails(t, wrong, "postgres: FAILED", "password authentication failed")
		passes(t)
	})

	t.Run("a wrong redis password fails with redis' own message", func(t *testing.T) {
		wrong := right
		wrong.RedisPassword = "not-the-redis-password-42"
		passwords = append(passwords, wrong.RedisPassword)
		defer func() { passwords = passwords[:2] }()
		fails(t, wrong, "redis: FAILED", "WRONGPASS", "postgres: OK")
		passes(t)
	})

	t.Run("an unreachable NFS export fails the nfs check", func(t *testing.T) {
		wrong := right
		wrong.NFSExport = node.Address() + ":/srv/hipchat-nfs" // the node itself serves no NFS
		fails(t, wrong, "nfs: FAILED", "postgres: OK", "redis: OK")
		passes(t)
	})

	t.Run("a failing configure command and a missing config folder are reported, then a normal apply converges", func(t *testing.T) {
		bad := hipchat.Commands{Configure: "hipchat datacenter configure"} // no --file: usage error
		other := right
		other.PublicURL = "https://chat2.example.com"
		_, err := hipchat.Apply(ctx, c, other, bad)
		var step *hipchat.StepError
		if !errors.As(err, &step) || step.Step != "configure" || !strings.Contains(err.Error(), "usage: hipchat datacenter") {
			t.Errorf("configure failure: %v", err)
		}
		noPasswords(t, "the error", fmt.Sprint(err))

		_, err = hipchat.Apply(ctx, c, other, hipchat.Commands{ConfigFile: "/hipchat/missing/datacenter.json"})
		if err == nil || !strings.Contains(err.Error(), "does not exist") || hipchat.IsSelfCheckFailure(err) {
			t.Errorf("missing folder: %v", err)
		}
		passes(t)
	})

	t.Run("as a sudo user: read sees the same, re-apply changes nothing", func(t *testing.T) {
		s := l.SSH()
		admin, err := guest.Dial(ctx, guest.Config{
			Target:  guest.Endpoint{Host: node.Address(), User: s.PasswordUser, PrivateKey: s.PrivateKeyPEM, HostKey: node.HostKey()},
			Timeout: 30 * time.Second,
		})
		must(t, err)
		defer admin.Close()
		guest.ResetStats()
		res, err := hipchat.Apply(ctx, admin, right, cmds)
		must(t, err)
		if st := guest.Stats(); res.Changed || st.ChangeCommands != 0 {
			t.Errorf("re-apply as %s: changed=%v %+v", s.PasswordUser, res.Changed, st)
		}
		if res.Before.DataStores.Password != right.Password || res.Before.Site.RedisPassword != right.RedisPassword {
			t.Error("read through sudo did not see the deployed settings")
		}
	})

	t.Run("unreachable data stores: every client waits long enough to be seen, with no password on its command line", func(t *testing.T) {
		// No guest has this address: the clients wait for ARP to give up, seconds instead of
		// the milliseconds a process watch could miss, so the watch surely sees their
		// command lines.
		a := l.PublicSubnet().Addr().As4()
		a[3] = 250
		nowhere := netip.AddrFrom4(a).String()
		wrong := right
		wrong.PostgresHost, wrong.RedisHost, wrong.NFSExport = nowhere, nowhere, nowhere+":/srv/hipchat-nfs"
		watch := processWatch(ctx, node)
		_, err := hipchat.Apply(ctx, c, wrong, cmds)
		seen := watch()
		for _, client := range []string{"psql", "redis-cli", "nfs-cp"} {
			if !strings.Contains(seen, client) {
				t.Errorf("the process watch never saw %s", client)
			}
		}
		noPasswords(t, "the node's process list during apply", seen)
		if err == nil {
			t.Fatal("apply against unreachable data stores succeeded")
		}
		t.Logf("unreachable: %v", err)
		for _, want := range []string{"postgres: FAILED", "redis: FAILED", "nfs: FAILED"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q", want)
			}
		}
		noPasswords(t, "the error", err.Error())
		passes(t)
	})
}
