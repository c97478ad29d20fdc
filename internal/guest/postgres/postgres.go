package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// State is what Read finds on the guest.
type State struct {
	Major         string // the major version whose cluster is read
	ClusterExists bool
	Running       bool
	Conf          string // the provider's conf.d file ("" when absent)
	HBA           string // pg_hba.conf
	HBAHasLine    bool   // the provider's block holds the rule for Config (see Drift)

	// From the running server.
	Version         string // server_version, e.g. "15.18"; the guide names spec.PostgresGuideMajor
	Encoding        string // server_encoding
	MaxConnections  int
	ListenAddresses string
	Port            int
	PendingRestart  []string // settings changed in the files that wait for a restart
	// Timezones are the server's TimeZone (what `SHOW timezone` says) and log_timezone, by
	// name, each with the file that set it ("" for a built-in default): the guide wants the
	// instance in UTC, and the file tells where a value changed behind the provider's back is.
	Timezones map[string]Setting
	// TimezoneOverrides are the timezones ALTER DATABASE or ALTER ROLE set for the sessions of
	// the Hipchat user in its database, whatever the server's: Setting.File says who set it
	// ("database hipchat_postgres", "role hipchat_user", "all roles").
	TimezoneOverrides []Setting
	UserDatabases     int // databases besides postgres, template0 and template1
	// DatabaseOwners are those databases with their owners, by name: what an import of a
	// server set up by hand finds.
	DatabaseOwners [][2]string

	DatabaseExists   bool
	DatabaseEncoding string
	DatabaseOwner    string
	UserExists       bool
	UserSuperuser    bool
	UserCanLogin     bool
	UserCanCreate    bool // CREATE on the database's public schema
	passwordHash     string

	// Errors are what psql said when a query could not run (no database yet, server down).
	Errors []string
}

// Setting is a server setting's value and the file that set it (pg_settings.sourcefile).
type Setting struct{ Value, File string }

// timezoneSettings are the pg_settings names of the timezones RenderConf sets to UTC.
var timezoneSettings = []string{"TimeZone", "log_timezone"}

// isUTC accepts the names PostgreSQL knows for UTC (its timezone/posixrules aliases).
func isUTC(zone string) bool {
	switch zone {
	case "UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "GMT", "Etc/GMT":
		return true
	}
	return false
}

// timezoneDrift says which of the running server's timezones is not UTC, and where it was set.
func (s State) timezoneDrift() []string {
	var d []string
	for _, name := range timezoneSettings {
		if set := s.Timezones[name]; !isUTC(set.Value) {
			where := ""
			if set.File != "" {
				where = " (set in " + set.File + ")"
			}
			d = append(d, fmt.Sprintf("%s is %q%s, the guide requires UTC", strings.ToLower(name), set.Value, where))
		}
	}
	return d
}

// ConfDir is the cluster's configuration folder in Debian's layout.
func ConfDir(major string) string { return "/etc/postgresql/" + major + "/" + DefaultCluster }

// PasswordMatches reports whether the user's stored password (SCRAM-SHA-256 or md5 verifier)
// is password, without the password leaving the provider.
func (s State) PasswordMatches(user, password string) bool {
	h := s.passwordHash
	if rest, ok := strings.CutPrefix(h, "SCRAM-SHA-256$"); ok {
		iterSalt, keys, _ := strings.Cut(rest, "$")
		iterS, saltB64, _ := strings.Cut(iterSalt, ":")
		storedB64, _, _ := strings.Cut(keys, ":")
		iter, err1 := strconv.Atoi(iterS)
		salt, err2 := base64.StdEncoding.DecodeString(saltB64)
		stored, err3 := base64.StdEncoding.DecodeString(storedB64)
		if err1 != nil || err2 != nil || err3 != nil {
			return false
		}
		// RFC 5802 (as PostgreSQL stores it): StoredKey = H(HMAC(SaltedPassword, "Client Key")).
		// PostgreSQL applies SASLprep first, which leaves ASCII passwords as they are.
		salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
		if err != nil {
			return false
		}
		mac := hmac.New(sha256.New, salted)
		mac.Write([]byte("Client Key"))
		sum := sha256.Sum256(mac.Sum(nil))
		return hmac.Equal(sum[:], stored)
	}
	if rest, ok := strings.CutPrefix(h, "md5"); ok {
		sum := md5.Sum([]byte(password + user))
		return hex.EncodeToString(sum[:]) == rest
	}
	return false
}

