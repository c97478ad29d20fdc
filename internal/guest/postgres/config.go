// Package postgres configures the PostgreSQL server of the guide's data-stores VM: UTF-8,
// max_connections = 1000, UTC, listening on the VM's private address, password (SCRAM)
// access for the Hipchat nodes' network, and the Hipchat database owned by a user that is
// not a superuser.
//
// It works with Debian's postgresql-common layout (clusters under /etc/postgresql/V/NAME,
// pg_createcluster, pg_ctlcluster). The provider's settings live in their own file in the
// cluster's conf.d and in a marked block of pg_hba.conf, so the rest of the configuration
// stays the administrator's. Read is one command; Apply changes only what differs, restarts
// only for settings that need it (max_connections, listen_addresses, port) and reloads for the
// rest. The password travels only on psql's stdin.
package postgres

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// Defaults and names of Debian's packaging.
const (
	DefaultPort    = 5432
	DefaultCluster = "main"
	ConfFileName   = "hipchatdc.conf" // in /etc/postgresql/V/CLUSTER/conf.d
	hbaBegin       = "# BEGIN hipchatdc: Hipchat nodes (managed by terraform-provider-hipchatdc)"
	hbaEnd         = "# END hipchatdc"
)

// Packages is what a guest needs for this recipe: the server (any major, through Debian's
// metapackage) and its client.
var Packages = []string{"postgresql", "postgresql-client"}

// Config is the PostgreSQL a user asks for.
type Config struct {
	Address     netip.Addr   // listen address (the VM's private address); 127.0.0.1 is added
	Port        int          // DefaultPort when zero
	AllowedCIDR netip.Prefix // the Hipchat nodes' network, allowed in pg_hba.conf
	Database    string       // checked by spec.CheckDatabaseName
	User        string       // checked by spec.CheckDatabaseUser; never a superuser
	Password    string       // sensitive
	// Version is the major version whose cluster is used ("15"); the newest installed when
	// empty.
	Version string
}

