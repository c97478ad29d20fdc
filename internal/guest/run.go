package guest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"golang.org/x/crypto/ssh"
)

// Run runs a script that only reads the guest (sh -c, through `sudo -n` unless the user is
// root) and returns its stdout. A failing script returns a *CommandError with the exit status
// and trimmed stderr. Secrets belong on stdin, never in the script: the script's first line is
// logged at DEBUG level, stdin never is.
func (c *Conn) Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	return c.run(ctx, describe(script), script, stdin, false)
}

// RunChange is Run for a script that may change the guest. The distinction only feeds
// Stats, which prove that an idempotent re-apply changed nothing; callers must be honest.
func (c *Conn) RunChange(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	return c.run(ctx, describe(script), script, stdin, true)
}

// RunTo is Run for a read-only script whose output is large (a backup file): stdout goes to
// out as it arrives instead of into memory.
func (c *Conn) RunTo(ctx context.Context, script string, out io.Writer) error {
	_, err := c.runTo(ctx, describe(script), script, nil, out, false)
	return err
}

func (c *Conn) run(ctx context.Context, desc, script string, stdin io.Reader, change bool) ([]byte, error) {
	return c.runTo(ctx, desc, script, stdin, nil, change)
}

// runTo runs script; its stdout goes to out, or when out is nil into the returned bytes.
func (c *Conn) runTo(ctx context.Context, desc, script string, stdin io.Reader, out io.Writer, change bool) ([]byte, error) {
	for _, t := range c.tallies {
		if change {
			t.changeCommands.Add(1)
		} else {
			t.readCommands.Add(1)
		}
	}
	tflog.Debug(ctx, "guest: running command", map[string]any{"host": c.Host(), "command": desc, "changes": change})

	fail := func(status int, stderr []byte, err error) error {
		return &CommandError{Host: c.Host(), Description: desc, ExitStatus: status, Stderr: trimStderr(stderr), cause: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(-1, nil, err)
	}
	session, err := c.client.NewSession()
	if err != nil {
		return nil, fail(-1, nil, fmt.Errorf("cannot open a session: %w", err))
	}
	defer session.Close()

	var stdout, stderr bytes.Buffer
	session.Stdout = &stdout
	if out != nil {
		session.Stdout = out
	}
	session.Stderr = &stderr
	if stdin != nil {
		session.Stdin = stdin
	}
	// The login shell expands $SSH_CONNECTION (the session as the guest sees it: where the
	// provider connects from) before sudo, whose env_reset would drop it; the script gets it as
	// $1. The firewall recipe keeps that address allowed.
	cmd := "sh -c " + Quote(script) + ` sh "$SSH_CONNECTION"`
	if c.cfg.Target.User != "root" {
		// -n: never prompt. A user without passwordless sudo gets sudo's own message.
		cmd = "sudo -n " + cmd
	}
	if err := session.Start(cmd); err != nil {
		return nil, fail(-1, nil, fmt.Errorf("cannot start: %w", err))
	}
	// waited is closed once Wait has returned, with its error in waitErr.
	var waitErr error
	waited := make(chan struct{})
	go func() { waitErr = session.Wait(); close(waited) }()

	select {
	case <-waited:
		err = waitErr
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGKILL) // best effort: closing the session ends the command's channel anyway
		session.Close()
		// stderr is only safe to read once Wait has returned (its copier has stopped).
		var errOut []byte
		select {
		case <-waited: // the command was killed: ctx.Err() is the outcome, not Wait's error
			errOut = stderr.Bytes()
		case <-time.After(500 * time.Millisecond):
			// A child of the script may hold the channel open; do not wait for it.
		}
		return nil, fail(-1, errOut, ctx.Err())
	}
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), nil
	case errors.As(err, &exit):
		return stdout.Bytes(), fail(exit.ExitStatus(), stderr.Bytes(), err)
	default:
		// ExitMissingError or a dead connection: the command's outcome is unknown.
		return stdout.Bytes(), fail(-1, stderr.Bytes(), fmt.Errorf("connection lost: %w", err))
	}
}

// WriteFile replaces path atomically: the content goes over stdin into a temporary file in
// the same directory, gets its mode (and owner, "user" or "user:group", when not empty), and
// is renamed over path. Readers see the old file or the new one, never a half-written one.
// The parent directory must exist.
func (c *Conn) WriteFile(ctx context.Context, file string, data []byte, mode fs.FileMode, owner string) error {
	if !path.IsAbs(file) || path.Clean(file) != file {
		return fmt.Errorf("write %q: path must be absolute and clean", file)
	}
	if owner != "" && !ownerPattern.MatchString(owner) {
		return fmt.Errorf("write %s: owner %q is not a user or user:group name", file, owner)
	}
	chown := ":"
	if owner != "" {
		chown = "chown " + Quote(owner) + ` "$tmp"`
	}
	script := fmt.Sprintf(`set -e
f=%s
d=%s
[ -d "$d" ] || { echo "directory $d does not exist" >&2; exit 3; }
tmp=$(mktemp "$d/.%s.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod %04o "$tmp"
%s
mv -f "$tmp" "$f"
trap - EXIT
`, Quote(file), Quote(path.Dir(file)), strings.ReplaceAll(path.Base(file), "'", ""), mode.Perm(), chown)
	_, err := c.run(ctx, "write "+file, script, bytes.NewReader(data), true)
	return err
}

var ownerPattern = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*(:[A-Za-z0-9._][A-Za-z0-9._-]*)?$`)

// ReadFile returns the content of a regular file and whether it exists.
func (c *Conn) ReadFile(ctx context.Context, file string) ([]byte, bool, error) {
	// A marker line in front of the content tells "absent" from "empty".
	script := fmt.Sprintf(`f=%s
if [ -f "$f" ]; then echo present; exec cat -- "$f"; fi
if [ -e "$f" ]; then echo "$f is not a regular file" >&2; exit 3; fi
echo absent`, Quote(file))
	out, err := c.run(ctx, "read "+file, script, nil, false)
	if err != nil {
		return nil, false, err
	}
	head, body, _ := bytes.Cut(out, []byte("\n"))
	switch string(head) {
	case "present":
		return body, true, nil
	case "absent":
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("%s: read %s: unexpected output", c.Host(), file)
}

// Quote makes s one word for a POSIX shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// describe is the log and error name of a script: its first non-blank line, shortened.
func describe(script string) string {
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) > 72 {
			line = line[:69] + "..."
		}
		return fmt.Sprintf("command %q", line)
	}
	return "empty command"
}

// Runner is what a recipe needs of its connection to a guest: read-only commands, changing
// commands and atomic file writes, each counted in Stats. *Conn is one.
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
	RunChange(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
	WriteFile(ctx context.Context, file string, data []byte, mode fs.FileMode, owner string) error
}

var _ Runner = (*Conn)(nil)
