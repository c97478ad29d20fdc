package redis

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// State is what Read finds on the guest.
type State struct {
	// Config is the content of ConfigFile ("" when absent); the fields below it come from it.
	Config        string
	ConfigPresent bool
	Bind          []string // the bind directive's addresses
	Port          int
	Password      string            // requirepass (sensitive)
	Settings      map[string]string // the guide's persistence settings as the file has them
	// Running is true when a Redis server answered on 127.0.0.1:Port with the file's password.
	Running bool
	PID     int
	// Version is the running server's (INFO server's redis_version), or when none answers the
	// installed binary's (`redis-server --version`); "" when neither says. The guide names
	// spec.RedisGuideVersion.
	Version string
	// Live are the server's effective values (CONFIG GET) of the persistence settings plus
	// "bind" and "port", in CONFIG GET's form (sizes in bytes).
	Live map[string]string
	// LiveError says why Live is empty: not running, refused, wrong password.
	LiveError string
}

// Address is the first non-loopback address of Bind, the one the nodes use.
func (s State) Address() netip.Addr {
	for _, b := range s.Bind {
		if a, err := netip.ParseAddr(strings.TrimPrefix(b, "-")); err == nil && !a.IsLoopback() {
			return a
		}
	}
	return netip.Addr{}
}

// Drift lists, in words, where the guest differs from c: the file from what Render writes,
// and the running server from the file. Empty means Apply has nothing to do.
func (s State) Drift(c Config) []string {
	var d []string
	if !s.ConfigPresent {
		return []string{ConfigFile + " is missing"}
	}
	if s.Config != Render(c) {
		for _, set := range spec.RedisPersistence {
			if got := s.Settings[set.Name]; normalize(set.Name, got) != normalize(set.Name, set.Value) {
				d = append(d, fmt.Sprintf("%s: %s is %q, the guide says %q", ConfigFile, set.Name, got, set.Value))
			}
		}
		if s.Password != c.Password {
			d = append(d, ConfigFile+": requirepass differs")
		}
		if s.Port != c.port() || s.Address() != c.Address {
			d = append(d, fmt.Sprintf("%s: listens on %v port %d, want %s port %d", ConfigFile, s.Bind, s.Port, c.Address, c.port()))
		}
		if len(d) == 0 {
			d = append(d, ConfigFile+" differs from the rendered configuration")
		}
	}
	if !s.Running {
		return append(d, "redis-server is not running: "+s.LiveError)
	}
	for _, set := range spec.RedisPersistence {
		if got, want := s.Live[set.Name], normalize(set.Name, set.Value); got != want {
			d = append(d, fmt.Sprintf("running server: %s is %q, want %q", set.Name, got, want))
		}
	}
	if s.Live["port"] != strconv.Itoa(c.port()) {
		d = append(d, fmt.Sprintf("running server: port is %s, want %d", s.Live["port"], c.port()))
	}
	if !slices.Contains(strings.Fields(s.Live["bind"]), c.Address.String()) {
		d = append(d, fmt.Sprintf("running server: bind is %q, want %s", s.Live["bind"], c.Address))
	}
	return d
}

// liveSettings are asked of the running server.
func liveSettings() []string {
	names := []string{"bind", "port"}
	for _, s := range spec.RedisPersistence {
		names = append(names, s.Name)
	}
	return names
}

// authAndRun pipes the config file's requirepass line (as AUTH) and then the given commands
// into redis-cli on stdin, so the password appears on no command line and in no environment.
// It expects $conf and $port to be set.
func authAndRun(commands ...string) string {
	return `{ sed -n 's/^requirepass /AUTH /p' "$conf"; printf '%s\n' ` + strings.Join(quoteAll(commands), " ") + `; } | timeout 10 redis-cli -h 127.0.0.1 -p "$port" 2>&1`
}

func quoteAll(ss []string) []string {
	r := make([]string, len(ss))
	for i, s := range ss {
		r[i] = "'" + s + "'"
	}
	return r
}

// ReadScript is the shell fragment Read runs. The resource may concatenate the fragments of
// several recipes into one command and hand the output to each recipe's Parse.
func ReadScript() string {
	sec := func(name string) string { return guest.EchoSection("redis", name) }
	return "# read redis\n(\nconf=" + ConfigFile + "\n" +
		sec("conf") + `cat "$conf" 2>/dev/null; echo` + "\n" +
		`port=$(sed -n 's/^port[[:space:]]\{1,\}\([0-9]*\).*/\1/p' "$conf" 2>/dev/null | tail -n 1); port=${port:-6379}` + "\n" +
		sec("live") + authAndRun("CONFIG GET "+strings.Join(liveSettings(), " ")) + "\n" +
		sec("info") + authAndRun("INFO server") + "\n" +
		sec("binary") + "redis-server --version 2>/dev/null; echo\n" +
		sec("end") + ")\n"
}

// Read returns the guest's Redis with one command.
func Read(ctx context.Context, r guest.Runner) (State, error) {
	out, err := r.Run(ctx, ReadScript(), nil)
	if err != nil {
		return State{}, fmt.Errorf("read redis: %w", err)
	}
	return Parse(string(out))
}

