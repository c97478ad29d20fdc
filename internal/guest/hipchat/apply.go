package hipchat

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Result says what Apply did.
type Result struct {
	Before    State
	Changed   bool   // the config file was written and configure and the self-check ran
	Configure string // the configure command's output (passwords removed)
	SelfCheck string // the self-check's output (passwords removed)
}

// StepError is a configure command or self-check that ran and failed, or could not finish.
// Output is what the step printed (stdout and stderr), with the passwords removed; it holds
// the clients' own words, such as "password authentication failed for user hipchat_user".
type StepError struct {
	Step    string // "configure" or "self-check"
	Command string // the command line, as configured
	Output  string
	err     error
	secrets []string
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("hipchat datacenter %s (%s) failed: %v", e.Step, e.Command, e.err)
	if e.Output != "" {
		msg += "\n" + e.Output
	}
	return redact(msg, e.secrets)
}

func (e *StepError) Unwrap() error { return e.err }

// redact replaces each non-empty secret in s, so that a command's output that echoes one back
// does not carry it into an error, a log or Terraform's diagnostics. A client may print the
// password as it holds it rather than as typed: percent-encoded in a postgres:// or redis://
// URL ("p%40ss", "p%40SS", "p+ss" for a space) or escaped in JSON ("p\"ss", "\u0026"), so each
// is matched in any of those spellings (secretPattern).
func redact(s string, secrets []string) string {
	// Longest first: a password that contains another is replaced whole.
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	var alts []string
	for _, p := range sorted {
		if p != "" {
			alts = append(alts, secretPattern(p))
		}
	}
	if len(alts) == 0 {
		return s
	}
	return regexp.MustCompile(strings.Join(alts, "|")).ReplaceAllLiteralString(s, "(sensitive value)")
}

// secretPattern is a regular expression matching p with each character as typed,
// percent-encoded (either case of hex digits, '+' for a space, as url.QueryEscape and
// url.PathEscape write it, and as most clients do) or JSON-escaped (\uXXXX in either case, or
// its short escape: \" \\ \/ \n ...).
func secretPattern(p string) string {
	var b strings.Builder
	for _, r := range p {
		alts := []string{regexp.QuoteMeta(string(r))}
		var pct strings.Builder
		for _, c := range []byte(string(r)) {
			fmt.Fprintf(&pct, "%%(?i:%02x)", c)
		}
		alts = append(alts, pct.String())
		if r == ' ' {
			alts = append(alts, `\+`)
		}
		// JSON: \uXXXX, a pair of them beyond the basic plane, and the short escapes.
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			alts = append(alts, fmt.Sprintf(`\\u(?i:%04x)\\u(?i:%04x)`, r1, r2))
		} else {
			alts = append(alts, fmt.Sprintf(`\\u(?i:%04x)`, r))
		}
		if e, ok := jsonShort[r]; ok {
			alts = append(alts, regexp.QuoteMeta(e))
		}
		b.WriteString("(?:" + strings.Join(alts, "|") + ")")
	}
	return b.String()
}

// jsonShort are the two-character escapes of JSON (RFC 8259, section 7).
var jsonShort = map[rune]string{'"': `\"`, '\\': `\\`, '/': `\/`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}

// Apply points the node at d: it reads first (one command) and, when the node differs from d
// (State.Drift), writes the config file with the passwords on stdin (0600 root:root), runs the
// configure command and then the self-check. A failing self-check is returned as a
// *StepError with its output; the new file stays in place, marked unverified, so the next
// Apply with corrected values rewrites it and one with the same values tries again. When
// nothing differs Apply runs no changing command (and no self-check).
func Apply(ctx context.Context, r guest.Runner, d DataStores, c Commands) (Result, error) {
	return apply(ctx, r, d, c, nil)
}

// ApplyWhenAnswering is Apply that, when it has something to change, first calls settled (the
// caller's wait for a create or update of the data stores it knows to be in progress: the
// ports of data stores whose password is being changed are already open) and then waits for
// the data stores to answer from the node (WaitForDataStores, bounded by ctx, progress called
// as it polls; an error from either ends the wait): a node created alongside its data stores
// reaches this step before they are up. When nothing differs it neither waits nor probes.
func ApplyWhenAnswering(ctx context.Context, r guest.Runner, d DataStores, c Commands, settled func() error, progress func(pending []string) error) (Result, error) {
	return apply(ctx, r, d, c, func() error {
		if settled != nil {
			if err := settled(); err != nil {
				return err
			}
		}
		return WaitForDataStores(ctx, r, d, 0, progress)
	})
}

func apply(ctx context.Context, r guest.Runner, d DataStores, c Commands, wait func() error) (Result, error) {
	var res Result
	if err := c.Validate(); err != nil {
		return res, err
	}
	c = c.WithDefaults()
	want, err := Render(d)
	if err != nil {
		return res, err
	}
	st, err := Read(ctx, r, c)
	if err != nil {
		return res, err
	}
	res.Before = st
	if len(st.Drift(d, c)) == 0 {
		return res, nil
	}
	if wait != nil {
		if err := wait(); err != nil {
			return res, err
		}
	}
	res.Changed = true
	secrets := d.secrets()
	// The previous settings' passwords may show up in the outputs too.
	secrets = append(secrets, st.DataStores.secrets()...)
	secrets = append(secrets, st.Site.secrets()...)
	if err := r.WriteFile(ctx, c.ConfigFile, want, 0o600, "root:root"); err != nil {
		return res, fmt.Errorf("hipchat: write %s (is this a Hipchat node?): %w", c.ConfigFile, err)
	}

	// Marked unverified before configure runs and cleared only by a passing self-check: a
	// failure at either step makes the next Apply run both again.
	mark := guest.Quote(c.unverifiedFile())
	configure := c.configureLine()
	out, err := r.RunChange(ctx, "# hipchat datacenter configure\n: > "+mark+"\n{\n"+configure+"\n} 2>&1\n", nil)
	res.Configure = redact(strings.TrimSpace(string(out)), secrets)
	if err != nil {
		return res, &StepError{Step: "configure", Command: configure, Output: res.Configure, err: err, secrets: secrets}
	}
	out, err = r.RunChange(ctx, "# hipchat datacenter self-check\n{\n"+c.SelfCheck+"\n} 2>&1\nst=$?\n[ $st -ne 0 ] || rm -f "+mark+"\nexit $st\n", nil)
	res.SelfCheck = redact(strings.TrimSpace(string(out)), secrets)
	if err != nil {
		return res, &StepError{Step: "self-check", Command: c.SelfCheck, Output: res.SelfCheck, err: err, secrets: secrets}
	}
	return res, nil
}

// IsSelfCheckFailure reports whether err is a failed self-check (the node was configured but
// does not reach its data stores).
func IsSelfCheckFailure(err error) bool {
	var s *StepError
	return errors.As(err, &s) && s.Step == "self-check"
}