// Drift lists, in words, where the guest differs from c. Empty means Apply has nothing to do.
func (s State) Drift(c Config) []string {
	switch {
	case s.Major == "":
		return []string{"no PostgreSQL server is installed"}
	case !s.ClusterExists:
		return []string{"cluster " + s.Major + "/" + DefaultCluster + " does not exist"}
	}
	var d []string
	if s.Conf != RenderConf(c) {
		d = append(d, ConfDir(s.Major)+"/conf.d/"+ConfFileName+" differs")
	}
	if !hbaHasLine(s.HBA, HBALine(c, s.Major)) {
		d = append(d, "pg_hba.conf lacks: "+HBALine(c, s.Major))
	}
	if !s.Running {
		return append(d, "the server is not running")
	}
	if s.Encoding != "UTF8" {
		d = append(d, "server encoding is "+s.Encoding+", want UTF8")
	}
	if s.MaxConnections != spec.PostgresMaxConnections {
		d = append(d, fmt.Sprintf("max_connections is %d, want %d", s.MaxConnections, spec.PostgresMaxConnections))
	}
	if s.ListenAddresses != c.listenAddresses() {
		d = append(d, fmt.Sprintf("listen_addresses is %q, want %q", s.ListenAddresses, c.listenAddresses()))
	}
	if s.Port != c.port() {
		d = append(d, fmt.Sprintf("port is %d, want %d", s.Port, c.port()))
	}
	d = append(d, s.timezoneDrift()...)
	d = append(d, s.databaseDrift(c)...)
	return d
}

// restartNeeded: the settings PostgreSQL only takes at start differ from c.
func (s State) restartNeeded(c Config) bool {
	return s.MaxConnections != spec.PostgresMaxConnections || s.ListenAddresses != c.listenAddresses() || s.Port != c.port()
}

func (s State) databaseDrift(c Config) []string {
	var d []string
	switch {
	case !s.UserExists:
		d = append(d, "user "+c.User+" does not exist")
	case s.UserSuperuser:
		d = append(d, "user "+c.User+" is a superuser")
	case !s.UserCanLogin:
		d = append(d, "user "+c.User+" cannot log in")
	case c.Password == "":
		// Only a state that was just imported lacks the password (it cannot be read back from
		// the server), and Validate refuses an apply without one: it is not known to differ.
		d = append(d, fmt.Sprintf("the password of user %q is not known to the state after import; the apply compares it with the configured one and changes it only if they do not match", c.User))
	case !s.PasswordMatches(c.User, c.Password):
		d = append(d, "the password of user "+c.User+" differs")
	}
	switch {
	case !s.DatabaseExists:
		d = append(d, "database "+c.Database+" does not exist")
	case s.DatabaseOwner != c.User:
		d = append(d, "database "+c.Database+" is owned by "+s.DatabaseOwner)
	case !s.UserCanCreate:
		d = append(d, "user "+c.User+" cannot create in schema public of "+c.Database)
	}
	for _, o := range s.TimezoneOverrides {
		if !isUTC(o.Value) {
			d = append(d, fmt.Sprintf("%s sets timezone %q for the sessions of %s in %s, the guide requires UTC", o.File, o.Value, c.User, c.Database))
		}
	}
	return d
}

