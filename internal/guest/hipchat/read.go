package hipchat

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Runner runs commands on a guest; *guest.Conn is one.
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
	RunChange(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode, owner string) error
}

// The appliance's command line and files.
const (
	// SiteFile is where the node keeps its settings.
	SiteFile = "/hipchat/config/site.json"
	// DefaultConfigFile is where the provider writes the config.json it hands to configure.
	DefaultConfigFile = "/hipchat/config/datacenter.json"
	// DefaultConfigure installs a config.json; {file} is replaced by the shell-quoted path of
	// the config file.
	DefaultConfigure = "hipchat datacenter configure --file {file}"
	// DefaultSelfCheck verifies that the node reaches Postgres, Redis and NFS.
	DefaultSelfCheck = "hipchat datacenter selfcheck"
)

// Commands are the appliance's command lines. Empty fields take the defaults above.
type Commands struct {
	Configure  string // {file} is replaced by the config file's path, shell-quoted
	SelfCheck  string
	ConfigFile string // absolute path of the config.json the provider writes
}

// WithDefaults fills empty fields with the defaults.
func (c Commands) WithDefaults() Commands {
	if c.Configure == "" {
		c.Configure = DefaultConfigure
	}
	if c.SelfCheck == "" {
		c.SelfCheck = DefaultSelfCheck
	}
	if c.ConfigFile == "" {
		c.ConfigFile = DefaultConfigFile
	}
	return c
}

// Validate checks c after defaults.
func (c Commands) Validate() error {
	c = c.WithDefaults()
	if !path.IsAbs(c.ConfigFile) || path.Clean(c.ConfigFile) != c.ConfigFile || c.ConfigFile == SiteFile {
		return fmt.Errorf("config file %q must be an absolute, clean path other than %s", c.ConfigFile, SiteFile)
	}
	return nil
}

// configureLine is the configure command with the config file's path filled in.
func (c Commands) configureLine() string {
	return strings.ReplaceAll(c.Configure, "{file}", guest.Quote(c.ConfigFile))
}

// unverifiedFile marks a config file that Apply wrote but whose self-check has not passed yet.
func (c Commands) unverifiedFile() string {
	return path.Join(path.Dir(c.ConfigFile), "."+path.Base(c.ConfigFile)+".unverified")
}

// State is what Read finds on the node. Config, DataStores and Site hold the passwords.
type State struct {
	ConfigPresent bool
	Config        []byte     // the config file as deployed
	ConfigMode    string     // octal permissions, e.g. "600"
	ConfigOwner   string     // "user:group"
	DataStores    DataStores // parsed from Config
	ConfigError   string     // why Config could not be parsed ("" when it could)

	SitePresent bool
	Site        DataStores // what SiteFile says: the settings the node runs with
	SiteError   string

	// Unverified is true when Apply wrote the config file and configure or the self-check
	// did not pass afterwards.
	Unverified bool
}

// Drift lists, in words and without secrets, where the node differs from d under c. Empty
// means Apply has nothing to do.
func (s State) Drift(d DataStores, c Commands) []string {
	c = c.WithDefaults()
	want, err := Render(d)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	switch {
	case !s.ConfigPresent:
		out = append(out, c.ConfigFile+" is missing")
	case string(s.Config) != string(want):
		if s.ConfigError != "" {
			out = append(out, c.ConfigFile+": "+s.ConfigError)
		} else if f := differences(s.DataStores, d); len(f) > 0 {
			out = append(out, c.ConfigFile+": "+strings.Join(f, ", ")+" differ")
		} else {
			out = append(out, c.ConfigFile+" is not in the rendered form")
		}
	}
	if s.ConfigPresent && (s.ConfigMode != "600" || s.ConfigOwner != "root:root") {
		out = append(out, fmt.Sprintf("%s has mode %s owner %s, want 600 root:root", c.ConfigFile, s.ConfigMode, s.ConfigOwner))
	}
	switch {
	case !s.SitePresent:
		out = append(out, SiteFile+" is missing: the node is not configured")
	case s.SiteError != "":
		out = append(out, SiteFile+": "+s.SiteError)
	default:
		if f := differences(s.Site, d, true); len(f) > 0 {
			out = append(out, SiteFile+": "+strings.Join(f, ", ")+" differ")
		}
	}
	if s.Unverified {
		out = append(out, "the self-check has not passed since "+c.ConfigFile+" was written")
	}
	return out
}

