package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/backup"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/postgres"
)

// BackupStatusFile is where the backup program records its last run (see the package doc).
const BackupStatusFile = backup.StatusFile

// Runner runs read-only scripts on a guest (a *guest.Conn).
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
}

// Space is the size of a file system and what a non-root writer can still use of it.
type Space struct {
	Path      string // the folder asked about
	Size      int64  // bytes
	Available int64  // bytes
}

// FreePercent is Available as a percentage of Size.
func (s Space) FreePercent() float64 {
	if s.Size <= 0 {
		return 0
	}
	return float64(s.Available) * 100 / float64(s.Size)
}

// Backup is the result of the last backup run, as BackupStatusFile records it.
type Backup struct {
	Present     bool // false: no backup has ever run
	Started     time.Time
	Finished    time.Time
	OK          bool
	Error       string
	Name        string
	Bytes       int64
	Destination string
}

// DataStores is what ReadDataStores finds on the data-store VM. A part that could not be read
// is nil (Backup: its error set), with the reason in the matching Error field.
type DataStores struct {
	NFS           *Space
	NFSError      string
	Postgres      *Space
	PostgresError string
	Backup        Backup
	BackupError   string
}

const recipe = "health"

// backupFile is BackupStatusFile, a variable so that a test can point the script elsewhere.
var backupFile = BackupStatusFile

// DataStoresScript is the one command ReadDataStores runs. nfsPath is the exported directory.
func DataStoresScript(nfsPath string) string {
	sec := func(name string) string { return guest.EchoSection(recipe, name) }
	// space PATH prints "SIZE AVAILABLE" in bytes, or statfs' complaint.
	return "# read data-store health\n(\n" +
		`space() { stat -f -c '%S %b %a' -- "$1" 2>&1 | awk 'NF == 3 && $1 ~ /^[0-9]+$/ { printf "%.0f %.0f\n", $1 * $2, $1 * $3; next } { print }'; }` + "\n" +
		sec("nfs") + "space " + guest.Quote(nfsPath) + "\n" +
		`v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)` + "\n" +
		`dir=$(pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1 == v && $2 == "` + postgres.DefaultCluster + `" { print $6 }')` + "\n" +
		sec("pgdir") + `echo "$dir"` + "\n" +
		sec("pgspace") + `[ -z "$dir" ] || space "$dir"` + "\n" +
		sec("backup") + `f=` + guest.Quote(backupFile) + `; if [ -f "$f" ]; then echo present; cat -- "$f"; echo; else echo absent; fi` + "\n" +
		sec("end") + ")\n"
}

// ReadDataStores reads the data-store VM's health with one read-only command.
func ReadDataStores(ctx context.Context, r Runner, nfsPath string) (DataStores, error) {
	out, err := r.Run(ctx, DataStoresScript(nfsPath), nil)
	if err != nil {
		return DataStores{}, fmt.Errorf("read data-store health: %w", err)
	}
	return ParseDataStores(string(out), nfsPath)
}

// ParseDataStores reads DataStoresScript's output.
func ParseDataStores(out, nfsPath string) (DataStores, error) {
	sec := guest.Sections(out, recipe)
	for _, s := range []string{"nfs", "pgdir", "pgspace", "backup", "end"} {
		if _, ok := sec[s]; !ok {
			return DataStores{}, fmt.Errorf("read data-store health: output has no %s section", s)
		}
	}
	var d DataStores
	if sp, err := parseSpace(nfsPath, sec["nfs"]); err != nil {
		d.NFSError = fmt.Sprintf("NFS volume %s: %v", nfsPath, err)
	} else {
		d.NFS = &sp
	}
	if dir := strings.TrimSpace(sec["pgdir"]); dir == "" {
		d.PostgresError = "no PostgreSQL cluster " + postgres.DefaultCluster + " found (pg_lsclusters)"
	} else if sp, err := parseSpace(dir, sec["pgspace"]); err != nil {
		d.PostgresError = fmt.Sprintf("Postgres data directory %s: %v", dir, err)
	} else {
		d.Postgres = &sp
	}
	d.Backup, d.BackupError = parseBackup(sec["backup"])
	return d, nil
}

func parseSpace(path, s string) (Space, error) {
	s = strings.TrimSpace(s)
	f := strings.Fields(s)
	if len(f) == 2 {
		size, err1 := strconv.ParseInt(f[0], 10, 64)
		avail, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil && size > 0 {
			return Space{Path: path, Size: size, Available: avail}, nil
		}
	}
	if s == "" {
		s = "no answer from statfs"
	}
	return Space{}, fmt.Errorf("%s", oneLine(s))
}

func parseBackup(s string) (Backup, string) {
	head, body, _ := strings.Cut(s, "\n")
	if strings.TrimSpace(head) != "present" {
		return Backup{}, ""
	}
	var st backup.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return Backup{Present: true}, fmt.Sprintf("%s is not the backup program's status: %v", backupFile, err)
	}
	b := Backup{Present: true, OK: st.OK, Error: st.Error, Name: st.Name, Bytes: st.Bytes, Destination: st.Destination,
		Started: st.Started, Finished: st.Finished}
	return b, ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
