package hipchat

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

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
		if g != w && (!skip || !unset) {
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

// recipe names this package's sections in read output (guest.Sections).
const recipe = "hipchat"

// ReadScript is the shell fragment Read runs. The resource may concatenate it with other
// recipes' fragments into one command and hand the output to Parse.
func ReadScript(c Commands) string {
	c = c.WithDefaults()
	// file NAME PATH prints section NAME: "present MODE OWNER" and the file's content followed
	// by a newline (so the next marker starts on its own line), or "absent".
	return "# read hipchat datacenter settings\n(\n" +
		`file() { echo "` + guest.SectionMarker(recipe, "") + `$1"; if [ -f "$2" ]; then echo "present $(stat -c '%a %U:%G' "$2")"; cat "$2"; echo; else echo absent; fi; }` + "\n" +
		"file config " + guest.Quote(c.ConfigFile) + "\n" +
		"file site " + SiteFile + "\n" +
		guest.EchoSection(recipe, "unverified") +
		`if [ -e ` + guest.Quote(c.unverifiedFile()) + ` ]; then echo yes; else echo no; fi` + "\n" +
		guest.EchoSection(recipe, "end") + ")\n"
}

// Read returns the node's data-store settings with one command.
func Read(ctx context.Context, r guest.Runner, c Commands) (State, error) {
	if err := c.Validate(); err != nil {
		return State{}, err
	}
	out, err := r.Run(ctx, ReadScript(c), nil)
	if err != nil {
		return State{}, fmt.Errorf("read hipchat datacenter settings: %w", err)
	}
	return Parse(string(out))
}

// fileSection splits a section printed by ReadScript's file function into its status words
// and the file's exact content: the script added one newline after the content, which the
// split at newlines and the join in guest.Sections took away again.
func fileSection(body string) (status []string, content []byte) {
	head, rest, _ := strings.Cut(body, "\n")
	return strings.Fields(head), []byte(rest)
}

// Parse reads the output of ReadScript (alone or among other recipes' sections).
func Parse(out string) (State, error) {
	sec := guest.Sections(out, recipe)
	for _, s := range []string{"config", "site", "unverified", "end"} {
		if _, ok := sec[s]; !ok {
			return State{}, fmt.Errorf("read hipchat datacenter settings: output has no %s section", s)
		}
	}
	var st State
	if status, content := fileSection(sec["config"]); len(status) > 0 && status[0] == "present" {
		st.ConfigPresent, st.Config = true, content
		if len(status) == 3 {
			st.ConfigMode, st.ConfigOwner = status[1], status[2]
		}
		var err error
		if st.DataStores, err = ParseConfig(content); err != nil {
			st.ConfigError = err.Error()
		}
	}
	if status, content := fileSection(sec["site"]); len(status) > 0 && status[0] == "present" {
		st.SitePresent = true
		var err error
		if st.Site, err = ParseConfig(content); err != nil {
			st.SiteError = err.Error()
		}
	}
	st.Unverified = strings.TrimSpace(sec["unverified"]) == "yes"
	return st, nil
}