// differences names the config.json keys whose values differ between got and want. With
// skipUnset, keys that got does not have are not counted: the appliance's site.json may keep
// a setting under another name, and that must not make every Apply reconfigure the node.
func differences(got, want DataStores, skipUnset ...bool) []string {
	want.PostgresPort, want.RedisPort = want.postgresPort(), want.redisPort()
	skip := len(skipUnset) > 0 && skipUnset[0]
	var out []string
	check := func(key string, g, w any, unset bool) {
		if g != w && !(skip && unset) {
			out = append(out, key)
		}
	}
	check("database-server", [2]any{got.PostgresHost, got.PostgresPort}, [2]any{want.PostgresHost, want.PostgresPort}, got.PostgresHost == "")
	check("database-name", got.Database, want.Database, got.Database == "")
	check("database-user", got.User, want.User, got.User == "")
	check("database-password", got.Password, want.Password, got.Password == "")
	check("redis-server", [2]any{got.RedisHost, got.RedisPort}, [2]any{want.RedisHost, want.RedisPort}, got.RedisHost == "")
	check("redis-password", got.RedisPassword, want.RedisPassword, got.RedisPassword == "")
	check("shared-storage-location", got.NFSExport, want.NFSExport, got.NFSExport == "")
	check("public-url", got.PublicURL, want.PublicURL, got.PublicURL == "")
	return out
}

// marker starts each section of the read output; no line of a JSON file the provider wrote
// starts with it.
const marker = "@@hipchatdc-hipchat@@ "

// ReadScript is the shell fragment Read runs. The resource may concatenate it with other
// recipes' fragments into one command and hand the output to Parse.
func ReadScript(c Commands) string {
	c = c.WithDefaults()
	// file NAME PATH prints a section header "NAME present MODE OWNER" or "NAME absent" and
	// the file's content, followed by a newline so the next header starts on its own line.
	return "# read hipchat datacenter settings\n(\n" +
		`file() { if [ -f "$2" ]; then echo "` + marker + `$1 present $(stat -c '%a %U:%G' "$2")"; cat "$2"; echo; else echo "` + marker + `$1 absent"; fi; }` + "\n" +
		"file config " + guest.Quote(c.ConfigFile) + "\n" +
		"file site " + SiteFile + "\n" +
		`if [ -e ` + guest.Quote(c.unverifiedFile()) + ` ]; then echo "` + marker + `unverified yes"; else echo "` + marker + `unverified no"; fi` + "\n" +
		`echo "` + marker + `end"` + "\n)\n"
}

// Read returns the node's data-store settings with one command.
func Read(ctx context.Context, r Runner, c Commands) (State, error) {
	if err := c.Validate(); err != nil {
		return State{}, err
	}
	out, err := r.Run(ctx, ReadScript(c), nil)
	if err != nil {
		return State{}, fmt.Errorf("read hipchat datacenter settings: %w", err)
	}
	return Parse(string(out))
}

type section struct {
	fields []string // the header's words after the name
	body   string
}

// sections splits read output at this package's markers, ignoring other recipes' output.
func sections(out string) map[string]section {
	m := map[string]section{}
	name := ""
	var cur section
	var body []string
	flush := func() {
		if name != "" {
			cur.body = strings.Join(body, "\n")
			m[name] = cur
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, marker); ok {
			flush()
			f := strings.Fields(rest)
			name, cur, body = "", section{}, nil
			if len(f) > 0 {
				name, cur.fields = f[0], f[1:]
			}
			continue
		}
		if strings.HasPrefix(line, "@@hipchatdc-") {
			flush()
			name, body = "", nil
			continue
		}
		body = append(body, line)
	}
	flush()
	return m
}

// Parse reads the output of ReadScript (alone or among other recipes' sections).
func Parse(out string) (State, error) {
	sec := sections(out)
	for _, s := range []string{"config", "site", "unverified", "end"} {
		if _, ok := sec[s]; !ok {
			return State{}, fmt.Errorf("read hipchat datacenter settings: output has no %s section", s)
		}
	}
	var st State
	if cf := sec["config"]; len(cf.fields) > 0 && cf.fields[0] == "present" {
		st.ConfigPresent = true
		// The script printed the content and one newline, which the split at newlines and the
		// join in sections took away again: body is the file's exact content.
		st.Config = []byte(cf.body)
		if len(cf.fields) == 3 {
			st.ConfigMode, st.ConfigOwner = cf.fields[1], cf.fields[2]
		}
		var err error
		if st.DataStores, err = ParseConfig(st.Config); err != nil {
			st.ConfigError = err.Error()
		}
	}
	if sf := sec["site"]; len(sf.fields) > 0 && sf.fields[0] == "present" {
		st.SitePresent = true
		var err error
		if st.Site, err = ParseConfig([]byte(sf.body)); err != nil {
			st.SiteError = err.Error()
		}
	}
	st.Unverified = len(sec["unverified"].fields) > 0 && sec["unverified"].fields[0] == "yes"
	return st, nil
}
