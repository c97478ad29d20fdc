package packages_test

// The three data-store recipes against real servers in lab guests: Redis, PostgreSQL and
// nfs-ganesha in a "debian" guest, checked from another guest as a Hipchat node would use
// them, and the package check on a "debian-bare" guest. The test lives here because the
// package check is what comes first for all three services.

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nfs"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/packages"
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

// configs are the three recipes' settings for a data-stores guest at addr in subnet.
func configs(addr netip.Addr, subnet netip.Prefix) (redis.Config, postgres.Config, nfs.Config) {
	return redis.Config{Address: addr, Password: `r3dis "pass" \ word`},
		postgres.Config{Address: addr, AllowedCIDR: subnet, Database: "hipchat_postgres", User: "hipchat_user", Password: "pg pa$$word 'quoted'"},
		nfs.Config{AllowedCIDR: subnet, Server: nfs.Ganesha}
}

func applyAll(t *testing.T, ctx context.Context, c *guest.Conn, rc redis.Config, pc postgres.Config, nc nfs.Config) (redis.Result, postgres.Result, nfs.Result) {
	t.Helper()
	rr, err := redis.Apply(ctx, c, rc)
	must(t, err)
	pr, err := postgres.Apply(ctx, c, pc)
	must(t, err)
	nr, err := nfs.Apply(ctx, c, nc)
	must(t, err)
	return rr, pr, nr
}

// readAll reads all three recipes with one command, as the resource's refresh does.
func readAll(t *testing.T, ctx context.Context, c *guest.Conn, pc postgres.Config, nc nfs.Config) (redis.State, postgres.State, nfs.State) {
	t.Helper()
	out, err := c.Run(ctx, redis.ReadScript()+postgres.ReadScript(pc)+nfs.ReadScript(nc), nil)
	must(t, err)
	rs, err := redis.Parse(string(out))
	must(t, err)
	ps, err := postgres.Parse(string(out))
	must(t, err)
	ns, err := nfs.Parse(string(out), nc)
	must(t, err)
	return rs, ps, ns
}

func postmasterPID(t *testing.T, ctx context.Context, g *lab.Guest) string {
	return guesttest.Exec(t, ctx, g, "head -n 1 /var/lib/postgresql/15/main/postmaster.pid")
}

