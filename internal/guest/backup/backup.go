package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Files on the data-stores VM.
const (
	ConfDir        = "/etc/hipchatdc/backup"
	ScriptFile     = ConfDir + "/run"
	SettingsFile   = ConfDir + "/settings"
	KeyFile        = ConfDir + "/id_destination"
	KnownHostsFile = ConfDir + "/known_hosts"
	CronFile       = "/etc/cron.d/hipchatdc-backup"
	StateDir       = "/var/lib/hipchatdc/backup"
	StatusFile     = StateDir + "/last.json"
	// CapturedDir holds the other VMs' configuration files, as config/<role>/<path> of a backup.
	CapturedDir = StateDir + "/config"
	LogFile     = "/var/log/hipchatdc-backup.log"
)

// Packages: cron runs the schedule; the rest (bash, tar, gzip, coreutils, openssh-client,
// postgresql-client, redis-tools) come with the data stores' own packages or every Debian.
var Packages = []string{"cron", "openssh-client"}

//go:embed script.sh
var script string

// Script is the backup program written to ScriptFile.
func Script() string { return script }

// DatastoreConfigFiles are the data-stores VM's files the provider writes, copied into every
// backup as config/datastore/<path> (shell globs: the Postgres version is part of the path).
var DatastoreConfigFiles = []string{
	"/etc/redis/redis.conf",
	"/etc/postgresql/*/main/conf.d/hipchatdc.conf",
	"/etc/postgresql/*/main/pg_hba.conf",
	"/etc/exports",
	"/etc/ganesha/ganesha.conf",
	"/etc/hipchatdc-firewall.nft",
	"/etc/network/interfaces",
	"/etc/hosts",
	"/etc/timezone",
}

// Names of the files of one backup (the contract with the restore).
const (
	PostgresDump = "postgres.dump"
	PostgresRole = "postgres-roles.sql"
	RedisRDB     = "redis.rdb"
	NFSArchive   = "nfs.tar.gz"
	SumsFile     = "SHA256SUMS"
	NamePrefix   = "hipchatdc-"
)

// Destination is where the backups go: a path on the data-stores VM, or on Host over SSH.
type Destination struct {
	Path       string
	Host       string // "" for a path on the data-stores VM
	Port       int
	User       string
	PrivateKey string // sensitive; the key the VM uses to reach Host
	HostKey    string // Host's public key, authorized_keys format, pinned
}

// Remote says whether the backups leave the VM.
func (d Destination) Remote() bool { return d.Host != "" }

// String is the destination as the status file writes it.
func (d Destination) String() string {
	if d.Remote() {
		return d.Host + ":" + d.Path
	}
	return d.Path
}

// CapturedFile is a configuration file of another VM, copied to the data-stores VM.
type CapturedFile struct {
	Role string // node, proxy
	Path string // absolute path on that VM
	Data []byte
}

// Config is the backup a user asks for.
type Config struct {
	Schedule     string // cron's five fields, or @hourly, @daily, @weekly, @monthly, @yearly
	Retention    int
	Database     string
	PostgresPort int
	NFSDir       string
	Destination  Destination
	Captured     []CapturedFile
}

