package lab

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// guestfiles holds the scripts that make up a guest: init.sh (PID 1), boot.sh (each power-on),
// common/ (on every guest's PATH), node/ (the Hipchat appliance stand-in's commands and
// configuration). A new appliance command, such as "hipchat datacenter", is one more file
// node/hipchat-datacenter.
//
//go:embed guestfiles
var guestfiles embed.FS

// barePackages are the packages a debian-bare guest must look like it lacks, so the provider's
// "missing packages" path can be tested: dpkg-query says not installed and their programs are
// not on PATH.
var barePackages = []string{
	"redis-server", "postgresql", "postgresql-15", "postgresql-contrib", "postgresql-common",
	"nfs-kernel-server",
}

// prepareLayers writes what all guests of the lab share, once per lab: the scripts and the
// read-only overlay layers mounted over /usr/local/bin (and, for debian-bare, /usr/bin and
// /usr/sbin). Doing it in Start keeps a guest's power-on down to about a second.
func (l *Lab) prepareLayers() error {
	layers := filepath.Join(l.dir, "layers")
	for _, d := range []string{"common/local-bin", "node/local-bin", "bare/local-bin", "bare/usr-bin", "bare/usr-sbin"} {
		if err := os.MkdirAll(filepath.Join(layers, d), 0o755); err != nil {
			return err
		}
	}
	copyDir := func(from, to string, match func(string) bool) error {
		entries, err := fs.ReadDir(guestfiles, from)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() || !match(e.Name()) {
				continue
			}
			b, err := guestfiles.ReadFile(path.Join(from, e.Name()))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o755); err != nil {
				return err
			}
		}
		return nil
	}
	isProgram := func(name string) bool { return !strings.Contains(name, ".") }
	if err := copyDir("guestfiles/common", filepath.Join(layers, "common/local-bin"), isProgram); err != nil {
		return err
	}
	if err := copyDir("guestfiles/node", filepath.Join(layers, "node/local-bin"), isProgram); err != nil {
		return err
	}
	if err := copyDir("guestfiles", layers, func(n string) bool { return n == "init.sh" }); err != nil {
		return err
	}
	boot, err := guestfiles.ReadFile("guestfiles/boot.sh")
	if err != nil {
		return err
	}
	l.bootScript = string(boot)
	shutdown, err := guestfiles.ReadFile("guestfiles/shutdown.sh")
	if err != nil {
		return err
	}
	l.shutdownScript = string(shutdown)

	// debian-bare: whiteouts (character devices 0/0) in a lower overlay layer hide the files
	// beneath them, so the programs of barePackages vanish from PATH inside the guest only.
	hide := map[string]string{} // file on the host -> layer folder
	for _, p := range barePackages {
		out, err := exec.Command("dpkg", "-L", p).Output()
		if err != nil {
			continue // not installed here: nothing to hide
		}
		for _, f := range strings.Split(string(out), "\n") {
			f = strings.TrimSpace(f)
			switch filepath.Dir(f) {
			case "/usr/bin", "/bin":
				hide[filepath.Join("/usr/bin", filepath.Base(f))] = "usr-bin"
			case "/usr/sbin", "/sbin":
				hide[filepath.Join("/usr/sbin", filepath.Base(f))] = "usr-sbin"
			}
		}
	}
	// Programs of the same names installed outside packages (here: /usr/local/bin/postgres...).
	for _, name := range []string{"postgres", "initdb", "pg_ctl", "redis-server", "pg_ctlcluster", "pg_createcluster", "exportfs", "rpc.nfsd"} {
		hide[filepath.Join("/usr/local/bin", name)] = "local-bin"
	}
	for f, layer := range hide {
		if _, err := os.Lstat(f); err != nil {
			continue
		}
		wo := filepath.Join(layers, "bare", layer, filepath.Base(f))
		if err := unix.Mknod(wo, unix.S_IFCHR, 0); err != nil && !os.IsExist(err) {
			return fmt.Errorf("whiteout %s: %w", wo, err)
		}
	}
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		return err
	}
	l.bareDpkgStatus = withoutPackages(status, barePackages)
	return nil
}

// withoutPackages drops the stanzas of the named packages from a dpkg status file.
func withoutPackages(status []byte, pkgs []string) []byte {
	var out bytes.Buffer
	for _, stanza := range bytes.Split(status, []byte("\n\n")) {
		drop := false
		sc := bufio.NewScanner(bytes.NewReader(stanza))
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "Package: "); ok {
				for _, p := range pkgs {
					drop = drop || name == p
				}
				break
			}
		}
		if !drop && len(bytes.TrimSpace(stanza)) > 0 {
			out.Write(bytes.TrimRight(stanza, "\n"))
			out.WriteString("\n\n")
		}
	}
	return out.Bytes()
}