func (c Config) port() int {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

// Validate checks c before anything is written: names end up in SQL and file names.
func (c Config) Validate() error {
	if !c.Address.IsValid() || !c.Address.Is4() {
		return fmt.Errorf("postgres: listen address %v is not an IPv4 address", c.Address)
	}
	if !c.AllowedCIDR.IsValid() {
		return fmt.Errorf("postgres: the nodes' network (CIDR) is not set")
	}
	if err := spec.CheckPort(int64(c.port())); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := spec.CheckDatabaseName(c.Database); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := spec.CheckDatabaseUser(c.User); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if c.Password == "" || strings.ContainsRune(c.Password, 0) {
		return fmt.Errorf("postgres: the password must be set and must not contain NUL")
	}
	if c.Version != "" {
		if _, err := strconv.ParseFloat(c.Version, 64); err != nil {
			return fmt.Errorf("postgres: version %q is not a major version such as 15", c.Version)
		}
	}
	return nil
}

// listenAddresses is the listen_addresses value for c.
func (c Config) listenAddresses() string { return c.Address.String() + ",127.0.0.1" }

// RenderConf returns the provider's conf.d file. It is read after postgresql.conf
// (include_dir comes last in Debian's file), so these values win over the shipped ones.
func RenderConf(c Config) string {
	return "# Managed by terraform-provider-hipchatdc (hipchatdc_datastore_node); changes are overwritten.\n" +
		"# Hipchat Data Center small-scale guide: Postgres database requirements.\n" +
		"listen_addresses = '" + c.listenAddresses() + "'\n" +
		"port = " + strconv.Itoa(c.port()) + "\n" +
		"max_connections = " + strconv.Itoa(spec.PostgresMaxConnections) + "\n" +
		"password_encryption = 'scram-sha-256'\n" +
		"timezone = 'UTC'\n" +
		"log_timezone = 'UTC'\n"
}

// hbaMethod is the strongest password method the server has: SCRAM since PostgreSQL 10.
func hbaMethod(major string) string {
	if v, err := strconv.ParseFloat(major, 64); err == nil && v < 10 {
		return "md5"
	}
	return "scram-sha-256"
}

// HBALine is the pg_hba.conf rule that lets the nodes in.
func HBALine(c Config, major string) string {
	return fmt.Sprintf("host\t%s\t%s\t%s\t%s", c.Database, c.User, c.AllowedCIDR.Masked(), hbaMethod(major))
}

// RenderHBA returns pg_hba.conf with the provider's block (replaced where it is, appended
// otherwise). Every other line stays: the first matching rule wins, and the shipped rules only
// match local connections and loopback, so appending does not shadow anything.
func RenderHBA(hba string, c Config, major string) string {
	block := []string{hbaBegin, HBALine(c, major), hbaEnd}
	var out []string
	in, placed := false, false
	for _, line := range strings.Split(strings.TrimRight(hba, "\n"), "\n") {
		switch {
		case line == hbaBegin:
			in = true
			if !placed {
				out = append(out, block...)
				placed = true
			}
			continue
		case in && line == hbaEnd:
			in = false
			continue
		case in:
			continue
		}
		out = append(out, line)
	}
	if hba == "" {
		out = nil
	}
	if !placed {
		if len(out) > 0 && out[len(out)-1] != "" {
			out = append(out, "")
		}
		out = append(out, block...)
	}
	return strings.Join(out, "\n") + "\n"
}

// hbaHasLine reports whether the provider's block holds exactly line.
func hbaHasLine(hba, line string) bool {
	in := false
	for _, l := range strings.Split(hba, "\n") {
		switch {
		case l == hbaBegin:
			in = true
		case l == hbaEnd:
			in = false
		case in && l == line:
			return true
		}
	}
	return false
}

// sqlLiteral quotes s as a standard SQL string literal (standard_conforming_strings is on
// since 9.1: backslashes are plain characters).
func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ident quotes a name already checked by spec (letters, digits, . _ -).
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// SetupSQL is what psql runs (on stdin) to create or repair the user and the database:
// the user logs in with the password, is no superuser, owns the database (so on PostgreSQL
// 15, where the public schema belongs to the database owner, CREATE TABLE works) and has
// GRANT ALL on the database and its public schema; no ALTER DATABASE or ALTER ROLE timezone
// applies to its sessions.
func SetupSQL(c Config, major string) string {
	u, d := ident(c.User), ident(c.Database)
	enc := ""
	if hbaMethod(major) == "scram-sha-256" {
		enc = "SET password_encryption = 'scram-sha-256';\n"
	}
	return "\\set ON_ERROR_STOP on\n" + enc +
		"SELECT 'CREATE ROLE " + u + " LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = " + sqlLiteral(c.User) + ")\\gexec\n" +
		"ALTER ROLE " + u + " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD " + sqlLiteral(c.Password) + ";\n" +
		"SELECT 'CREATE DATABASE " + d + " OWNER " + u + " ENCODING ''UTF8'' TEMPLATE template0' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = " + sqlLiteral(c.Database) + ")\\gexec\n" +
		"ALTER DATABASE " + d + " OWNER TO " + u + ";\n" +
		"GRANT ALL PRIVILEGES ON DATABASE " + d + " TO " + u + ";\n" +
		// The guide wants the instance in UTC: no per-database or per-role timezone may
		// override the server's for the Hipchat user's sessions.
		"ALTER DATABASE " + d + " RESET timezone;\n" +
		"ALTER ROLE " + u + " RESET timezone;\n" +
		"ALTER ROLE " + u + " IN DATABASE " + d + " RESET timezone;\n" +
		"ALTER ROLE ALL RESET timezone;\n" +
		"\\connect " + d + "\n" +
		"GRANT ALL ON SCHEMA public TO " + u + ";\n"
}