var (
	safePath = regexp.MustCompile(`^/[A-Za-z0-9._/-]*$`)
	// No leading '-': a host or user must not read as an option of ssh.
	safeWord  = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*$`)
	cronChars = regexp.MustCompile(`^[A-Za-z0-9*/,@ -]+$`)
)

// DataStoreDirs are the data-stores VM's directories that a local destination must not be
// inside, besides the NFS export: Postgres's (Debian keeps its clusters in
// /var/lib/postgresql/<version>/main) and Redis's.
var DataStoreDirs = []string{"/var/lib/postgresql", "/var/lib/redis"}

// InsideDataStores is the data store's directory (nfsDir or one of DataStoreDirs) that the
// local destination p is in, or "": backups there would land on the share and in every next
// archive of it, or among the database's files.
func InsideDataStores(p, nfsDir string) string {
	for _, d := range append([]string{nfsDir}, DataStoreDirs...) {
		if d != "" && (p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")) {
			return d
		}
	}
	return ""
}

// Validate checks c before anything is written.
func (c Config) Validate() error {
	var errs []error
	if _, err := ParseSchedule(c.Schedule); err != nil {
		errs = append(errs, fmt.Errorf("schedule %q: %w", c.Schedule, err))
	}
	if c.Retention < 1 {
		errs = append(errs, fmt.Errorf("retention %d: keep at least 1 backup", c.Retention))
	}
	if !safeWord.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("database %q: letters, digits, dashes, periods and underscores only", c.Database))
	}
	for name, p := range map[string]string{"destination path": c.Destination.Path, "NFS directory": c.NFSDir} {
		if !safePath.MatchString(p) || path.Clean(p) != p || p == "/" {
			errs = append(errs, fmt.Errorf("%s %q: an absolute, clean path other than / of letters, digits and . _ - /", name, p))
		}
	}
	if d := c.Destination; !d.Remote() {
		if in := InsideDataStores(d.Path, c.NFSDir); in != "" {
			errs = append(errs, fmt.Errorf("destination path %q is inside %s: a local destination must be outside the NFS export and the data stores' directories", d.Path, in))
		}
	} else {
		if !safeWord.MatchString(d.Host) || !safeWord.MatchString(d.User) {
			errs = append(errs, fmt.Errorf("destination %s@%s: a host name or address and a user name", d.User, d.Host))
		}
		if d.PrivateKey == "" || d.HostKey == "" {
			errs = append(errs, errors.New("a remote destination needs the private key to reach it and its pinned host key"))
		}
	}
	return errors.Join(errs...)
}

// RenderSettings is SettingsFile, sourced by the script.
func RenderSettings(c Config) string {
	port := c.Destination.Port
	if port == 0 {
		port = 22
	}
	pg := c.PostgresPort
	if pg == 0 {
		pg = 5432
	}
	var b strings.Builder
	w := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, guest.Quote(v)) }
	b.WriteString("# Managed by terraform-provider-hipchatdc (hipchatdc_backup); changes are overwritten.\n")
	w("DEST_PATH", c.Destination.Path)
	w("DEST_HOST", c.Destination.Host)
	w("DEST_PORT", fmt.Sprint(port))
	w("DEST_USER", c.Destination.User)
	w("RETENTION", fmt.Sprint(c.Retention))
	w("DATABASE", c.Database)
	w("PG_PORT", fmt.Sprint(pg))
	w("NFS_DIR", c.NFSDir)
	w("CONFIG_FILES", strings.Join(DatastoreConfigFiles, " "))
	return b.String()
}

// RenderCron is CronFile: the schedule, as root, with the output appended to LogFile.
func RenderCron(c Config) string {
	return "# Managed by terraform-provider-hipchatdc (hipchatdc_backup); changes are overwritten.\n" +
		"SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
		c.Schedule + " root " + ScriptFile + " >>" + LogFile + " 2>&1\n"
}

// RenderKnownHosts pins the destination's host key under the alias the script asks for.
func RenderKnownHosts(c Config) string {
	if !c.Destination.Remote() {
		return ""
	}
	return "hipchatdc-backup-destination " + strings.TrimSpace(c.Destination.HostKey) + "\n"
}

func renderKey(c Config) string {
	if !c.Destination.Remote() {
		return ""
	}
	k := strings.TrimSpace(c.Destination.PrivateKey)
	return k + "\n"
}

// file is one file Apply manages: its content, mode and what drift calls it.
type file struct {
	path string
	data string
	mode fs.FileMode
}

func (c Config) files() []file {
	fs := []file{
		{ScriptFile, Script(), 0o700},
		{SettingsFile, RenderSettings(c), 0o600},
		{CronFile, RenderCron(c), 0o644},
		{KeyFile, renderKey(c), 0o600},
		{KnownHostsFile, RenderKnownHosts(c), 0o644},
	}
	for _, f := range c.Captured {
		fs = append(fs, file{CapturedDir + "/" + f.Role + f.Path, string(f.Data), 0o600})
	}
	return fs
}

func digest(s string) string {
	if s == "" {
		return "absent"
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Status is StatusFile: the last run.
type Status struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	OK          bool      `json:"ok"`
	Error       string    `json:"error"`
	Name        string    `json:"name"`
	Bytes       int64     `json:"bytes"`
	Destination string    `json:"destination"`
	// Run is the id the provider gave the run (HIPCHATDC_BACKUP_RUN), "" for a scheduled one.
	Run string `json:"run"`
}

// Step is the part of the run the error names ("destination", "postgres", "redis", "nfs",
// "config", "retention"), "" when it succeeded.
func (s Status) Step() string {
	step, _, _ := strings.Cut(s.Error, ":")
	return step
}

// State is what Read finds on the guest.
type State struct {
	Status *Status // nil: never ran
	// Digests of the managed files by path ("absent" when missing).
	Digests     map[string]string
	CronRunning bool
	// Location is the VM's time zone (/etc/timezone), in which cron reads the schedule.
	Location *time.Location
}

// Drift lists, in words, where the guest differs from c, and whether the backups run: a last
// run that failed, or none finished for two scheduled intervals, is drift. now is the time of
// the refresh.
func (s State) Drift(c Config, now time.Time) []string {
	var d []string
	for _, f := range c.files() {
		if got, want := s.Digests[f.path], digest(f.data); got != want {
			switch {
			case want == "absent":
				d = append(d, f.path+" should not exist (no remote destination)")
			case got == "absent" || got == "":
				d = append(d, f.path+" is missing")
			default:
				d = append(d, f.path+" differs from what the provider writes")
			}
		}
	}
	if !s.CronRunning {
		d = append(d, "cron is not running: no scheduled backup happens")
	}
	return append(d, s.RunDrift(c, now)...)
}

// RunDrift is the part of Drift about the runs themselves.
func (s State) RunDrift(c Config, now time.Time) []string {
	if s.Status == nil {
		return []string{"no backup has run yet (" + StatusFile + " is missing)"}
	}
	st := *s.Status
	if !st.OK {
		return []string{fmt.Sprintf("the last backup, started %s, failed: %s", st.Started.Format(time.RFC3339), st.Error)}
	}
	sched, err := ParseSchedule(c.Schedule)
	if err != nil {
		return nil // the plan reports the schedule
	}
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	// Two scheduled runs after the last backup have come and gone without a newer one. (A
	// schedule whose runs are more than five years apart, robfig/cron's horizon, has no due
	// time: never drift.)
	first := sched.Next(st.Finished.In(loc))
	if first.IsZero() {
		return nil // (Next of the zero time would search from year 1)
	}
	if due := sched.Next(first); !due.IsZero() && now.After(due) {
		return []string{fmt.Sprintf("the last backup (%s) finished at %s, and the runs scheduled after it (%q) made none: backups have stopped",
			st.Name, st.Finished.Format(time.RFC3339), c.Schedule)}
	}
	return nil
}

// ReadScript is the one command Read runs.
func ReadScript(c Config) string {
	var paths []string
	for _, f := range c.files() {
		paths = append(paths, guest.Quote(f.path))
	}
	sec := func(name string) string { return guest.EchoSection("backup", name) }
	return "# read backup\n(\n" +
		sec("status") + "cat " + StatusFile + " 2>/dev/null; echo\n" +
		sec("digests") + "for f in " + strings.Join(paths, " ") + `; do if [ -f "$f" ]; then printf '%s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"; else printf 'absent %s\n' "$f"; fi; done` + "\n" +
		sec("cron") + `if [ -d /run/systemd/system ]; then systemctl is-active cron; elif [ -s /run/crond.pid ] && kill -0 "$(cat /run/crond.pid)" 2>/dev/null; then echo active; else echo inactive; fi` + "\n" +
		sec("timezone") + "cat /etc/timezone 2>/dev/null; echo\n" +
		sec("end") + ")\n"
}