// ReadScript is the shell fragment Read runs; the resource may concatenate several recipes'
// fragments into one command and give the output to each Parse. Names come from a validated
// Config and are not secrets; the password is not needed to read.
func ReadScript(c Config) string {
	sec := func(name string) string { return guest.EchoSection("postgres", name) }
	db, user := sqlLiteral(c.Database), sqlLiteral(c.User)
	return "# read postgres\n(\ncd /tmp\n" +
		"v=" + shellQuote(versionOrEmpty(c.Version)) + "\n" +
		`[ -n "$v" ] || v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)` + "\n" +
		sec("major") + `echo "$v"` + "\n" +
		sec("cluster") + `pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1==v && $2=="` + DefaultCluster + `"'` + "\n" +
		`dir=/etc/postgresql/$v/` + DefaultCluster + "\n" +
		sec("conf") + `cat "$dir/conf.d/` + ConfFileName + `" 2>/dev/null; echo` + "\n" +
		sec("hba") + `cat "$dir/pg_hba.conf" 2>/dev/null; echo` + "\n" +
		`port=$(pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1==v && $2=="` + DefaultCluster + `" && $4 ~ /online/ {print $3}')` + "\n" +
		sec("sql") + `[ -z "$port" ] || runuser -u postgres -- psql -X -A -t -h /var/run/postgresql -p "$port" -d postgres 2>&1 <<'SQL'
SELECT 'version|' || current_setting('server_version');
SELECT 'encoding|' || current_setting('server_encoding');
SELECT name || '|' || setting FROM pg_settings WHERE name IN ('max_connections', 'listen_addresses', 'port');
SELECT 'setting|' || name || '|' || setting || '|' || coalesce(sourcefile, '') FROM pg_settings WHERE name IN ('TimeZone', 'log_timezone');
SELECT 'pending_restart|' || coalesce(string_agg(name, ','), '') FROM pg_settings WHERE pending_restart;
SELECT 'userdbs|' || count(*) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1');
SELECT 'userdb|' || datname || '|' || pg_get_userbyid(datdba) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY datname;
SELECT 'db|' || pg_encoding_to_char(encoding) || '|' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = ` + db + `;
SELECT 'role|' || rolsuper::text || '|' || rolcanlogin::text || '|' || coalesce(rolpassword, '') FROM pg_authid WHERE rolname = ` + user + `;
SQL
` + sec("dbsql") + `[ -z "$port" ] || runuser -u postgres -- psql -X -A -t -h /var/run/postgresql -p "$port" -d ` + shellQuote(c.Database) + ` 2>&1 <<'SQL'
SELECT 'can_create|' || has_schema_privilege(` + user + `, 'public', 'CREATE')::text;
SELECT 'tz_override|' || CASE WHEN s.setrole = 0 AND s.setdatabase = 0 THEN 'all roles' WHEN s.setrole = 0 THEN 'database ' || current_database() WHEN s.setdatabase = 0 THEN 'role ' || r.rolname ELSE 'role ' || r.rolname || ' in database ' || current_database() END || '|' || substr(cfg, 10) FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) AS cfg WHERE lower(cfg) LIKE 'timezone=%' AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) AND (s.setrole = 0 OR r.rolname = ` + user + `);
SQL
` + sec("end") + ")\n"
}

// Read returns the guest's PostgreSQL with one command.
func Read(ctx context.Context, r guest.Runner, c Config) (State, error) {
	out, err := r.Run(ctx, ReadScript(c), nil)
	if err != nil {
		return State{}, fmt.Errorf("read postgres: %w", err)
	}
	return Parse(string(out))
}

func fileSection(s string) string {
	s = strings.TrimSuffix(s, "\n")
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return s + "\n"
}

// Parse reads the output of ReadScript (alone or among other recipes' sections).
func Parse(out string) (State, error) {
	sec := guest.Sections(out, "postgres")
	for _, s := range []string{"major", "cluster", "conf", "hba", "sql", "dbsql", "end"} {
		if _, ok := sec[s]; !ok {
			return State{}, fmt.Errorf("read postgres: output has no %s section", s)
		}
	}
	st := State{Major: strings.TrimSpace(sec["major"]), Conf: fileSection(sec["conf"]), HBA: fileSection(sec["hba"]), Timezones: map[string]Setting{}}
	if f := strings.Fields(sec["cluster"]); len(f) >= 4 {
		st.ClusterExists = true
		st.Running = strings.HasPrefix(f[3], "online")
	}
	kv := func(body string) {
		for _, line := range strings.Split(body, "\n") {
			k, v, ok := strings.Cut(line, "|")
			if !ok {
				if strings.TrimSpace(line) != "" {
					st.Errors = append(st.Errors, strings.TrimSpace(line))
				}
				continue
			}
			switch k {
			case "version":
				st.Version = v
			case "encoding":
				st.Encoding = v
			case "max_connections":
				st.MaxConnections, _ = strconv.Atoi(v)
			case "listen_addresses":
				st.ListenAddresses = v
			case "port":
				st.Port, _ = strconv.Atoi(v)
			case "setting":
				f := strings.SplitN(v, "|", 3)
				if len(f) == 3 {
					st.Timezones[f[0]] = Setting{Value: f[1], File: f[2]}
				}
			case "pending_restart":
				if v != "" {
					st.PendingRestart = strings.Split(v, ",")
				}
			case "userdbs":
				st.UserDatabases, _ = strconv.Atoi(v)
			case "userdb":
				name, owner, _ := strings.Cut(v, "|")
				st.DatabaseOwners = append(st.DatabaseOwners, [2]string{name, owner})
			case "db":
				st.DatabaseExists = true
				st.DatabaseEncoding, st.DatabaseOwner, _ = strings.Cut(v, "|")
			case "role":
				f := strings.SplitN(v, "|", 3)
				if len(f) == 3 {
					st.UserExists = true
					st.UserSuperuser, st.UserCanLogin, st.passwordHash = isTrue(f[0]), isTrue(f[1]), f[2]
				}
			case "can_create":
				st.UserCanCreate = isTrue(v)
			case "tz_override":
				who, zone, _ := strings.Cut(v, "|")
				st.TimezoneOverrides = append(st.TimezoneOverrides, Setting{Value: zone, File: who})
			default:
				st.Errors = append(st.Errors, line)
			}
		}
	}
	kv(sec["sql"])
	kv(sec["dbsql"])
	if st.Running && st.Version == "" {
		st.Running = false // the cluster says online but psql got no answer
	}
	return st, nil
}

