package guest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"golang.org/x/crypto/ssh"
)

// Conn is an SSH connection to a guest, possibly through a bastion. It is safe for concurrent
// use; each command runs in its own session.
type Conn struct {
	cfg     Config
	client  *ssh.Client
	hostKey ssh.PublicKey // the target's key, as verified (or, with the insecure opt-in, as seen)
	bastion *ssh.Client
	done    chan struct{}
	once    sync.Once
	tallies []*Tally // where its connection and commands are counted (Stats, WithTally)
}

// dialFunc opens the transport to an SSH server: a TCP connection, or a channel through a
// bastion.
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

// Dial connects to cfg.Target (through cfg.Bastion when set), retrying while the guest boots
// and failing at once, with a clear message, on host key or authentication problems.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()

	direct := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	c := &Conn{cfg: cfg, done: make(chan struct{}), tallies: tallies(ctx)}
	dial := direct
	if cfg.Bastion != nil {
		b, _, err := connect(ctx, cfg.Bastion, "bastion_host", direct, cfg.timeout())
		if err != nil {
			return nil, err
		}
		for _, t := range c.tallies {
			t.bastionConnections.Add(1)
		}
		c.bastion = b
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return b.DialContext(ctx, "tcp", addr) }
	}
	client, hostKey, err := connect(ctx, &cfg.Target, "host", dial, cfg.timeout())
	if err != nil {
		if c.bastion != nil {
			c.bastion.Close()
		}
		return nil, err
	}
	for _, t := range c.tallies {
		t.connections.Add(1)
	}
	c.client, c.hostKey = client, hostKey
	go c.keepAlive(client)
	if c.bastion != nil {
		go c.keepAlive(c.bastion)
	}
	tflog.Debug(ctx, "guest: connected", map[string]any{"host": cfg.Target.Host, "user": cfg.Target.User, "via_bastion": cfg.Bastion != nil})
	return c, nil
}

// Config returns the configuration the connection was made with, so that a caller can reach
// the same guest again, e.g. at a new address.
func (c *Conn) Config() Config { return c.cfg }

// HostKey is the target's host key as it was verified when the connection was made (with
// InsecureIgnoreHostKey: as the target presented it). Pinning it is how the same guest is
// recognised at another address, e.g. after its address changed: a stronger check than a
// known_hosts lookup, which only says that some key is expected there.
func (c *Conn) HostKey() ssh.PublicKey { return c.hostKey }

// Host is the target's host as configured.
func (c *Conn) Host() string { return c.cfg.Target.Host }

// Close closes the connection (and the bastion connection, if any).
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.client.Close()
		if c.bastion != nil {
			c.bastion.Close()
		}
	})
	return err
}

// connect establishes one SSH client connection, retrying transient failures until ctx ends.
// It returns the host key it verified.
//
// The host key check is built anew for each attempt: a known_hosts file is read again, since
// whoever maintains it may add the host's line only after the host already answers (the lab
// does so on a poll). A host that is not in the file is therefore retried, for at most
// UnknownHostGrace; a key that contradicts the file is final at once.
func connect(ctx context.Context, e *Endpoint, role string, dial dialFunc, budget time.Duration) (*ssh.Client, ssh.PublicKey, error) {
	addr := e.address()
	backoff := 200 * time.Millisecond
	var unknownSince time.Time
	for attempt := 1; ; attempt++ {
		check, algs, err := hostKeyCheck(e)
		if err != nil {
			return nil, nil, err
		}
		client, key, err := handshake(ctx, e, addr, dial, check, algs)
		if err == nil {
			return client, key, nil
		}
		var hk *HostKeyError
		unknown := errors.As(err, &hk) && hk.unknown
		if unknown && unknownSince.IsZero() {
			unknownSince = time.Now()
		}
		graced := unknown && time.Since(unknownSince) < UnknownHostGrace
		if !retryable(err) && !graced {
			return nil, nil, err
		}
		tflog.Debug(ctx, "guest: connect attempt failed, retrying", map[string]any{"role": role, "address": addr, "attempt": attempt, "error": err.Error()})
		select {
		case <-ctx.Done():
			if unknown {
				// The host answered: the missing line, not the network, is the problem.
				return nil, nil, err
			}
			return nil, nil, &ConnectError{Address: addr, Timeout: budget.String(), Last: err}
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

func handshake(ctx context.Context, e *Endpoint, addr string, dial dialFunc, check ssh.HostKeyCallback, algs []string) (*ssh.Client, ssh.PublicKey, error) {
	creds, err := loadCredentials(e)
	if err != nil {
		return nil, nil, err
	}
	defer creds.closer()

	// One attempt may not use the whole budget: a SYN into the void would otherwise eat it.
	attemptCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := dial(attemptCtx, addr)
	if err != nil {
		return nil, nil, err
	}
	// Channels through a bastion have no deadlines, so the handshake is bounded by closing
	// the transport when the attempt's time is up.
	stop := context.AfterFunc(attemptCtx, func() { conn.Close() })
	defer stop()

	var verified ssh.PublicKey
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: e.User,
		Auth: creds.methods,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := check(hostname, remote, key); err != nil {
				return err
			}
			verified = key
			return nil
		},
		HostKeyAlgorithms: algs,
		Timeout:           15 * time.Second,
	})
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, nil, &AuthError{Host: e.Host, User: e.User, Methods: creds.names, cause: err}
		}
		if attemptCtx.Err() != nil && ctx.Err() == nil {
			return nil, nil, fmt.Errorf("ssh handshake with %s timed out", addr)
		}
		return nil, nil, err
	}
	return ssh.NewClient(cc, chans, reqs), verified, nil
}

// retryable tells a guest that is still booting (or a network that is still converging)
// from a configuration problem that no amount of waiting will fix.
func retryable(err error) bool {
	var (
		hk   *HostKeyError
		auth *AuthError
		cred *CredentialError
	)
	if errors.As(err, &hk) || errors.As(err, &auth) || errors.As(err, &cred) {
		return false
	}
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) {
		// The bastion could not reach the target: like a refused connection, retry. Other
		// rejections (administratively prohibited) are configuration.
		return oce.Reason == ssh.ConnectionFailed
	}
	// Everything else (refused, unreachable, timeouts, a reset or EOF while sshd is still
	// starting, DNS not yet resolvable) is what a booting guest looks like.
	return true
}

// keepAlive probes the peer; when it stops answering, it closes the connection so that
// running commands fail instead of hanging (e.g. after the guest's address went away).
func (c *Conn) keepAlive(client *ssh.Client) {
	interval := c.cfg.keepAlive()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-c.done:
			return
		case err := <-reply:
			if err != nil {
				client.Close()
				return
			}
		case <-time.After(interval):
			client.Close()
			return
		}
	}
}