// Read returns the guest's backup setup with one command.
func Read(ctx context.Context, r guest.Runner, c Config) (State, error) {
	out, err := r.Run(ctx, ReadScript(c), nil)
	if err != nil {
		return State{}, fmt.Errorf("read backup: %w", err)
	}
	return Parse(string(out))
}

// Parse reads the output of ReadScript.
func Parse(out string) (State, error) {
	sec := guest.Sections(out, "backup")
	for _, s := range []string{"status", "digests", "cron", "timezone", "end"} {
		if _, ok := sec[s]; !ok {
			return State{}, fmt.Errorf("read backup: output has no %s section", s)
		}
	}
	st := State{Digests: map[string]string{}, Location: time.UTC}
	if s := strings.TrimSpace(sec["status"]); s != "" {
		var status Status
		if err := json.Unmarshal([]byte(s), &status); err != nil {
			return st, fmt.Errorf("read backup: %s: %w", StatusFile, err)
		}
		st.Status = &status
	}
	for _, line := range strings.Split(sec["digests"], "\n") {
		if d, p, ok := strings.Cut(line, " "); ok {
			st.Digests[p] = d
		}
	}
	st.CronRunning = strings.TrimSpace(sec["cron"]) == "active"
	if tz := strings.TrimSpace(sec["timezone"]); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			st.Location = loc
		}
	}
	return st, nil
}