func isTrue(s string) bool { return s == "t" || s == "true" }

// Result says what Apply did.
type Result struct {
	Before State
	After  State
	// Changed names what was done: "cluster", "recreated cluster", "conf", "pg_hba",
	// "started", "restarted", "reloaded", "database".
	Changed []string
}

func (r *Result) did(what string) { r.Changed = append(r.Changed, what) }

// Apply brings the guest's PostgreSQL to c, changing only what differs; a second Apply with
// the same c runs no changing command. Packages must be installed (see package packages).
func Apply(ctx context.Context, r guest.Runner, c Config) (Result, error) {
	var res Result
	if err := c.Validate(); err != nil {
		return res, err
	}
	st, err := Read(ctx, r, c)
	if err != nil {
		return res, err
	}
	res.Before = st
	for attempt := 0; ; attempt++ {
		st, err = applyServer(ctx, r, c, st, &res)
		if err != nil {
			return res, err
		}
		if st.Encoding == "UTF8" {
			break
		}
		// A cluster made with another encoding (Debian follows the system locale, often C,
		// giving SQL_ASCII). Only a cluster without user databases is remade; data is never
		// dropped.
		if st.UserDatabases > 0 || attempt > 0 {
			return res, fmt.Errorf("postgres: cluster %s/%s has encoding %s, the guide requires UTF-8; it holds %d database(s), so it is not recreated: convert it or drop it (pg_dropcluster --stop %s %s)",
				st.Major, DefaultCluster, st.Encoding, st.UserDatabases, st.Major, DefaultCluster)
		}
		if _, err := r.RunChange(ctx, "# drop postgres cluster without databases\npg_dropcluster --stop "+st.Major+" "+DefaultCluster, nil); err != nil {
			return res, fmt.Errorf("postgres: drop the %s cluster: %w", st.Encoding, err)
		}
		res.did("recreated cluster")
		if st, err = Read(ctx, r, c); err != nil {
			return res, err
		}
	}
	if len(st.databaseDrift(c)) > 0 {
		script := fmt.Sprintf("# create or repair postgres user and database\ncd /tmp && runuser -u postgres -- psql -X -q -h /var/run/postgresql -p %d -d postgres", st.Port)
		if _, err := r.RunChange(ctx, script, strings.NewReader(SetupSQL(c, st.Major))); err != nil {
			return res, fmt.Errorf("postgres: set up user %s and database %s: %w", c.User, c.Database, err)
		}
		res.did("database")
		if st, err = Read(ctx, r, c); err != nil {
			return res, err
		}
		if d := st.databaseDrift(c); len(d) > 0 {
			return res, fmt.Errorf("postgres: after setup: %s", strings.Join(d, "; "))
		}
	}
	res.After = st
	return res, nil
}