func TestDataStoresOnLabGuests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{})
	must(t, err)
	defer l.Stop()
	data, err := l.StartGuestVM(ctx, "datastores", lab.KindDebian)
	must(t, err)
	node, err := l.StartGuestVM(ctx, "hipchat-node", lab.KindNode)
	must(t, err)
	bare, err := l.StartGuestVM(ctx, "bare", lab.KindDebianBare)
	must(t, err)

	addr := netip.MustParseAddr(data.Address())
	rc, pc, nc := configs(addr, l.PublicSubnet())
	all := slices.Concat(redis.Packages, postgres.Packages, nc.Packages())

	t.Run("missing packages on a bare guest are named and nothing is written", func(t *testing.T) {
		c := guesttest.Dial(t, ctx, l, bare)
		upper := func() string {
			out, err := exec.Command("find", bare.Dir()+"/etc/upper", bare.Dir()+"/var/upper").CombinedOutput()
			must(t, err)
			return string(out)
		}
		before := upper()
		guest.ResetStats()
		_, err := packages.Ensure(ctx, c, c.Host(), false, all...)
		var missing *packages.MissingError
		if !errors.As(err, &missing) {
			t.Fatalf("want a MissingError, got %v", err)
		}
		for _, p := range []string{"redis-server", "postgresql"} {
			if !slices.Contains(missing.Missing, p) || !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name %s: %v", p, err)
			}
		}
		if slices.Contains(missing.Missing, "nfs-ganesha") || !strings.Contains(err.Error(), "install_packages = true") {
			t.Errorf("error: %v", err)
		}
		if s := guest.Stats(); s.ChangeCommands != 0 || s.ReadCommands != 1 {
			t.Errorf("the check ran %+v, want one read and no change", s)
		}
		if after := upper(); after != before {
			t.Errorf("the guest's /etc or /var changed:\n%s\n---\n%s", before, after)
		}

		// install = true: the lab has no Debian mirror, so apt fails; its message must reach the user.
		_, err = packages.Ensure(ctx, c, c.Host(), true, "redis-server")
		if err == nil || !strings.Contains(err.Error(), "redis-server") || !strings.Contains(err.Error(), "E:") {
			t.Errorf("apt's failure is not reported clearly: %v", err)
		}
		t.Logf("install failure as reported: %v", err)
	})

	c := guesttest.Dial(t, ctx, l, data)
	installed, err := packages.Ensure(ctx, c, c.Host(), false, all...)
	if err != nil || len(installed) != 0 {
		t.Fatalf("packages on the debian guest: %v %v", installed, err)
	}

	start := time.Now()
	rr, pr, nr := applyAll(t, ctx, c, rc, pc, nc)
	t.Logf("first apply: %v; redis %v restarted=%v; postgres %v; nfs %v", time.Since(start), rr.Changed, rr.Restarted, pr.Changed, nr.Changed)

	t.Run("redis from the node", func(t *testing.T) {
		cli := "redis-cli -h " + addr.String() + " -p 6379 "
		auth := "REDISCLI_AUTH=" + guest.Quote(rc.Password) + " "
		if got := guesttest.Exec(t, ctx, node, auth+cli+"PING"); got != "PONG" {
			t.Errorf("PING: %q", got)
		}
		guesttest.Exec(t, ctx, node, auth+cli+"SET hipchat ok")
		if got := guesttest.Exec(t, ctx, node, auth+cli+"GET hipchat"); got != "ok" {
			t.Errorf("GET: %q", got)
		}
		if got := guesttest.Exec(t, ctx, node, cli+"GET hipchat 2>&1"); !strings.Contains(got, "NOAUTH") {
			t.Errorf("without the password: %q", got)
		}
		for _, s := range [][2]string{{"appendonly", "no"}, {"maxclients", "10000"}, {"auto-aof-rewrite-min-size", "67108864"}, {"repl-timeout", "60"}} {
			if got := guesttest.Exec(t, ctx, node, auth+cli+"CONFIG GET "+s[0]); got != s[0]+"\n"+s[1] {
				t.Errorf("CONFIG GET %s: %q", s[0], got)
			}
		}
		if u := guesttest.Exec(t, ctx, data, "ps -o user= -p $(cat /run/redis/redis-server.pid)"); u != "redis" {
			t.Errorf("redis-server runs as %q", u)
		}
		if ps := guesttest.Exec(t, ctx, data, "ps -eo args"); strings.Contains(ps, "r3dis") {
			t.Errorf("the password is on a command line:\n%s", ps)
		}
	})

	t.Run("postgres from the node", func(t *testing.T) {
		psql := func(sql string) string {
			return guesttest.Exec(t, ctx, node, "PGPASSWORD="+guest.Quote(pc.Password)+" psql -X -At -h "+addr.String()+" -U hipchat_user -d hipchat_postgres -c "+guest.Quote(sql))
		}
		if got := psql("SHOW server_encoding"); got != "UTF8" {
			t.Errorf("server_encoding %q", got)
		}
		if got := psql("SHOW max_connections"); got != "1000" {
			t.Errorf("max_connections %q", got)
		}
		if got := psql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"); got != "f" {
			t.Errorf("rolsuper %q", got)
		}
		psql("CREATE TABLE hipchat_probe (id int); INSERT INTO hipchat_probe VALUES (1)")
		if got := psql("SELECT count(*) FROM hipchat_probe"); got != "1" {
			t.Errorf("count %q", got)
		}
		if out, err := node.Exec(ctx, "PGPASSWORD=wrong psql -X -At -h "+addr.String()+" -U hipchat_user -d hipchat_postgres -c 'SELECT 1' 2>&1"); err == nil {
			t.Errorf("a wrong password got in: %s", out)
		}
	})

	t.Run("nfs v4 through ganesha, anonymously from the node", func(t *testing.T) {
		url := "nfs://" + addr.String() + nfs.DefaultPath + "/from-node?version=4"
		guesttest.Exec(t, ctx, node, "echo written-by-node > /tmp/nfs-probe && nfs-cp /tmp/nfs-probe "+guest.Quote(url))
		if got := guesttest.Exec(t, ctx, data, "cat "+nfs.DefaultPath+"/from-node"); got != "written-by-node" {
			t.Errorf("on the server: %q", got)
		}
		if got := guesttest.Exec(t, ctx, node, "nfs-cp "+guest.Quote(url)+" /tmp/nfs-back >/dev/null && cat /tmp/nfs-back"); got != "written-by-node" {
			t.Errorf("read back: %q", got)
		}
		// root's file kept uid 0: no root squashing.
		if got := guesttest.Exec(t, ctx, data, "stat -c %u "+nfs.DefaultPath+"/from-node"); got != "0" {
			t.Errorf("owner uid %q, want 0 (root not squashed)", got)
		}
	})

	t.Run("second apply changes nothing and restarts nothing; refresh is one command", func(t *testing.T) {
		redisPID := guesttest.Exec(t, ctx, data, "cat /run/redis/redis-server.pid")
		pgPID := postmasterPID(t, ctx, data)
		ganeshaPID := guesttest.Exec(t, ctx, data, "cat "+nfs.GaneshaPIDFile)
		guest.ResetStats()
		rr, pr, nr := applyAll(t, ctx, c, rc, pc, nc)
		if s := guest.Stats(); s.ChangeCommands != 0 {
			t.Errorf("second apply ran %d changing commands (%v %v %v)", s.ChangeCommands, rr.Changed, pr.Changed, nr.Changed)
		}
		if rr.Restarted || len(pr.Changed) > 0 || len(nr.Changed) > 0 {
			t.Errorf("changed: %+v %v %v", rr.Restarted, pr.Changed, nr.Changed)
		}
		if redisPID != guesttest.Exec(t, ctx, data, "cat /run/redis/redis-server.pid") || pgPID != postmasterPID(t, ctx, data) ||
			ganeshaPID != guesttest.Exec(t, ctx, data, "cat "+nfs.GaneshaPIDFile) {
			t.Error("a server was restarted")
		}

		guest.ResetStats()
		start := time.Now()
		rs, ps, ns := readAll(t, ctx, c, pc, nc)
		t.Logf("refresh of all three: %v, %+v", time.Since(start), guest.Stats())
		if s := guest.Stats(); s.Commands() != 1 {
			t.Errorf("refresh ran %d commands", s.Commands())
		}
		if d := slices.Concat(rs.Drift(rc), ps.Drift(pc), ns.Drift(nc)); len(d) > 0 {
			t.Errorf("drift right after apply: %q", d)
		}
		if !strings.HasPrefix(ps.Version, "15.") || ps.Encoding != "UTF8" || ps.DatabaseEncoding != "UTF8" || ps.UserSuperuser || !ps.UserCanCreate {
			t.Errorf("postgres state %+v", ps)
		}
		if rs.Version == "" || rs.Address() != addr || rs.Port != 6379 {
			t.Errorf("redis state %+v", rs)
		}
	})

	t.Run("drift is read and fixed with a restart", func(t *testing.T) {
		// Redis: the file edited by hand and a runtime CONFIG SET.
		guesttest.Exec(t, ctx, data, "sed -i 's/^maxclients 10000$/maxclients 50/' "+redis.ConfigFile)
		guesttest.Exec(t, ctx, data, "REDISCLI_AUTH="+guest.Quote(rc.Password)+" redis-cli CONFIG SET appendonly yes")
		// Postgres: max_connections lowered and the server restarted by hand.
		guesttest.Exec(t, ctx, data, "sed -i 's/^max_connections = 1000$/max_connections = 500/' /etc/postgresql/15/main/conf.d/"+postgres.ConfFileName+" && pg_ctlcluster 15 main restart")

		rs, ps, _ := readAll(t, ctx, c, pc, nc)
		if rs.Settings["maxclients"] != "50" || rs.Live["appendonly"] != "yes" || ps.MaxConnections != 500 {
			t.Fatalf("drift not visible: redis file maxclients %q, live appendonly %q; postgres max_connections %d", rs.Settings["maxclients"], rs.Live["appendonly"], ps.MaxConnections)
		}
		t.Logf("drift read: %q %q", rs.Drift(rc), ps.Drift(pc))
		redisPID := guesttest.Exec(t, ctx, data, "cat /run/redis/redis-server.pid")
		pgPID := postmasterPID(t, ctx, data)
		rr, pr, _ := applyAll(t, ctx, c, rc, pc, nc)
		if !rr.Restarted || !slices.Contains(pr.Changed, "restarted") {
			t.Errorf("not restarted: redis %v, postgres %v", rr.Restarted, pr.Changed)
		}
		if redisPID == guesttest.Exec(t, ctx, data, "cat /run/redis/redis-server.pid") || pgPID == postmasterPID(t, ctx, data) {
			t.Error("PIDs unchanged after a restart")
		}
		rs, ps, _ = readAll(t, ctx, c, pc, nc)
		if d := slices.Concat(rs.Drift(rc), ps.Drift(pc)); len(d) > 0 {
			t.Errorf("drift after the fix: %q", d)
		}
	})

	t.Run("kernel server files: exportfs -v shows the options", func(t *testing.T) {
		kc := nc
		kc.Server = nfs.Kernel
		res, err := nfs.Apply(ctx, c, kc)
		must(t, err)
		out := guesttest.Exec(t, ctx, data, "exportfs -v")
		for _, want := range []string{nfs.DefaultPath, l.PublicSubnet().String(), "rw", "no_root_squash", "sec=sys"} {
			if !strings.Contains(out, want) {
				t.Errorf("exportfs -v lacks %q:\n%s", want, out)
			}
		}
		if got := guesttest.Exec(t, ctx, data, "grep '^"+nfs.DefaultPath+" ' "+nfs.ExportsFile); got != kc.ExportLine() {
			t.Errorf("/etc/exports has %q", got)
		}
		guest.ResetStats()
		if _, err := nfs.Apply(ctx, c, kc); err != nil || guest.Stats().ChangeCommands != 0 {
			t.Errorf("second kernel apply: %v, %+v (first: %v)", err, guest.Stats(), res.Changed)
		}
	})

}
