package guest

// A real OpenSSH server for the tests, started per test on 127.0.0.1 in a private mount
// namespace: there it gets its own /run (for /run/sshd) and, for the password and sudo tests,
// its own /etc/passwd, /etc/shadow, /etc/group and /etc/sudoers with a test user. The host's
// files are never touched.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	testUser     = "hctest" // exists only inside the test sshd's mount namespace
	testPassword = "Corr3ct-Horse-Battery"
)

// keyPair is a client or host key in the forms the tests need.
type keyPair struct {
	signer  ssh.Signer
	pem     string // OpenSSH private key, unencrypted unless made with a passphrase
	pubLine string // authorized_keys format
}

func newEd25519(t *testing.T, passphrase string) keyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return makeKeyPair(t, priv, passphrase)
}

func newRSA(t *testing.T) keyPair {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return makeKeyPair(t, priv, "")
}

func makeKeyPair(t *testing.T, priv any, passphrase string) keyPair {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{
		signer:  signer,
		pem:     string(pem.EncodeToMemory(block)),
		pubLine: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
	}
}

type sshdOptions struct {
	hostKeys       []keyPair // ed25519 when empty
	authorized     []keyPair
	withTestUser   bool // add hctest (password + key) with passwordless sudo
	delay          time.Duration
	extraDirective []string
}

type sshd struct {
	addr, host string
	port       int
	hostKeys   []keyPair
	dir        string
	cmd        *exec.Cmd
	log        *syncBuffer
}

// syncBuffer collects sshd's log while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort finds a port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSSHD starts sshd -D -e -f cfg; with opts.delay it starts that much later (in the
// background) and returns at once, for the retry test.
func startSSHD(t *testing.T, opts sshdOptions) *sshd {
	t.Helper()
	// Not t.TempDir: sshd reads authorized_keys as the logged-in user, so the directory must
	// be traversable by the test user too.
	dir, err := os.MkdirTemp("", "guest-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))

	if len(opts.hostKeys) == 0 {
		opts.hostKeys = []keyPair{newEd25519(t, "")}
	}
	s := &sshd{host: "127.0.0.1", port: freePort(t), hostKeys: opts.hostKeys, dir: dir, log: &syncBuffer{}}
	s.addr = net.JoinHostPort(s.host, strconv.Itoa(s.port))

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "Port %d\nListenAddress 127.0.0.1\nPidFile none\nUsePAM no\nStrictModes no\n", s.port)
	fmt.Fprintf(&cfg, "AuthorizedKeysFile %s\n", filepath.Join(dir, "authorized_keys"))
	cfg.WriteString("PermitRootLogin prohibit-password\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nAllowTcpForwarding yes\nLogLevel VERBOSE\n")
	for i, k := range opts.hostKeys {
		p := filepath.Join(dir, fmt.Sprintf("host_key_%d", i))
		must(t, os.WriteFile(p, []byte(k.pem), 0o600))
		fmt.Fprintf(&cfg, "HostKey %s\n", p)
	}
	for _, d := range opts.extraDirective {
		cfg.WriteString(d + "\n")
	}
	var auth strings.Builder
	for _, k := range opts.authorized {
		auth.WriteString(k.pubLine + "\n")
	}
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(auth.String()), 0o644))
	cfgPath := filepath.Join(dir, "sshd_config")
	must(t, os.WriteFile(cfgPath, []byte(cfg.String()), 0o644))

	// /run first (LAB-NOTES: mounting it later lets libmount write /run/mount on the host).
	setup := []string{"mount -n -t tmpfs tmpfs /run", "mkdir -m 755 /run/sshd"}
	if opts.withTestUser {
		setup = append(setup, privateUserFiles(t, dir)...)
	}
	setup = append(setup, "exec /usr/sbin/sshd -D -e -f "+cfgPath)
	script := strings.Join(setup, " && ")

	s.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	start := func() error { return s.cmd.Start() }
	if opts.delay > 0 {
		started := make(chan struct{})
		go func() {
			time.Sleep(opts.delay)
			if err := start(); err != nil {
				t.Errorf("start sshd: %v", err)
			}
			close(started)
		}()
		t.Cleanup(func() { <-started; s.stop() })
		return s
	}
	must(t, start())
	t.Cleanup(s.stop)
	waitListening(t, s)
	return s
}

func (s *sshd) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill() // by PID: the unshare'd shell exec'd into sshd
		_ = s.cmd.Wait()         // "signal: killed" is the expected outcome
	}
}

func waitListening(t *testing.T, s *sshd) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sshd did not listen on %s: %s", s.addr, s.log.String())
}

// privateUserFiles writes copies of the host's account files with the test user added and
// returns the commands that bind them over /etc inside sshd's mount namespace.
func privateUserFiles(t *testing.T, dir string) []string {
	t.Helper()
	home := filepath.Join(dir, "home")
	must(t, os.Mkdir(home, 0o755))
	must(t, os.Chown(home, 4242, 4242))
	hash, err := exec.Command("openssl", "passwd", "-6", "-salt", "hcsaltxx", testPassword).Output()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"passwd":  fmt.Sprintf("%s:x:4242:4242:guest test user:%s:/bin/sh\n", testUser, home),
		"shadow":  fmt.Sprintf("%s:%s:19000:0:99999:7:::\n", testUser, strings.TrimSpace(string(hash))),
		"group":   fmt.Sprintf("%s:x:4242:\n", testUser),
		"sudoers": fmt.Sprintf("root ALL=(ALL:ALL) ALL\n%s ALL=(ALL:ALL) NOPASSWD: ALL\n", testUser),
	}
	var cmds []string
	for name, extra := range files {
		base := ""
		if name != "sudoers" {
			b, err := os.ReadFile("/etc/" + name)
			if err != nil {
				t.Fatal(err)
			}
			base = string(b)
		}
		p := filepath.Join(dir, "etc-"+name)
		mode := os.FileMode(0o644)
		if name == "shadow" || name == "sudoers" {
			mode = 0o440
		}
		must(t, os.WriteFile(p, []byte(base+extra), mode))
		must(t, os.Chmod(p, mode))
		cmds = append(cmds, fmt.Sprintf("mount -n --bind %s /etc/%s", p, name))
	}
	return cmds
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// endpoint is the usual way the tests reach s: as root with key, host key pinned.
func (s *sshd) endpoint(user string, key keyPair) Endpoint {
	return Endpoint{Host: s.host, Port: s.port, User: user, PrivateKey: key.pem, HostKey: s.hostKeys[0].pubLine}
}
