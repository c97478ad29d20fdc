package spec

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// RedisSetting is one line of the guide's "Enable persistence by setting the following
// configuration values".
type RedisSetting struct{ Name, Value string }

// RedisPersistence is that list, in the guide's order.
var RedisPersistence = []RedisSetting{
	{"appendonly", "no"},
	{"appendfsync", "everysec"},
	{"no-appendfsync-on-rewrite", "no"},
	{"auto-aof-rewrite-min-size", "64mb"},
	{"auto-aof-rewrite-percentage", "100"},
	{"stop-writes-on-bgsave-error", "yes"},
	{"rdbcompression", "yes"},
	{"maxclients", "10000"},
	{"repl-timeout", "60"},
}

// RedisDefaultPort is "Use the default Redis port of 6379."
const RedisDefaultPort = 6379

// PostgresMaxConnections is "Set the max_connections to 1000."
const PostgresMaxConnections = 1000

// PostgresGuideMajor is the version the guide names ("Deploy a Postgres instance using version
// 9.5"). Another major version is worth a warning, not a refusal: 9.5 is long out of support.
const PostgresGuideMajor = "9.5"

// RedisGuideVersion is the version the guide names ("Deploy a Redis cache using version 3.2").
// Like Postgres's, another version is worth a warning, not a refusal: 3.2 is out of support.
const RedisGuideVersion = "3.2"

// IsGuideVersion reports whether version (as a server reports it, "9.5.25", "3.2.6") is the
// guide's version guide ("9.5", "3.2") or one of its patch releases. "3.20.1" is not "3.2".
func IsGuideVersion(guide, version string) bool {
	return version == guide || strings.HasPrefix(version, guide+".")
}

// PasswordMinLength is the shortest Redis or Postgres password the provider accepts. The guide
// sets no length ("we recommend that you enable authentication, and then change the default
// password"); this is the provider's floor against a placeholder left in a configuration.
const PasswordMinLength = 8

var databaseName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)

// CheckDatabaseName applies the guide's rules for the Hipchat database: it must start with a
// letter, be between 8 and 30 characters and only include letters, numbers, dashes, periods and
// underscores. "Letters" means ASCII letters: Postgres folds and quotes anything else, and the
// Hipchat node's configuration tool does not quote.
func CheckDatabaseName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case n < 8 || n > 30:
		return fmt.Errorf("database name %q has %d characters; the guide requires 8 to 30", name, n)
	case !isASCIILetter(name[0]):
		return fmt.Errorf("database name %q must start with a letter (A-Z or a-z)", name)
	case !databaseName.MatchString(name):
		return fmt.Errorf("database name %q may only contain letters, digits, dashes, periods and underscores (found %q)", name, firstInvalid(name))
	}
	return nil
}

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CheckDatabaseUser refuses the Postgres superuser account ("Do not use the Postgres SUPERUSER
// account") and names that Postgres would need quoted.
func CheckDatabaseUser(name string) error {
	switch {
	case strings.EqualFold(name, "postgres"):
		return fmt.Errorf("database user %q is the Postgres superuser account; the guide requires a dedicated user that is not a superuser, such as hipchat_user", name)
	case strings.HasPrefix(strings.ToLower(name), "pg_"):
		return fmt.Errorf("database user %q: names starting with pg_ are reserved by Postgres", name)
	case !roleName.MatchString(name):
		return fmt.Errorf("database user %q must start with a lowercase letter or underscore and contain only lowercase letters, digits and underscores (at most 63)", name)
	}
	return nil
}

// CheckPort reports a TCP port out of range.
func CheckPort(p int64) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("port %d is out of range 1-65535", p)
	}
	return nil
}

func isASCIILetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

func isNameRune(r rune) bool {
	return r < utf8.RuneSelf && (isASCIILetter(byte(r)) || (r >= '0' && r <= '9') || r == '.' || r == '_' || r == '-')
}

func firstInvalid(s string) string {
	for _, r := range s {
		if !isNameRune(r) {
			return string(r)
		}
	}
	return ""
}
