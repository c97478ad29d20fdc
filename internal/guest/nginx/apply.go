package nginx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Result says what Apply did.
type Result struct {
	Before   State
	Changed  []string // of "config", "certificate", "private_key", "default_site", in that order
	Reloaded bool     // a running NGINX was reloaded
	Started  bool     // NGINX was not running and was started
}

// RejectedError is a configuration that `nginx -t` refused. The previous files are back in
// place and the running NGINX, if any, still serves the previous site.
type RejectedError struct {
	Output string // nginx -t's own messages
}

func (e *RejectedError) Error() string {
	return "nginx rejected the new configuration; the previous one is still in place and serving:\n" + e.Output
}

// KeyDigest is the SHA-256 of a private key's bytes as written to KeyFile, the value
// State.KeySHA256 is compared with: the key itself is never read back.
func KeyDigest(keyPEM string) string {
	sum := sha256.Sum256([]byte(keyPEM))
	return hex.EncodeToString(sum[:])
}

// file is one managed file: where it lives, its content and mode.
type file struct {
	name  string // for Result.Changed
	live  string
	data  []byte
	mode  fs.FileMode
	stage string
}

// Apply brings the proxy guest to site, changing only what differs: it reads first (one
// command) and, when config, certificate and key are as wanted, the default site is gone and
// NGINX runs, changes nothing. Otherwise it writes the new files to a staging folder, moves
// them into place, tests with `nginx -t`, and either restores the previous files (returning
// a *RejectedError with NGINX's message) or reloads (or starts) NGINX.
func Apply(ctx context.Context, c guest.Runner, site Site) (Result, error) {
	var res Result
	conf, err := Render(site)
	if err != nil {
		return res, err
	}
	site = site.WithDefaults()
	st, err := Read(ctx, c)
	if err != nil {
		return res, err
	}
	res.Before = st
	if !st.Installed {
		return res, errors.New("nginx is not installed on the proxy guest (apt-get install nginx)")
	}

	var changed []file
	if st.Config != conf {
		changed = append(changed, file{name: "config", live: ConfFile, data: []byte(conf), mode: 0o644})
	}
	if st.CertificatePEM != site.CertificatePEM {
		changed = append(changed, file{name: "certificate", live: CertFile, data: []byte(site.CertificatePEM), mode: 0o644})
	}
	if st.KeySHA256 != KeyDigest(site.PrivateKeyPEM) || st.KeyMode != "600 root:root" {
		changed = append(changed, file{name: "private_key", live: KeyFile, data: []byte(site.PrivateKeyPEM), mode: 0o600})
	}
	for _, f := range changed {
		res.Changed = append(res.Changed, f.name)
	}
	if st.DefaultSite {
		res.Changed = append(res.Changed, "default_site")
	}
	if len(res.Changed) == 0 && st.Running {
		return res, nil
	}

	if len(changed) > 0 {
		if _, err := c.RunChange(ctx, "# prepare reverse proxy staging\ninstall -d -m 0755 "+TLSDir+" && install -d -m 0700 "+stagingDir, nil); err != nil {
			return res, fmt.Errorf("prepare %s: %w", stagingDir, err)
		}
		for i := range changed {
			f := &changed[i]
			f.stage = stagingDir + "/" + path.Base(f.live)
			if err := c.WriteFile(ctx, f.stage, f.data, f.mode, "root:root"); err != nil {
				return res, fmt.Errorf("stage %s: %w", f.name, err)
			}
		}
	}
	out, err := c.RunChange(ctx, activateScript(changed, st.DefaultSite), nil)
	if err != nil {
		var ce *guest.CommandError
		if errors.As(err, &ce) && ce.ExitStatus == rejectedStatus {
			return res, &RejectedError{Output: ce.Stderr}
		}
		return res, fmt.Errorf("activate reverse proxy configuration: %w", err)
	}
	switch strings.TrimSpace(string(out)) {
	case "reloaded":
		res.Reloaded = true
	case "started":
		res.Started = true
	}
	return res, nil
}

// rejectedStatus is the exit status of the activation script when nginx -t failed.
const rejectedStatus = 65