// Parse reads the output of ReadScript (alone or among other recipes' sections).
func Parse(out string) (State, error) {
	sec := guest.Sections(out, "redis")
	for _, s := range []string{"conf", "live", "info", "binary", "end"} {
		if _, ok := sec[s]; !ok {
			return State{}, fmt.Errorf("read redis: output has no %s section", s)
		}
	}
	st := State{Settings: map[string]string{}, Live: map[string]string{}}
	st.Config = strings.TrimSuffix(sec["conf"], "\n")
	if st.Config != "" && !strings.HasSuffix(st.Config, "\n") {
		st.Config += "\n"
	}
	st.ConfigPresent = strings.TrimSpace(st.Config) != ""
	conf, err := ParseConfig(st.Config)
	if err != nil {
		return st, err
	}
	st.Bind = strings.Fields(conf["bind"])
	st.Port = spec.RedisDefaultPort
	if p, ok := conf["port"]; ok {
		st.Port, _ = strconv.Atoi(p)
	}
	st.Password = conf["requirepass"]
	for _, s := range spec.RedisPersistence {
		if v, ok := conf[s.Name]; ok {
			st.Settings[s.Name] = v
		}
	}

	// The binary's version until the running server's is known.
	st.Version = ParseServerVersion(sec["binary"])
	live, errLine := replies(sec["live"])
	if errLine != "" {
		st.LiveError = errLine
		return st, nil
	}
	for i := 0; i+1 < len(live); i += 2 {
		st.Live[live[i]] = live[i+1]
	}
	info, _ := replies(sec["info"])
	for _, line := range info {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "redis_version":
			st.Version = v
		case "process_id":
			st.PID, _ = strconv.Atoi(v)
		}
	}
	st.Running = len(st.Live) > 0
	if !st.Running {
		st.LiveError = "no answer to CONFIG GET"
	}
	return st, nil
}

// ParseServerVersion reads the version from `redis-server --version`, which has printed
// "Redis server v=VERSION sha=..." since Redis 3.0 ("Redis server v=3.2.6 sha=00000000:0
// malloc=jemalloc-3.6.0 bits=64 build=..."). It returns "" for anything else.
func ParseServerVersion(out string) string {
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "v="); ok && v != "" && v[0] >= '0' && v[0] <= '9' {
			return v
		}
	}
	return ""
}

// replies drops redis-cli's answer to AUTH ("OK") and returns the remaining lines, or the
// first error line (connection refused, NOAUTH, WRONGPASS).
func replies(out string) ([]string, string) {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(out, "\r", ""), "\n"), "\n")
	var r []string
	for i, l := range lines {
		switch {
		case i == 0 && l == "OK":
			continue
		case strings.HasPrefix(l, "Could not connect"), strings.HasPrefix(l, "NOAUTH"), strings.HasPrefix(l, "WRONGPASS"),
			strings.HasPrefix(l, "AUTH failed"), strings.HasPrefix(l, "ERR"), strings.HasPrefix(l, "(error)"):
			return nil, l
		}
		r = append(r, l)
	}
	if len(r) == 1 && r[0] == "" {
		return nil, "redis-cli printed nothing"
	}
	return r, ""
}

// Result says what Apply did.
type Result struct {
	Before    State
	Changed   []string // "config" when the file was rewritten
	Restarted bool
}

// restartScript restarts Redis with the written file and waits until it answers with the
// password. Under systemd the packaged unit does it; elsewhere (the lab: no init system) the
// server is started as the redis user and daemonizes, as LAB-NOTES.md measured.
func restartScript() string {
	return `# restart redis-server
set -e
conf=` + ConfigFile + `
port=$(sed -n 's/^port[[:space:]]\{1,\}\([0-9]*\).*/\1/p' "$conf" | tail -n 1); port=${port:-6379}
if [ -d /run/systemd/system ]; then
	systemctl restart redis-server
else
	install -d -m 0755 -o redis -g redis /run/redis /var/log/redis
	install -d -m 0750 -o redis -g redis ` + DataDir + `
	if [ -s ` + PIDFile + ` ] && pid=$(cat ` + PIDFile + `) && kill -0 "$pid" 2>/dev/null; then
` + guest.StopPID("redis-server") + `	fi
	runuser -u redis -- redis-server "$conf" --daemonize yes
fi
` + guest.WaitUntil(authAndRun("PING")+" | grep -qx PONG", "redis-server does not answer on port $port", LogFile)
}

// Apply brings the guest's Redis to c: it reads first (one command), rewrites the
// configuration only when it differs, and restarts Redis only when the file changed, the
// server is not running, or the running server's settings differ from the file (someone used
// CONFIG SET). A second Apply with the same c runs no changing command.
func Apply(ctx context.Context, r guest.Runner, c Config) (Result, error) {
	var res Result
	if err := c.Validate(); err != nil {
		return res, err
	}
	st, err := Read(ctx, r)
	if err != nil {
		return res, err
	}
	res.Before = st
	want := Render(c)
	if st.Config != want {
		// 0640 root:redis: the redis user reads the password, nobody else does.
		if err := r.WriteFile(ctx, ConfigFile, []byte(want), 0o640, "root:redis"); err != nil {
			return res, fmt.Errorf("redis: %w", err)
		}
		res.Changed = append(res.Changed, "config")
	}
	if len(res.Changed) > 0 || len(st.Drift(c)) > 0 {
		if _, err := r.RunChange(ctx, restartScript(), nil); err != nil {
			return res, fmt.Errorf("redis: restart: %w", err)
		}
		res.Restarted = true
	}
	return res, nil
}
