package backup_test

// The backup program against real Postgres and Redis in a lab guest: how a run ends when Redis
// cannot save, and what a run leaves behind in /run.

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/backup"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/postgres"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/redis"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

const (
	lock    = "/run/hipchatdc-backup.lock"
	running = "/run/hipchatdc-backup.running" // which run holds the lock, and since when
)

func TestScriptOnLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, g := guesttest.StartGuest(t, ctx, "backup-ds", lab.KindDebian)
	conn := guesttest.Dial(t, ctx, l, g)
	addr := netip.MustParseAddr(g.Address())
	pg, err := postgres.Apply(ctx, conn, postgres.Config{Address: addr, AllowedCIDR: l.PublicSubnet(), Database: "hipchat_postgres", User: "hipchat_user", Password: "pg-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := redis.Apply(ctx, conn, redis.Config{Address: addr, Password: "redis-secret-1"}); err != nil {
		t.Fatal(err)
	}
	guesttest.Exec(t, ctx, g, "set -e; mkdir -p /srv/hipchat-nfs /var/backups/hipchatdc; echo hello >/srv/hipchat-nfs/file")
	// @yearly: no scheduled run takes the lock while the test runs.
	c := backup.Config{Schedule: "@yearly", Retention: 2, Database: "hipchat_postgres", PostgresPort: pg.After.Port,
		NFSDir: "/srv/hipchat-nfs", Destination: backup.Destination{Path: "/var/backups/hipchatdc"}}
	if _, err := backup.Apply(ctx, conn, c); err != nil {
		t.Fatal(err)
	}
	marker := func() string {
		return guesttest.Exec(t, ctx, g, "cat "+running+" 2>/dev/null || echo absent")
	}
	// run is one backup the way the provider runs it, within the time an apply gives it.
	run := func(limit time.Duration) (backup.Status, time.Duration, error) {
		rctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		start := time.Now()
		st, err := backup.Run(rctx, conn)
		return st, time.Since(start), err
	}

	t.Run("a run removes its marker", func(t *testing.T) {
		st, _, err := run(5 * time.Minute)
		if err != nil || !st.OK {
			t.Fatalf("backup: %+v %v", st, err)
		}
		if got := marker(); got != "absent" {
			t.Errorf("%s after a run that succeeded: %q; want it removed (no run holds the lock)", running, got)
		}
	})

	t.Run("a marker whose run is gone is not believed", func(t *testing.T) {
		// A run killed outright (SIGKILL) leaves its marker; its pid is gone.
		guesttest.Exec(t, ctx, g, `pid=$(sh -c 'echo $$'); echo "$pid 2026-01-01T00:00:00Z" >`+running)
		// Something else holds the lock (a backup started by hand from an older version).
		guesttest.Exec(t, ctx, g, `(setsid bash -c 'exec 9>`+lock+`; flock 9; touch /run/test-locked; exec sleep 3600' </dev/null >/dev/null 2>&1 & echo $! >/run/test-lock-holder.pid); `+
			`i=0; until [ -e /run/test-locked ]; do i=$((i+1)); [ $i -lt 600 ] || { echo "the lock holder did not start"; exit 1; }; sleep 0.1; done`)
		_, _, err := run(5 * time.Minute)
		if err == nil || !strings.Contains(err.Error(), "another backup has been running since an unknown time") {
			t.Errorf("backup while the lock is held, with a stale marker: %v; want it refused, without the stale marker's time", err)
		}
		guesttest.Exec(t, ctx, g, `kill "$(cat /run/test-lock-holder.pid)"; i=0; until flock -n `+lock+` true; do i=$((i+1)); [ $i -lt 600 ] || { echo "the lock was not released"; exit 1; }; sleep 0.1; done; rm -f /run/test-locked`)
		// The stale marker does not stop the next run, which leaves none.
		st, _, err := run(5 * time.Minute)
		if err != nil || !st.OK {
			t.Fatalf("backup after the stale marker: %+v %v", st, err)
		}
		if got := marker(); got != "absent" {
			t.Errorf("%s after the run: %q; want it removed", running, got)
		}
	})

	t.Run("redis cannot save", func(t *testing.T) {
		// Redis (user redis) cannot create its temporary RDB file: BGSAVE starts, and the
		// save fails at once.
		guesttest.Exec(t, ctx, g, "chmod 0555 /var/lib/redis")
		defer guesttest.Exec(t, ctx, g, "chmod 0750 /var/lib/redis")
		// Within the 4 minutes, the provider stops the run after 2 (RunMargin): a run that
		// waited for a save that had already failed ends "stopped by a signal".
		st, took, err := run(4 * time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if st.OK || st.Step() != "redis" || !strings.Contains(st.Error, "rdb_last_bgsave_status:err") || !strings.Contains(st.Error, "Permission denied") {
			t.Errorf("backup with Redis unable to save: %+v; want it failed at the redis step, saying the save failed and Redis's reason", st)
		}
		t.Logf("the run failed after %s: %s", took.Round(time.Millisecond), st.Error)
		if got := marker(); got != "absent" {
			t.Errorf("%s after a failed run: %q; want it removed", running, got)
		}
		if got := guesttest.Exec(t, ctx, g, "ls /var/backups/hipchatdc | wc -l"); got != "2" {
			t.Errorf("backups after the failed run: %s; want the 2 earlier ones, and nothing of the failed one", got)
		}
	})
}
