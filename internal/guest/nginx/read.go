package nginx

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck"
)

// Runner runs a read-only command on a guest; *guest.Conn is one.
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
}

// State is what Read finds on the proxy guest.
type State struct {
	// Site is the deployed site parsed back from ConfFile, with CertificatePEM from CertFile
	// and PrivateKeyPEM always empty. Valid only when Deployed.
	Site     Site
	Deployed bool   // ConfFile exists and parses
	Config   string // ConfFile's content ("" when absent)

	CertificatePEM         string // CertFile's content
	CertificateFingerprint string // SHA-256 of the deployed leaf (tlscheck.Fingerprint), "" when none parses
	KeySHA256              string // SHA-256 of KeyFile's bytes (KeyDigest), "" when absent; the key never leaves the guest
	KeyMode                string // KeyFile's mode and owner, "600 root:root" when as written

	DefaultSite bool // Debian's default site is enabled (it would take port 80 from ours)
	Installed   bool // the nginx binary is on PATH
	Running     bool // the master process in PIDFile is alive
	MasterPID   int
}

// ReadScript is the command Read runs. A resource may run it together with other recipes' read
// scripts as one command and give the output to Parse.
func ReadScript() string {
	section := func(name, cmd string) string {
		// The echo after each file keeps a missing final newline from gluing the next marker on.
		return guest.EchoSection("nginx", name) + cmd + " 2>/dev/null; echo\n"
	}
	return "# read reverse proxy\n" +
		section("conf", "cat "+ConfFile) +
		section("cert", "cat "+CertFile) +
		section("key", "sha256sum < "+KeyFile+" && stat -c '%a %U:%G' "+KeyFile) +
		section("default", "[ -e "+DefaultSite+" ] && echo enabled") +
		section("installed", "command -v nginx") +
		section("pid", "p=$(cat "+PIDFile+") && kill -0 \"$p\" && echo \"$p\"") +
		guest.EchoSection("nginx", "end")
}

// Read returns the proxy's state with one command.
func Read(ctx context.Context, r Runner) (State, error) {
	out, err := r.Run(ctx, ReadScript(), nil)
	if err != nil {
		return State{}, fmt.Errorf("read reverse proxy: %w", err)
	}
	return Parse(string(out))
}

// Parse reads the proxy's state from the output of ReadScript (alone or among other recipes').
func Parse(out string) (State, error) {
	sections := guest.Sections(out, "nginx")
	for name, s := range sections {
		// Files keep one final newline, whatever the script's echo added.
		if s = strings.TrimRight(s, "\n"); s != "" {
			s += "\n"
		}
		sections[name] = s
	}
	for _, s := range []string{"conf", "cert", "key", "default", "installed", "pid"} {
		if _, ok := sections[s]; !ok {
			return State{}, fmt.Errorf("read reverse proxy: output has no %s section", s)
		}
	}

	st := State{
		Config:         sections["conf"],
		CertificatePEM: sections["cert"],
		DefaultSite:    strings.TrimSpace(sections["default"]) == "enabled",
		Installed:      strings.TrimSpace(sections["installed"]) != "",
	}
	if st.Config != "" {
		if site, err := ParseSite(st.Config); err == nil {
			st.Site, st.Deployed = site, true
		}
	}
	if st.CertificatePEM != "" {
		st.Site.CertificatePEM = st.CertificatePEM
		if fp, err := tlscheck.LeafFingerprint(st.CertificatePEM); err == nil {
			st.CertificateFingerprint = fp
		}
	}
	// "<hex>  -" from sha256sum, then "600 root:root" from stat.
	if lines := strings.Split(strings.TrimSpace(sections["key"]), "\n"); len(lines) == 2 {
		st.KeySHA256 = strings.Fields(lines[0])[0]
		st.KeyMode = strings.TrimSpace(lines[1])
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(sections["pid"])); err == nil && pid > 0 {
		st.Running, st.MasterPID = true, pid
	}
	return st, nil
}