// localBinLower is the overlay lowerdir list mounted over /usr/local/bin for a kind.
func (l *Lab) localBinLower(kind string) string {
	layers := filepath.Join(l.dir, "layers")
	parts := []string{}
	switch kind {
	case KindNode:
		parts = append(parts, filepath.Join(layers, "node/local-bin"))
	case KindDebianBare:
		parts = append(parts, filepath.Join(layers, "bare/local-bin"))
	}
	parts = append(parts, filepath.Join(layers, "common/local-bin"), "/usr/local/bin")
	return strings.Join(parts, ":")
}

// prepareDisk writes a new guest's "disk": the files its /etc, /var and /root start with on
// top of the host's. Only called once per VM; power cycles keep what the guest changed.
func (l *Lab) prepareDisk(g *Guest, hostname string) error {
	for _, d := range []string{"etc/upper", "etc/work", "var/upper", "var/work", "home"} {
		if err := os.MkdirAll(filepath.Join(g.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(g.dir, "root/.ssh"), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(g.dir, "root"), 0o700); err != nil {
		return err
	}
	etc := filepath.Join(g.dir, "etc/upper")
	files := map[string]struct {
		data string
		mode os.FileMode
	}{
		"hostname": {hostname + "\n", 0o644},
		"hosts":    {"127.0.0.1\tlocalhost\n127.0.1.1\t" + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644},
		// No DNS server on the lab networks: fail lookups at once instead of timing out.
		"resolv.conf":                          {"nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", 0o644},
		"timezone":                             {"Europe/Berlin\n", 0o644}, // not UTC: the provider has something to fix
		"network/interfaces":                   {g.interfaces(), 0o644},
		"ssh/ssh_host_ed25519_key":             {string(g.hostKey.privatePEM), 0o600},
		"ssh/ssh_host_ed25519_key.pub":         {g.hostKey.public + " root@" + hostname + "\n", 0o644},
		"ssh/sshd_config.d/hipchatdc-lab.conf": {sshdConfig, 0o644},
		"sudoers.d/hipchatdc-lab-admin":        {"admin ALL=(ALL:ALL) NOPASSWD:ALL\n", 0o440},
		"hipchatdc-lab/kind":                   {g.Kind + "\n", 0o644},
	}
	if g.Kind == KindNode {
		for _, f := range []string{"nginx.conf", "ntp.conf"} {
			b, err := guestfiles.ReadFile("guestfiles/node/" + f)
			if err != nil {
				return err
			}
			target := f
			if f == "nginx.conf" {
				target = "nginx/nginx.conf"
			}
			files[target] = struct {
				data string
				mode os.FileMode
			}{string(b), 0o644}
		}
	}
	if g.Kind == KindNode && g.appliance.release != "" {
		// The node's page (guestfiles/node/nginx.conf) includes this file. The value is the
		// lab's own OVA property: quoted for nginx, nothing in it can end the string.
		files["nginx/hipchat-release.conf"] = struct {
			data string
			mode os.FileMode
		}{"set $hipchat_release \"" + strings.Map(func(r rune) rune {
			if r == '"' || r == '\\' || r == '$' || r < ' ' {
				return '_'
			}
			return r
		}, g.appliance.release) + "\";\n", 0o644}
	}
	if g.Kind == KindNode && g.appliance.selfCheckFails {
		// Read by guestfiles/node/hipchat-datacenter's selfcheck.
		files["hipchatdc-lab/selfcheck"] = struct {
			data string
			mode os.FileMode
		}{SelfCheckFails + "\n", 0o644}
	}
	for name, f := range files {
		p := filepath.Join(etc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	if err := os.Symlink("/usr/share/zoneinfo/Europe/Berlin", filepath.Join(etc, "localtime")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(g.dir, "root/.ssh/authorized_keys"), []byte(l.userKey.public+" hipchatdc-lab\n"), 0o600); err != nil {
		return err
	}
	if g.Kind == KindDebianBare {
		p := filepath.Join(g.dir, "var/upper/lib/dpkg/status")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, l.bareDpkgStatus, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sshdConfig limits the guest's sshd to its own host key (the host's others are hidden).
const sshdConfig = `# hipchatdc lab guest
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication yes
PermitRootLogin prohibit-password
UseDNS no
`

// interfaces is the guest's first /etc/network/interfaces: a static stanza per leg with the
// address the lab allocated, so ifupdown brings it up at boot without a DHCP server and the
// provider can rewrite it and run ifdown/ifup like on a real Debian or Ubuntu.
func (g *Guest) interfaces() string {
	var b strings.Builder
	b.WriteString("# interfaces(5) file used by ifup(8) and ifdown(8)\nauto lo\niface lo inet loopback\n")
	for j, lg := range g.legs {
		fmt.Fprintf(&b, "\nauto %s\niface %s inet static\n\taddress %s\n", ifName(j), ifName(j), netip.PrefixFrom(lg.addr, lg.bridge.subnet.Bits()))
		if lg.bridge.hostIP.IsValid() && j == 0 {
			fmt.Fprintf(&b, "\tgateway %s\n", lg.bridge.hostIP)
		}
	}
	return b.String()
}
