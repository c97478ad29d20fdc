package guest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Endpoint is one SSH server and how to log in to it. The fields mirror Terraform's
// connection block (and its bastion_* variants).
type Endpoint struct {
	Host string
	Port int // 22 when zero
	User string

	// Credentials: any combination; each configured method is offered in the order
	// private key, agent, password.
	Password   string
	PrivateKey string // PEM (OpenSSH, PKCS#1, PKCS#8)
	Passphrase string // for an encrypted PrivateKey
	Agent      bool   // use the ssh-agent at SSH_AUTH_SOCK

	// Host key verification: exactly one of these is required.
	HostKey               string // pinned public key in authorized_keys format ("ssh-ed25519 AAAA...")
	KnownHostsFile        string // an OpenSSH known_hosts file
	InsecureIgnoreHostKey bool   // explicit opt-in to skip verification; callers should warn loudly
	// HostKeyOrigin says, in messages, where HostKey comes from when the provider pinned it
	// itself (the key a moved guest proved at its old address); "" is the user's host_key.
	HostKeyOrigin string
}

// Config says how to reach a guest.
type Config struct {
	Target  Endpoint
	Bastion *Endpoint // jump host, reached first; the target is dialled from it (direct-tcpip)

	// Timeout is the total budget for connecting. Failures that a booting guest produces
	// (connection refused, no route, timeouts, a connection reset during the handshake) are
	// retried until it runs out; authentication and host key failures are final at once, but
	// for a host that is not in the KnownHostsFile at all: the file is read again on each
	// attempt for UnknownHostGrace (within this budget), as a tool may add the host's line
	// just after the host starts answering. DefaultTimeout when zero.
	Timeout time.Duration

	// KeepAliveInterval is how often an idle or busy connection is probed; a peer that does
	// not answer within the same interval is declared dead and the connection is closed, so a
	// command never hangs forever on a guest that vanished. DefaultKeepAliveInterval when zero.
	KeepAliveInterval time.Duration
}

// Defaults used when a Config leaves a field zero.
const (
	DefaultTimeout           = 5 * time.Minute // as Terraform's connection timeout
	DefaultKeepAliveInterval = 10 * time.Second
)

// UnknownHostGrace is how long a host that answers but is not in the known_hosts file is
// retried, the file read again each time. Whoever maintains the file gets this long to add a
// host that just came up (the lab writes it on a 250 ms poll, which a busy machine delays); a
// key that contradicts the file is final at once.
const UnknownHostGrace = 10 * time.Second

func (e *Endpoint) address() string {
	port := e.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(port))
}

// validate reports configuration mistakes before anything is dialled. role is "host" or
// "bastion_host", the name the user knows the endpoint by.
func (e *Endpoint) validate(role string) error {
	if e.Host == "" {
		return fmt.Errorf("%s is empty", role)
	}
	if e.Port < 0 || e.Port > 65535 {
		return fmt.Errorf("%s %s: port %d is out of range", role, e.Host, e.Port)
	}
	if e.User == "" {
		return fmt.Errorf("%s %s: user is empty", role, e.Host)
	}
	if e.Password == "" && e.PrivateKey == "" && !e.Agent {
		return fmt.Errorf("%s %s: no credentials: set private_key, agent or password", role, e.Host)
	}
	n := 0
	for _, set := range []bool{e.HostKey != "", e.KnownHostsFile != "", e.InsecureIgnoreHostKey} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return &HostKeyError{Host: e.Host, msg: fmt.Sprintf(
			"no host key verification configured for %s: set host_key (the server's public key, e.g. the line from /etc/ssh/ssh_host_ed25519_key.pub), "+
				"a known_hosts file, or explicitly opt in to insecure_ignore_host_key", e.Host)}
	case n > 1:
		return fmt.Errorf("%s %s: set only one of host_key, known_hosts and insecure_ignore_host_key", role, e.Host)
	}
	return nil
}

// Validate reports the configuration mistakes Dial would refuse before dialling, so that a
// caller can refuse them before it creates what it is about to connect to.
func (c *Config) Validate() error { return c.validate() }

func (c *Config) validate() error {
	if err := c.Target.validate("host"); err != nil {
		return err
	}
	if c.Bastion != nil {
		if err := c.Bastion.validate("bastion_host"); err != nil {
			return err
		}
	}
	if c.Timeout < 0 || c.KeepAliveInterval < 0 {
		return errors.New("timeout and keep-alive interval must not be negative")
	}
	return nil
}

func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c *Config) keepAlive() time.Duration {
	if c.KeepAliveInterval == 0 {
		return DefaultKeepAliveInterval
	}
	return c.KeepAliveInterval
}
