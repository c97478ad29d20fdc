package restore_test

// Postgres and NFS of a restore against real servers in a lab guest, in the situation the
// guide's walkthrough makes: the old node still runs at the data stores' address with the same
// password, and writes into the new, empty data stores while the backup goes in.

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nfs"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/postgres"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/restore"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

func TestRestoreOnLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, g := guesttest.StartGuest(t, ctx, "restore-ds", lab.KindDebian)
	conn := guesttest.Dial(t, ctx, l, g)
	addr := netip.MustParseAddr(g.Address())

	t.Run("postgres written into by a node", func(t *testing.T) {
		pc := postgres.Config{Address: addr, AllowedCIDR: l.PublicSubnet(), Database: "hipchat_postgres", User: "hipchat_user", Password: "pg-secret-1"}
		res, err := postgres.Apply(ctx, conn, pc)
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(res.After.Port)
		// The backup: a dump with the table rooms. Then the old node, over the network with
		// the Hipchat user's password, creates its tables in the new empty database.
		guesttest.Exec(t, ctx, g, "set -e; install -d -m 0700 "+restore.StageDir+"; : > "+restore.StageDir+"/"+restore.Roles+
			"; PGPASSWORD=pg-secret-1 psql -X -q -h "+g.Address()+" -p "+port+" -U hipchat_user -d hipchat_postgres -c 'CREATE TABLE rooms (name text)'"+
			"; cd /tmp && runuser -u postgres -- pg_dump -Fc -h /var/run/postgresql -p "+port+" hipchat_postgres > "+restore.StageDir+"/"+restore.Dump)
		err = restore.Postgres(ctx, conn, res.After.Port, pc.Database, postgres.SetupSQL(pc, res.After.Major))
		if !errors.Is(err, restore.ErrNotEmpty) || !strings.Contains(err.Error(), `database "hipchat_postgres" already has relations before the dump is restored (public.rooms)`) ||
			!strings.Contains(err.Error(), "stop every node") {
			t.Fatalf("restore into a database a node wrote into: %v; want it refused as not empty, naming the relation and saying to stop the nodes", err)
		}
	})

	t.Run("nfs", func(t *testing.T) {
		nc := nfs.Config{Path: nfs.DefaultPath, AllowedCIDR: l.PublicSubnet(), Server: nfs.Ganesha}
		if _, err := nfs.Prepare(ctx, conn, nc); err != nil {
			t.Fatal(err)
		}
		// The directory is there, and not exported yet: no node can mount it half-filled.
		if got := guesttest.Exec(t, ctx, g, "stat -c %a "+nfs.DefaultPath+"; grep -qs "+nfs.DefaultPath+" "+nfs.GaneshaConf+" && echo exported || echo not-exported"); got != "777\nnot-exported" {
			t.Fatalf("after nfs.Prepare:\n%s", got)
		}
		// A share with a setuid file of root's, a setgid file and a setgid directory of a
		// node's user.
		guesttest.Exec(t, ctx, g, "set -e; d=$(mktemp -d); install -m 4755 -o 0 -g 0 /bin/true $d/suid-root; install -m 2755 -o 0 -g 0 /bin/true $d/sgid-root; "+
			"install -m 2750 -o 1000 -g 1000 /bin/true $d/sgid-user; install -d -m 2775 -o 1000 -g 1000 $d/shared; tar -C $d -czf "+restore.StageDir+"/"+restore.Archive+" .")
		if err := restore.NFS(ctx, conn, nfs.DefaultPath); err != nil {
			t.Fatal(err)
		}
		got := guesttest.Exec(t, ctx, g, "cd "+nfs.DefaultPath+" && stat -c '%n %a %u:%g' suid-root sgid-root sgid-user shared .")
		if want := "suid-root 755 0:0\nsgid-root 755 0:0\nsgid-user 2750 1000:1000\nshared 2775 1000:1000\n. 777 0:0"; got != want {
			t.Errorf("the share after the restore:\n%s\nwant (root's setuid/setgid bits not restored, the rest as archived):\n%s", got, want)
		}
		res, err := nfs.Apply(ctx, conn, nc)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(res.Changed, "directory") || !slices.Contains(res.Changed, "ganesha") {
			t.Errorf("nfs.Apply after the restore changed %v: want the export published, the directory left as it is", res.Changed)
		}
	})
}
