package guest

import (
	"fmt"
	"strings"
)

// HostKeyError means the server's identity could not be verified. It is final (Dial retries
// only a host missing from a known_hosts file, for UnknownHostGrace), and nothing was run on the
// server (the check happens before authentication).
type HostKeyError struct {
	Host    string
	unknown bool // not in the known_hosts file at all, as opposed to a key that contradicts it
	msg     string
}

func (e *HostKeyError) Error() string { return e.msg }

// AuthError means the server refused every credential offered. It is final.
type AuthError struct {
	Host    string
	User    string
	Methods []string // what was offered, e.g. "private_key (ssh-ed25519 SHA256:...)"; never secrets
	cause   error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("ssh: %s refused authentication as user %q; methods tried: %s (check user, private_key, agent and password)",
		e.Host, e.User, strings.Join(e.Methods, ", "))
}

func (e *AuthError) Unwrap() error { return e.cause }

// CredentialError means a configured credential cannot be used at all (a malformed key, an
// encrypted key without or with a wrong passphrase, an unreachable agent). It is final.
type CredentialError struct {
	msg   string
	cause error
}

func (e *CredentialError) Error() string { return e.msg }
func (e *CredentialError) Unwrap() error { return e.cause }

// ConnectError means the server could not be reached within the connect budget.
type ConnectError struct {
	Address string
	Timeout string
	Last    error // the last network error seen
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("ssh: could not connect to %s within %s: %v", e.Address, e.Timeout, e.Last)
}

func (e *ConnectError) Unwrap() error { return e.Last }

// CommandError is a command that ran and failed, or that could not finish.
type CommandError struct {
	Host        string
	Description string // a short, secret-free description of the command
	ExitStatus  int    // -1 when the command did not exit (connection lost, cancelled)
	Stderr      string // trimmed
	cause       error
}

func (e *CommandError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s ", e.Host, e.Description)
	if e.ExitStatus >= 0 {
		fmt.Fprintf(&b, "failed with exit status %d", e.ExitStatus)
	} else {
		fmt.Fprintf(&b, "did not finish: %v", e.cause)
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, ": %s", e.Stderr)
	}
	return b.String()
}

func (e *CommandError) Unwrap() error { return e.cause }

// trimStderr keeps error messages readable: the last few KiB, without surrounding blanks.
func trimStderr(b []byte) string {
	const max = 4096
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = "..." + s[len(s)-max:]
	}
	return s
}
