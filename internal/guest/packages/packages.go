// Package packages checks that a Debian guest has the packages a recipe needs and, when the
// user allows it, installs the missing ones from the guest's own apt sources.
//
// The check comes before any change, for all services of a role at once, so that a guest
// without (say) PostgreSQL is refused before its Redis is configured: nothing is left half
// set up.
package packages

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Runner runs commands on a guest; *guest.Conn is one.
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
	RunChange(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
}

// MissingError names the packages a guest lacks when installing was not allowed.
type MissingError struct {
	Host    string
	Missing []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: packages not installed: %s; install them on the guest (apt-get install %s) or set install_packages = true",
		e.Host, strings.Join(e.Missing, ", "), strings.Join(e.Missing, " "))
}

// Missing returns the packages of pkgs that dpkg does not report as installed, in the order
// given, with one command.
func Missing(ctx context.Context, r Runner, pkgs ...string) ([]string, error) {
	pkgs = unique(pkgs)
	if len(pkgs) == 0 {
		return nil, nil
	}
	if err := validNames(pkgs); err != nil {
		return nil, err
	}
	// dpkg-query exits 1 and complains on stderr for a package it never heard of: that is an
	// answer ("missing"), not a failure, so its status is ignored and the output decides.
	script := "# check packages\ndpkg-query -W -f='${Package}\\t${db:Status-Status}\\n' " + strings.Join(pkgs, " ") + " 2>/dev/null; true"
	out, err := r.Run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("check packages: %w", err)
	}
	return parseMissing(string(out), pkgs), nil
}

// parseMissing reads dpkg-query's "name<TAB>status" lines. Architecture-qualified names
// ("libc6:amd64") count for their plain name.
func parseMissing(out string, pkgs []string) []string {
	installed := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		name, status, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, ":")
		if strings.TrimSpace(status) == "installed" {
			installed[name] = true
		}
	}
	var missing []string
	for _, p := range pkgs {
		if !installed[p] {
			missing = append(missing, p)
		}
	}
	return missing
}

// Ensure makes sure pkgs are installed. Missing packages are an error (*MissingError) unless
// install is true; then they are installed with apt-get from the guest's configured sources
// (after apt-get update) and a failure carries apt's own message. It returns what it
// installed.
func Ensure(ctx context.Context, r Runner, host string, install bool, pkgs ...string) ([]string, error) {
	missing, err := Missing(ctx, r, pkgs...)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	if !install {
		return nil, &MissingError{Host: host, Missing: missing}
	}
	// noninteractive: no debconf prompt can hang a session without a terminal. policy-rc.d is
	// the guest's business; on a real Debian VM the services start as packaged, which the
	// recipes then reconfigure.
	script := "# install packages\nexport DEBIAN_FRONTEND=noninteractive\n" +
		"apt-get update -q >/dev/null 2>/tmp/hipchatdc-apt-update.err || { cat /tmp/hipchatdc-apt-update.err >&2; exit 1; }\n" +
		"apt-get install -y -q --no-install-recommends " + strings.Join(missing, " ") + " >/dev/null"
	if _, err := r.RunChange(ctx, script, nil); err != nil {
		return nil, fmt.Errorf("install packages %s: %w", strings.Join(missing, ", "), err)
	}
	return missing, nil
}

func unique(pkgs []string) []string {
	var r []string
	for _, p := range pkgs {
		if p != "" && !slices.Contains(r, p) {
			r = append(r, p)
		}
	}
	return r
}

// validNames keeps package names to Debian's alphabet: they are put on a command line.
func validNames(pkgs []string) error {
	for _, p := range pkgs {
		for i, c := range p {
			ok := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '+' || c == '-' || c == '.'))
			if !ok {
				return fmt.Errorf("%q is not a Debian package name", p)
			}
		}
	}
	return nil
}

var _ Runner = (*guest.Conn)(nil)