// applyServer makes the cluster exist, writes the provider's files and starts, restarts or
// reloads the server as the changes require. It returns the state of the running server.
func applyServer(ctx context.Context, r guest.Runner, c Config, st State, res *Result) (State, error) {
	major := c.Version
	if major == "" {
		major = st.Major
	}
	if major == "" {
		return st, fmt.Errorf("postgres: no PostgreSQL server is installed (/usr/lib/postgresql is empty)")
	}
	var err error
	if !st.ClusterExists {
		script := fmt.Sprintf("# create postgres cluster\npg_createcluster --encoding=UTF8 --locale=C.UTF-8 --port=%d %s %s -- --auth-host=%s --auth-local=peer >/dev/null",
			c.port(), major, DefaultCluster, hbaMethod(major))
		if _, err := r.RunChange(ctx, script, nil); err != nil {
			return st, fmt.Errorf("postgres: create cluster %s/%s: %w", major, DefaultCluster, err)
		}
		res.did("cluster")
		if st, err = Read(ctx, r, c); err != nil {
			return st, err
		}
	}
	dir := ConfDir(major)
	changedConf := false
	if want := RenderConf(c); st.Conf != want {
		if err := r.WriteFile(ctx, dir+"/conf.d/"+ConfFileName, []byte(want), 0o644, "postgres:postgres"); err != nil {
			return st, fmt.Errorf("postgres: %w", err)
		}
		res.did("conf")
		changedConf = true
	}
	if want := RenderHBA(st.HBA, c, major); st.HBA != want {
		if err := r.WriteFile(ctx, dir+"/pg_hba.conf", []byte(want), 0o640, "postgres:postgres"); err != nil {
			return st, fmt.Errorf("postgres: %w", err)
		}
		res.did("pg_hba")
		changedConf = true
	}
	// A timezone that is not UTC while the files are the provider's was set elsewhere: most
	// likely ALTER SYSTEM, which the reset below drops, then a reload applies.
	tzWrong := st.Running && len(st.timezoneDrift()) > 0
	action := ""
	switch {
	case !st.Running:
		action = "start"
	case st.restartNeeded(c):
		action = "restart"
	case changedConf || tzWrong:
		action = "reload"
	}
	if action == "" {
		return st, nil
	}
	if action == "restart" || tzWrong {
		// A value set with ALTER SYSTEM (postgresql.auto.conf) overrides conf.d, so a
		// max_connections or timezone changed that way would survive the restart or reload:
		// drop such overrides of the settings this recipe owns first.
		reset := fmt.Sprintf("# reset ALTER SYSTEM overrides\ncd /tmp && runuser -u postgres -- psql -X -q -h /var/run/postgresql -p %d -d postgres", st.Port)
		if _, err := r.RunChange(ctx, reset, strings.NewReader("ALTER SYSTEM RESET max_connections;\nALTER SYSTEM RESET listen_addresses;\nALTER SYSTEM RESET port;\nALTER SYSTEM RESET timezone;\nALTER SYSTEM RESET log_timezone;\n")); err != nil {
			return st, fmt.Errorf("postgres: reset ALTER SYSTEM overrides: %w", err)
		}
	}
	script := fmt.Sprintf("# %s postgres\npg_ctlcluster %s %s %s", action, major, DefaultCluster, action)
	if _, err := r.RunChange(ctx, script, nil); err != nil {
		return st, fmt.Errorf("postgres: %s: %w", action, err)
	}
	res.did(map[string]string{"start": "started", "restart": "restarted", "reload": "reloaded"}[action])
	if st, err = Read(ctx, r, c); err != nil {
		return st, err
	}
	if !st.Running {
		return st, fmt.Errorf("postgres: the server is not running after %s: %s", action, strings.Join(st.Errors, "; "))
	}
	// A timezone set in a file read after the provider's (another conf.d file sorting later,
	// a line after include_dir) is not the provider's to remove.
	if d := st.timezoneDrift(); len(d) > 0 {
		return st, fmt.Errorf("postgres: after %s: %s; remove that setting (the provider's %s sets UTC) and apply again", action, strings.Join(d, "; "), ConfFileName)
	}
	return st, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// versionOrEmpty drops a version that is not a number, so it cannot reach the shell.
func versionOrEmpty(v string) string {
	if _, err := strconv.ParseFloat(v, 64); err != nil {
		return ""
	}
	return v
}
