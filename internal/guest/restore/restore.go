package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/redis"
)

// Where the guest keeps what a restore needs.
const (
	// StageDir holds the backup's files during a restore (root only: the roles file has
	// password hashes). It is emptied when the restore is done.
	StageDir = "/var/lib/hipchatdc/restore/stage"
	// MarkerFile records the backup the data stores were restored from.
	MarkerFile = "/var/lib/hipchatdc/restore/restored"
)

// Upload copies the files of m from src into StageDir, hashing each on the way: a file that
// changed since Verify read it is refused, named, before anything is restored.
func Upload(ctx context.Context, r guest.Runner, src Source, m Manifest) error {
	if _, err := r.RunChange(ctx, "# prepare restore staging directory\nset -e\nrm -rf "+StageDir+"\ninstall -d -m 0700 "+StageDir, nil); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for _, name := range m.Names() {
		if err := upload(ctx, r, src, name, m.Sums[name]); err != nil {
			return err
		}
	}
	if err := r.WriteFile(ctx, StageDir+"/"+Sums, m.SumsFile, 0o600, "root:root"); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

func upload(ctx context.Context, r guest.Runner, src Source, name, want string) error {
	f, err := src.Open(ctx, name)
	if err != nil {
		return &Error{Where: src.Where(), File: name, Problem: "cannot read it: " + err.Error()}
	}
	defer f.Close()
	h := sha256.New()
	dst := path.Join(StageDir, name)
	script := "# stage " + name + "\nset -e\nf=" + guest.Quote(dst) + "\nmkdir -p \"$(dirname \"$f\")\"\numask 077\ncat > \"$f\""
	if _, err := r.RunChange(ctx, script, io.TeeReader(f, h)); err != nil {
		return fmt.Errorf("restore: copy %s to the guest: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &Error{Where: src.Where(), File: name, Problem: fmt.Sprintf("checksum mismatch while copying: its SHA-256 is %s, SHA256SUMS says %s (the file changed since it was verified)", got, want)}
	}
	return nil
}

// Check has the guest's own tools agree with Verify on the staged copy, before any data store
// is touched: sha256sum -c, pg_restore --list and tar -tzf. It needs the data stores'
// packages (pg_restore).
func Check(ctx context.Context, r guest.Runner) error {
	script := `# check the staged backup
cd ` + StageDir + ` || exit 1
sha256sum --quiet -c ` + Sums + ` >&2 || { echo "sha256sum -c ` + Sums + ` failed on the copy" >&2; exit 1; }
pg=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
"$pg/pg_restore" --list ` + Dump + ` >/dev/null || { echo "` + Dump + `: pg_restore cannot list it" >&2; exit 1; }
tar -tzf ` + Archive + ` >/dev/null || { echo "` + Archive + `: tar cannot list it" >&2; exit 1; }
`
	if _, err := r.Run(ctx, script, nil); err != nil {
		return fmt.Errorf("restore: the staged backup does not pass the guest's checks: %w", err)
	}
	return nil
}

// PlaceRedis stops any redis-server (the package's, started with an empty data set: stopping
// it first also keeps it from saving that empty set over the restored file) and puts the
// staged RDB where the provider's configuration has Redis load it from. The redis recipe
// starts the server afterwards.
func PlaceRedis(ctx context.Context, r guest.Runner) error {
	script := `# restore redis dump.rdb
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop redis-server 2>/dev/null || true
elif [ -s ` + redis.PIDFile + ` ] && pid=$(cat ` + redis.PIDFile + `) && kill -0 "$pid" 2>/dev/null; then
` + guest.StopPID("redis-server") + `fi
install -d -m 0750 -o redis -g redis ` + redis.DataDir + `
rm -rf ` + redis.DataDir + `/appendonlydir ` + redis.DataDir + `/appendonly.aof
install -m 0660 -o redis -g redis ` + StageDir + "/" + RDB + " " + redis.DataDir + `/dump.rdb
`
	if _, err := r.RunChange(ctx, script, nil); err != nil {
		return fmt.Errorf("restore: put redis.rdb in place: %w", err)
	}
	return nil
}

// Postgres restores the roles (each created when missing, then altered as the backup has it),
// runs setupSQL again so that the configured user's password and ownership win over the
// backup's, and restores the dump into database in one transaction (all or nothing). The
// cluster and the database must exist (the postgres recipe), the database empty: one that has
// relations is refused (ErrNotEmpty) rather than restored into.
func Postgres(ctx context.Context, r guest.Runner, port int, database, setupSQL string) error {
	psql := "cd /tmp && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p " + strconv.Itoa(port) + " -d postgres"
	// pg_dumpall --roles-only writes `CREATE ROLE name;` then `ALTER ROLE name WITH ...`: the
	// CREATE fails for a role that exists (postgres, and the Hipchat user the recipe made), so
	// it becomes a create-when-missing. Its file goes to psql on stdin.
	roles := "# restore postgres roles\nset -e\nawk '" + rolesAwk + "' " + StageDir + "/" + Roles + " | " + psql
	if _, err := r.RunChange(ctx, roles, nil); err != nil {
		return fmt.Errorf("restore: %s: %w", Roles, err)
	}
	if _, err := r.RunChange(ctx, "# set up postgres user and database after the roles\n"+psql, strings.NewReader(setupSQL)); err != nil {
		return fmt.Errorf("restore: set up the database after the roles: %w", err)
	}
	// Checked first, and again when pg_restore fails: the single transaction rolls back all of
	// the dump, so relations there after a failure are someone else's.
	if err := checkEmpty(ctx, r, port, database); err != nil {
		return err
	}
	pgr := "# restore postgres dump\nset -e\npg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)\ncd /tmp && runuser -u postgres -- \"$pg/pg_restore\" --exit-on-error --single-transaction -h /var/run/postgresql -p " +
		strconv.Itoa(port) + " -d " + guest.Quote(database) + " < " + StageDir + "/" + Dump
	if _, err := r.RunChange(ctx, pgr, nil); err != nil {
		if e := checkEmpty(ctx, r, port, database); e != nil {
			return e
		}
		return fmt.Errorf("restore: pg_restore %s into %s: %w", Dump, database, err)
	}
	return nil
}

// ErrNotEmpty is a restore refused because the database already has relations.
var ErrNotEmpty = errors.New("the database is not empty")

// relationsSQL lists up to five relations of the connected database outside the system
// schemas: a database the postgres recipe just made has none.
const relationsSQL = `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY 1 LIMIT 5;
`

// checkEmpty refuses a database that has relations: the dump only goes into the empty one the
// recipe made. One that has them was written by a client between the recipe opening Postgres
// and the restore: a Hipchat node still running with the same address and password.
func checkEmpty(ctx context.Context, r guest.Runner, port int, database string) error {
	out, err := r.Run(ctx, "# list the relations of the database\ncd /tmp && runuser -u postgres -- psql -X -q -tA -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "+
		strconv.Itoa(port)+" -d "+guest.Quote(database), strings.NewReader(relationsSQL))
	if err != nil {
		return fmt.Errorf("restore: list the relations of %s: %w", database, err)
	}
	if rels := strings.Fields(string(out)); len(rels) > 0 {
		return fmt.Errorf("restore: database %q already has relations before the dump is restored (%s): %w; a Hipchat node (or another client) is probably "+
			"writing into it, with the address and password of the data stores: stop every node that uses them (power their VMs off), then apply again",
			database, strings.Join(rels, ", "), ErrNotEmpty)
	}
	return nil
}

// rolesAwk turns `CREATE ROLE x;` into a statement that creates x only when it is missing
// (x as pg_dumpall quotes it, compared with quote_ident).
const rolesAwk = `/^CREATE ROLE .*;$/ { n = substr($0, 13, length($0) - 13); ` +
	`printf "SELECT $hcdc$CREATE ROLE %s$hcdc$ WHERE NOT EXISTS (SELECT FROM pg_roles WHERE quote_ident(rolname) = $hcdc$%s$hcdc$)\\gexec\n", n, n; next } { print }`

// NFS extracts the archive into the export directory, owners and modes as archived (numeric
// ids: the nodes' uids, whatever the data stores guest's user names) except the setuid and
// setgid bits of root's files, and gives the export directory back the mode the nfs recipe
// sets (the archive's "." entry must not change it). The directory must exist (nfs.Prepare)
// and not be exported yet: a node writing into it during the extraction would mix its files
// with the backup's.
func NFS(ctx context.Context, r guest.Runner, export string) error {
	script := "# restore nfs files\nset -e\nd=" + guest.Quote(export) + "\n[ -d \"$d\" ]\n" +
		"mode=$(stat -c %a \"$d\")\n" +
		"tar -C \"$d\" -xzpf " + StageDir + "/" + Archive + " --same-owner --numeric-owner --no-overwrite-dir\n" +
		"chmod \"$mode\" \"$d\"\n" +
		// A setuid or setgid file of root's from the archive would run as root on the data
		// stores VM and on any node that mounts the share without nosuid; Hipchat never needs
		// one on its share. The export is not published yet, so nothing sees the bits between
		// the extraction and this.
		"find \"$d\" -xdev -type f \\( -user 0 -o -group 0 \\) -perm /6000 -exec chmod ug-s {} +\n"
	if _, err := r.RunChange(ctx, script, nil); err != nil {
		return fmt.Errorf("restore: extract %s into %s: %w", Archive, export, err)
	}
	return nil
}

// Finish records the backup restored from in MarkerFile and removes the staged copy.
func Finish(ctx context.Context, r guest.Runner, from string) error {
	if err := r.WriteFile(ctx, MarkerFile, []byte(from+" "+time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644, "root:root"); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := r.RunChange(ctx, "# remove the staged backup\nrm -rf "+StageDir, nil); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}
