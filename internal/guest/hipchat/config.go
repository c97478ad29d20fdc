package hipchat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// DefaultPostgresPort is used when DataStores.PostgresPort is zero.
const DefaultPostgresPort = 5432

// DataStores is what a node needs to know about the data-stores VM and the cluster.
type DataStores struct {
	PostgresHost string
	PostgresPort int // 0: DefaultPostgresPort
	Database     string
	User         string
	Password     string // the database user's password (sensitive)

	RedisHost     string
	RedisPort     int    // 0: spec.RedisDefaultPort
	RedisPassword string // (sensitive)

	NFSExport string // host:/path, the shared storage location
	PublicURL string // https://chat.example.com, the address users reach the cluster at
}

func (d DataStores) postgresPort() int {
	if d.PostgresPort == 0 {
		return DefaultPostgresPort
	}
	return d.PostgresPort
}

func (d DataStores) redisPort() int {
	if d.RedisPort == 0 {
		return spec.RedisDefaultPort
	}
	return d.RedisPort
}

// secrets are the values that must never appear in errors or logs.
func (d DataStores) secrets() []string { return []string{d.Password, d.RedisPassword} }

// Validate reports values the node's configuration cannot carry. Error messages never
// contain the passwords.
func (d DataStores) Validate() error {
	var errs []error
	host := func(name, h string) {
		switch {
		case h == "":
			errs = append(errs, fmt.Errorf("%s is empty", name))
		case strings.ContainsAny(h, " \t\r\n/\"'\\$;"):
			errs = append(errs, fmt.Errorf("%s %q is not a host name or address", name, h))
		}
	}
	host("postgres host", d.PostgresHost)
	host("redis host", d.RedisHost)
	if err := spec.CheckPort(int64(d.postgresPort())); err != nil {
		errs = append(errs, fmt.Errorf("postgres: %w", err))
	}
	if err := spec.CheckPort(int64(d.redisPort())); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	if err := spec.CheckDatabaseName(d.Database); err != nil {
		errs = append(errs, err)
	}
	if err := spec.CheckDatabaseUser(d.User); err != nil {
		errs = append(errs, err)
	}
	if d.Password == "" {
		errs = append(errs, errors.New("the database password is empty"))
	}
	if d.RedisPassword == "" {
		errs = append(errs, errors.New("the Redis password is empty"))
	}
	if h, p, ok := strings.Cut(d.NFSExport, ":"); !ok || h == "" || !strings.HasPrefix(p, "/") || strings.ContainsAny(d.NFSExport, " \t\r\n?#") {
		errs = append(errs, fmt.Errorf("NFS export %q must be host:/path", d.NFSExport))
	}
	if u, err := url.Parse(d.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		strings.ContainsAny(d.PublicURL, " \t\r\n\"'\\$;") {
		errs = append(errs, fmt.Errorf("public URL %q must be an http(s) URL such as https://chat.example.com", d.PublicURL))
	}
	return errors.Join(errs...)
}

// config is the config.json as the appliance reads it. The field order is the file's key
// order: alphabetical, so the rendering is stable whatever order the values were given in.
type config struct {
	DatabaseName          string `json:"database-name"`
	DatabasePassword      string `json:"database-password"`
	DatabaseServer        string `json:"database-server"`
	DatabaseUser          string `json:"database-user"`
	PublicURL             string `json:"public-url"`
	RedisPassword         string `json:"redis-password"`
	RedisServer           string `json:"redis-server"`
	SharedStorageLocation string `json:"shared-storage-location"`
}

// Render returns the node's config.json for d: one key per line, two-space indented, a final
// newline, no HTML escaping (a password with < or & stays as typed).
func Render(d DataStores) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(config{
		DatabaseName:          d.Database,
		DatabasePassword:      d.Password,
		DatabaseServer:        net.JoinHostPort(d.PostgresHost, strconv.Itoa(d.postgresPort())),
		DatabaseUser:          d.User,
		PublicURL:             d.PublicURL,
		RedisPassword:         d.RedisPassword,
		RedisServer:           net.JoinHostPort(d.RedisHost, strconv.Itoa(d.redisPort())),
		SharedStorageLocation: d.NFSExport,
	})
	return b.Bytes(), err
}

// ParseConfig reads a config.json (or site.json) back into DataStores. Unknown keys are
// ignored: the appliance may keep more settings in site.json than the provider manages.
func ParseConfig(b []byte) (DataStores, error) {
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		// json's message may quote the offending text, which could be a password.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return DataStores{}, fmt.Errorf("not valid JSON (at byte %d)", syn.Offset)
		}
		return DataStores{}, errors.New("not a JSON object of strings")
	}
	d := DataStores{
		Database: c.DatabaseName, User: c.DatabaseUser, Password: c.DatabasePassword,
		RedisPassword: c.RedisPassword, NFSExport: c.SharedStorageLocation, PublicURL: c.PublicURL,
	}
	var err error
	if d.PostgresHost, d.PostgresPort, err = splitHostPort(c.DatabaseServer); err != nil {
		return d, fmt.Errorf("database-server: %w", err)
	}
	if d.RedisHost, d.RedisPort, err = splitHostPort(c.RedisServer); err != nil {
		return d, fmt.Errorf("redis-server: %w", err)
	}
	return d, nil
}

func splitHostPort(s string) (string, int, error) {
	if s == "" {
		return "", 0, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port", s)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port", s)
	}
	return h, port, nil
}