// activateScript moves the staged files into place (keeping the ones they replace), disables
// Debian's default site, tests, and then restores or reloads. All paths are this package's
// constants; nothing from the user's input is in the script.
func activateScript(files []file, disableDefault bool) string {
	var b strings.Builder
	// A site without nodes of its own needs the placeholder while no membership is listed;
	// restore puts it back as the restored site wants it.
	fmt.Fprintf(&b, `# activate reverse proxy configuration
set -u
%s%sprev=%s
rm -rf "$prev" && mkdir -m 0700 "$prev" || exit 1
restore() {
`, lockScript, placeholderScript, previousDir)
	// Restore in reverse; a file that did not exist before is removed again.
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		fmt.Fprintf(&b, "\tif [ -e \"$prev/%[1]s\" ]; then mv -f \"$prev/%[1]s\" %[2]s; else rm -f %[2]s; fi\n", path.Base(f.live), f.live)
	}
	if disableDefault {
		fmt.Fprintf(&b, "\t[ -e \"$prev/default-site\" ] || [ -L \"$prev/default-site\" ] && mv -f \"$prev/default-site\" %s\n", DefaultSite)
	}
	b.WriteString("\tplaceholder\n}\n")
	for _, f := range files {
		fmt.Fprintf(&b, "if [ -e %[1]s ]; then cp -p %[1]s \"$prev/%[2]s\" || exit 1; fi\nmv -f %[3]s %[1]s || { restore; exit 1; }\n", f.live, path.Base(f.live), f.stage)
	}
	if disableDefault {
		// Debian's default site also claims "listen 80 default_server". Kept aside, not deleted,
		// until the new configuration passes.
		fmt.Fprintf(&b, "mv -f %s \"$prev/default-site\" || { restore; exit 1; }\n", DefaultSite)
	}
	if len(files) > 0 {
		fmt.Fprintf(&b, "rmdir %s 2>/dev/null\n", stagingDir)
	}
	b.WriteString("placeholder || { restore; exit 1; }\n")
	fmt.Fprintf(&b, `if ! out=$(nginx -t 2>&1); then
	restore
	rm -rf "$prev"
	printf '%%s\n' "$out" >&2
	exit %d
fi
rm -rf "$prev"
`, rejectedStatus)
	b.WriteString(reloadOrStart)
	return b.String()
}

// reloadOrStart ends a script that changed the configuration and passed nginx -t: a running
// NGINX is reloaded gracefully, a stopped one started (without the lock's descriptor, which it
// would hold for as long as it runs).
const reloadOrStart = `p=$(cat ` + PIDFile + ` 2>/dev/null)
if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
` + gracefulReload + `	echo reloaded
	exit 0
fi
nginx 9>&- || exit 1
echo started
`

// LockFile serialises the scripts that change NGINX's configuration on one proxy (the site's
// activation and each membership's add and remove): they share the drain file and reload the
// same NGINX, and Terraform runs them in parallel.
const LockFile = "/run/hipchatdc-nginx.lock"

// lockWait bounds the wait for LockFile: a removal holds it only until its reload, not while it
// drains.
const lockWait = 120

// lockScript takes LockFile on descriptor 9 (held until the script ends or closes it). An NGINX
// started by the script must not inherit it (nginx 9>&-): its master would hold the lock for
// as long as it runs.
var lockScript = fmt.Sprintf(`exec 9>%s || exit 1
flock -w %d 9 || { echo "another change of NGINX on this proxy has held %s for %d s" >&2; exit 1; }
`, LockFile, lockWait, LockFile, lockWait)

// gracefulReload reloads the NGINX whose master is $p and leaves the PIDs of its previous
// workers in $old. Graceful: new workers start with the new files, old ones finish their
// requests. NGINX's master lets both generations accept for about 100 ms before it tells the
// old workers to stop accepting (they retitle themselves "... is shutting down"); the snippet
// waits for that, so the caller's next connection meets the new configuration.
const gracefulReload = `	old=$(pgrep -P "$p")
	nginx -s reload || exit 1
	i=0
	while :; do
		accepting=
		for w in $old; do
			[ "$(tr -d '\0' < /proc/$w/cmdline 2>/dev/null)" = "nginx: worker process" ] && accepting=$w
		done
		[ -z "$accepting" ] && break
		if [ $i -ge 100 ]; then
			echo "nginx did not retire its old workers within 5 s of the reload:" >&2
			tail -n 5 /var/log/nginx/error.log >&2
			exit 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
`