// startCron starts cron when it is not running: systemd's unit on a real VM; in the lab (no
// init system) the daemon itself, which writes /run/crond.pid.
const startCron = `# start cron
set -e
if [ -d /run/systemd/system ]; then
	systemctl enable --now cron
elif ! { [ -s /run/crond.pid ] && kill -0 "$(cat /run/crond.pid)" 2>/dev/null; }; then
	cron
fi
`

// Apply installs c: it reads first and writes only the files that differ, and starts cron
// when it does not run. It does not run a backup (Run does).
func Apply(ctx context.Context, r guest.Runner, c Config) ([]string, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	st, err := Read(ctx, r, c)
	if err != nil {
		return nil, err
	}
	var changed []string
	var dirs []string
	for _, f := range c.files() {
		if st.Digests[f.path] != digest(f.data) {
			dirs = append(dirs, path.Dir(f.path))
		}
	}
	if len(dirs) > 0 {
		sort.Strings(dirs)
		var q []string
		for _, d := range dirs {
			q = append(q, guest.Quote(d))
		}
		// 0700: the settings, the key and the captured files are root's alone.
		if _, err := r.RunChange(ctx, "# backup directories\nset -e\ninstall -d -m 0755 "+StateDir+"\ninstall -d -m 0700 "+ConfDir+" "+CapturedDir+"\nmkdir -p -m 0700 "+strings.Join(q, " ")+"\n", nil); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	for _, f := range c.files() {
		if st.Digests[f.path] == digest(f.data) {
			continue
		}
		if f.data == "" {
			if _, err := r.RunChange(ctx, "# remove "+f.path+"\nrm -f "+guest.Quote(f.path), nil); err != nil {
				return nil, fmt.Errorf("backup: %w", err)
			}
		} else if err := r.WriteFile(ctx, f.path, []byte(f.data), f.mode, "root:root"); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		changed = append(changed, f.path)
	}
	if !st.CronRunning {
		if _, err := r.RunChange(ctx, startCron, nil); err != nil {
			return nil, fmt.Errorf("backup: start cron: %w", err)
		}
		changed = append(changed, "cron started")
	}
	return changed, nil
}

// RunMargin is what Run keeps of its context's deadline, after stopping the run on the guest,
// to read the status the stopped run recorded.
const RunMargin = 2 * time.Minute

// Run runs one backup now and returns the status it recorded. A failed backup is a Status
// with OK false, not an error; the error is for a run that recorded no status of its own
// (settings unreadable, another run holding the lock, the status file not writable): its
// exit and output, never the status of an earlier run. When ctx has a deadline the run is
// stopped (SIGTERM, then SIGKILL) RunMargin before it, and records why it failed.
func Run(ctx context.Context, r guest.Runner) (Status, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Status{}, fmt.Errorf("backup: %w", err)
	}
	id := hex.EncodeToString(b[:])
	limit := ""
	if dl, ok := ctx.Deadline(); ok {
		secs := max(int((time.Until(dl)-RunMargin)/time.Second), 30)
		limit = fmt.Sprintf("timeout -k 30 %d ", secs)
	}
	// bash for pipefail: the script's exit, not tee's, is the command's.
	cmd := "HIPCHATDC_BACKUP_WAIT=1 HIPCHATDC_BACKUP_RUN=" + id + " " + limit + ScriptFile + " 2>&1 | tee -a " + LogFile + " >&2"
	_, runErr := r.RunChange(ctx, "# run a backup\nexec bash -o pipefail -c "+guest.Quote(cmd), nil)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RunMargin)
	defer cancel()
	out, ok, err := readStatus(rctx, r)
	if err != nil {
		return Status{}, err
	}
	if ok && out.Run == id {
		return out, nil
	}
	if runErr == nil {
		runErr = errors.New("it exited 0")
	}
	return Status{}, fmt.Errorf("backup: the run recorded no status (%s is not this run's): %w", StatusFile, runErr)
}

func readStatus(ctx context.Context, r guest.Runner) (Status, bool, error) {
	out, err := r.Run(ctx, "# read backup status\ncat "+StatusFile+" 2>/dev/null || true", nil)
	if err != nil {
		return Status{}, false, fmt.Errorf("read backup status: %w", err)
	}
	if strings.TrimSpace(string(out)) == "" {
		return Status{}, false, nil
	}
	var s Status
	if err := json.Unmarshal(out, &s); err != nil {
		return Status{}, false, fmt.Errorf("read backup: %s: %w", StatusFile, err)
	}
	return s, true, nil
}
