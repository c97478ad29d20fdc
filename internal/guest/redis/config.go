// Package redis configures the Redis cache of the guide's data-stores VM: the default port,
// a password, exactly the guide's persistence settings, listening on the VM's private address.
//
// The provider owns the whole configuration file (rendered from Config, golden-file tested),
// so what the guest runs is exactly what the plan says. Read costs one command: it prints the
// file and asks the running server for its effective settings, so a hand edit of the file or a
// CONFIG SET at runtime shows as drift. Apply changes only what differs and restarts Redis
// only when its configuration changed.
//
// The password never appears on a command line: it lives in the configuration file (mode 0640
// root:redis), and the read command feeds the file's own requirepass line to redis-cli as an
// AUTH command on stdin.
package redis

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// Files and programs of the Debian packaging (redis-server).
const (
	ConfigFile = "/etc/redis/redis.conf"
	PIDFile    = "/run/redis/redis-server.pid"
	LogFile    = "/var/log/redis/redis-server.log"
	DataDir    = "/var/lib/redis"
)

// Packages is what a guest needs for this recipe (redis-server pulls in redis-tools, which
// has redis-cli).
var Packages = []string{"redis-server", "redis-tools"}

// Config is the Redis a user asks for.
type Config struct {
	// Address is the private address Redis listens on (the VM's static address); Redis also
	// listens on 127.0.0.1, where the provider's own checks connect.
	Address netip.Addr
	// Port is spec.RedisDefaultPort when zero.
	Port int
	// Password is Redis's requirepass (sensitive).
	Password string
}

func (c Config) port() int {
	if c.Port == 0 {
		return spec.RedisDefaultPort
	}
	return c.Port
}

// Validate checks what Render would otherwise write wrongly.
func (c Config) Validate() error {
	if !c.Address.IsValid() || !c.Address.Is4() {
		return fmt.Errorf("redis: listen address %v is not an IPv4 address", c.Address)
	}
	if err := spec.CheckPort(int64(c.port())); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if c.Password == "" {
		return fmt.Errorf("redis: the password is empty; the guide asks for authentication")
	}
	if strings.ContainsRune(c.Password, 0) {
		return fmt.Errorf("redis: the password contains a NUL character")
	}
	return nil
}

// Render returns the configuration file for c: Debian's daemon settings, the network
// settings, the password and the guide's persistence list, in the guide's order.
func Render(c Config) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Managed by terraform-provider-hipchatdc (hipchatdc_datastore_node); changes are overwritten.")
	w("# Hipchat Data Center small-scale guide: Redis cache requirements.")
	w("")
	w("bind %s 127.0.0.1", c.Address)
	w("protected-mode yes")
	w("port %d", c.port())
	w("tcp-keepalive 300")
	w("")
	w("# Overridden by systemd's unit (--daemonize no); used where Redis is started directly.")
	w("daemonize yes")
	w("pidfile %s", PIDFile)
	w("loglevel notice")
	w("logfile %s", LogFile)
	w("dir %s", DataDir)
	w("dbfilename dump.rdb")
	w("")
	w("requirepass %s", quote(c.Password))
	w("")
	w("# Persistence, exactly as the guide lists it.")
	for _, s := range spec.RedisPersistence {
		w("%s %s", s.Name, s.Value)
	}
	return b.String()
}

// quote writes s as a Redis configuration argument: double-quoted with the escapes Redis's
// own parser (sdssplitargs) understands, so any password survives the round trip.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// splitArgs is Redis's sdssplitargs for one configuration line: words, "double quoted" with
// escapes, or 'single quoted'.
func splitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			return args, nil
		}
		var cur strings.Builder
		switch line[i] {
		case '"':
			i++
			for ; ; i++ {
				if i >= len(line) {
					return nil, fmt.Errorf("unbalanced quotes")
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) {
					i++
					switch e := line[i]; e {
					case 'n':
						cur.WriteByte('\n')
					case 'r':
						cur.WriteByte('\r')
					case 't':
						cur.WriteByte('\t')
					case 'b':
						cur.WriteByte('\b')
					case 'a':
						cur.WriteByte('\a')
					case 'x':
						if i+2 < len(line) {
							if v, err := strconv.ParseUint(line[i+1:i+3], 16, 8); err == nil {
								cur.WriteByte(byte(v))
								i += 2
								continue
							}
						}
						cur.WriteByte(e)
					default:
						cur.WriteByte(e)
					}
					continue
				}
				cur.WriteByte(c)
			}
		case '\'':
			i++
			for ; ; i++ {
				if i >= len(line) {
					return nil, fmt.Errorf("unbalanced quotes")
				}
				if line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					cur.WriteByte('\'')
					i++
					continue
				}
				if line[i] == '\'' {
					i++
					break
				}
				cur.WriteByte(line[i])
			}
		default:
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				cur.WriteByte(line[i])
				i++
			}
		}
		args = append(args, cur.String())
	}
}

// ParseConfig reads a redis.conf into directive -> arguments (joined by one space). The last
// occurrence wins, as in Redis. Comments and blank lines are skipped.
func ParseConfig(conf string) (map[string]string, error) {
	m := map[string]string{}
	for n, line := range strings.Split(conf, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		args, err := splitArgs(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", ConfigFile, n+1, err)
		}
		if len(args) == 0 {
			continue
		}
		m[strings.ToLower(args[0])] = strings.Join(args[1:], " ")
	}
	return m, nil
}

// normalize gives a setting's value the form CONFIG GET reports, so the file and the server
// compare: memory sizes in bytes ("64mb" -> "67108864"), yes/no in lower case.
func normalize(name, v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if name == "auto-aof-rewrite-min-size" || strings.HasSuffix(name, "-size") || name == "maxmemory" {
		units := []struct {
			suffix string
			mul    int64
		}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}}
		for _, u := range units {
			if n, ok := strings.CutSuffix(v, u.suffix); ok {
				if i, err := strconv.ParseInt(n, 10, 64); err == nil {
					return strconv.FormatInt(i*u.mul, 10)
				}
			}
		}
	}
	return v
}
