package guest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflogtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dialOK(t *testing.T, cfg Config) *Conn {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runOK(t *testing.T, c *Conn, script string) string {
	t.Helper()
	out, err := c.Run(context.Background(), script, nil)
	if err != nil {
		t.Fatalf("Run(%q): %v", script, err)
	}
	return strings.TrimSpace(string(out))
}

func TestPinnedHostKeyConnectsAndCounts(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	ResetStats()
	c := dialOK(t, Config{Target: s.endpoint("root", client)})
	if got := runOK(t, c, "id -un"); got != "root" {
		t.Fatalf("id -un = %q, want root", got)
	}
	if _, err := c.RunChange(context.Background(), "true", nil); err != nil {
		t.Fatal(err)
	}
	want := Counters{Connections: 1, ReadCommands: 1, ChangeCommands: 1}
	if got := Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}

func TestPinnedHostKeyMismatchIsFinalAndNothingRuns(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	impostor := newEd25519(t, "")
	ep := s.endpoint("root", client)
	ep.HostKey = impostor.pubLine
	ResetStats()
	start := time.Now()
	_, err := Dial(context.Background(), Config{Target: ep, Timeout: 20 * time.Second})
	var hk *HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("Dial error = %v, want a HostKeyError", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"host key for 127.0.0.1 does not match the pinned host_key",
		"got ssh-ed25519 " + ssh.FingerprintSHA256(s.hostKeys[0].signer.PublicKey()),
		"want ssh-ed25519 " + ssh.FingerprintSHA256(impostor.signer.PublicKey()),
		"nothing was changed",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a host key mismatch was retried for %v; it must fail at once", d)
	}
	if strings.Contains(s.log.String(), "Accepted") {
		t.Errorf("the client authenticated although the host key did not match:\n%s", s.log)
	}
	if st := Stats(); st.Connections != 0 {
		t.Errorf("Stats().Connections = %d after a refused host key", st.Connections)
	}
}

// A key the provider pinned itself (a moved guest's, proved at its old address) is named as
// such when it does not match: the user set no host_key, so "update host_key" is no advice.
func TestProviderPinnedHostKeyMismatchNamesWhereTheKeyCameFrom(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	ep := s.endpoint("root", client)
	ep.HostKey = newEd25519(t, "").pubLine
	ep.HostKeyOrigin = "the key this guest presented at 10.0.0.5 before its address changed"
	_, err := Dial(context.Background(), Config{Target: ep, Timeout: 20 * time.Second})
	var hk *HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("Dial error = %v, want a HostKeyError", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "does not match the key this guest presented at 10.0.0.5 before its address changed") {
		t.Errorf("error %q does not say where the pinned key came from", msg)
	}
	if strings.Contains(msg, "host_key") {
		t.Errorf("error %q speaks of host_key, which the user did not set", msg)
	}
}

func TestNoHostKeyVerificationIsRefusedWithAdvice(t *testing.T) {
	ep := Endpoint{Host: "127.0.0.1", Port: freePort(t), User: "root", Password: "x"}
	_, err := Dial(context.Background(), Config{Target: ep, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "set host_key") || !strings.Contains(err.Error(), "known_hosts") ||
		!strings.Contains(err.Error(), "insecure") {
		t.Fatalf("Dial error = %v, want advice to set host_key, known_hosts or the insecure opt-in", err)
	}
}

func TestKnownHosts(t *testing.T) {
	client := newEd25519(t, "")
	// Two host keys: the file only knows the RSA one, so the client must ask for RSA.
	rsaHost := newRSA(t)
	s := startSSHD(t, sshdOptions{hostKeys: []keyPair{newEd25519(t, ""), rsaHost}, authorized: []keyPair{client}})
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(known, []byte(knownhosts.Line([]string{s.addr}, rsaHost.signer.PublicKey())+"\n"), 0o600))
	other := filepath.Join(dir, "other_known_hosts")
	must(t, os.WriteFile(other, []byte(knownhosts.Line([]string{"[127.0.0.1]:1"}, rsaHost.signer.PublicKey())+"\n"), 0o600))
	wrong := filepath.Join(dir, "wrong_known_hosts")
	must(t, os.WriteFile(wrong, []byte(knownhosts.Line([]string{s.addr}, newEd25519(t, "").signer.PublicKey())+"\n"), 0o600))

	ep := s.endpoint("root", client)
	ep.HostKey = ""

	t.Run("known", func(t *testing.T) {
		ep := ep
		ep.KnownHostsFile = known
		c := dialOK(t, Config{Target: ep})
		if got := runOK(t, c, "echo ok"); got != "ok" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		ep := ep
		ep.KnownHostsFile = other
		start := time.Now()
		_, err := Dial(context.Background(), Config{Target: ep, Timeout: time.Minute})
		took := time.Since(start)
		var hk *HostKeyError
		if !errors.As(err, &hk) || !strings.Contains(err.Error(), "is not in known_hosts file "+other) {
			t.Fatalf("Dial error = %v, want 'is not in known_hosts file'", err)
		}
		// The file is read again for the grace, not for the whole budget.
		if took < UnknownHostGrace || took > UnknownHostGrace+30*time.Second {
			t.Errorf("an unknown host failed after %v, want after the %v grace", took, UnknownHostGrace)
		}
		t.Logf("unknown host: %v", err)
	})
	t.Run("mismatch", func(t *testing.T) {
		ep := ep
		ep.KnownHostsFile = wrong
		start := time.Now()
		_, err := Dial(context.Background(), Config{Target: ep, Timeout: time.Minute})
		if err == nil || !strings.Contains(err.Error(), "does not match known_hosts") {
			t.Fatalf("Dial error = %v, want a known_hosts mismatch", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a known_hosts mismatch was retried for %v; it must fail at once", d)
		}
	})
}

// logWatch is a log sink that tells when a line containing all of the given words was written.
type logWatch struct {
	words []string
	seen  chan struct{}
	once  sync.Once
}

func (w *logWatch) Write(p []byte) (int, error) {
	for _, word := range w.words {
		if !bytes.Contains(p, []byte(word)) {
			return len(p), nil
		}
	}
	w.once.Do(func() { close(w.seen) })
	return len(p), nil
}

// A tool that maintains the known_hosts file (the lab polls the guests' addresses) may add the
// host's line only after the host already answers: the file is read again on every attempt.
func TestKnownHostsFileThatGainsTheHostLater(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	known := filepath.Join(t.TempDir(), "known_hosts")
	other := knownhosts.Line([]string{"[127.0.0.1]:1"}, newEd25519(t, "").signer.PublicKey()) + "\n"
	must(t, os.WriteFile(known, []byte(other), 0o600))
	ep := s.endpoint("root", client)
	ep.HostKey, ep.KnownHostsFile = "", known

	// The line is added once an attempt has been refused for want of it, as the lab's poll
	// does on a busy machine; written to a new file and renamed over, as the lab writes it.
	w := &logWatch{words: []string{"connect attempt failed", "not in known_hosts"}, seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(tflogtest.RootLogger(context.Background(), w))
	defer cancel()
	added := make(chan error, 1)
	go func() {
		select {
		case <-w.seen:
		case <-ctx.Done():
			added <- ctx.Err()
			return
		}
		tmp := known + ".tmp"
		err := os.WriteFile(tmp, []byte(other+knownhosts.Line([]string{s.addr}, s.hostKeys[0].signer.PublicKey())+"\n"), 0o600)
		if err == nil {
			err = os.Rename(tmp, known)
		}
		added <- err
	}()
	c, err := Dial(ctx, Config{Target: ep, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("Dial while the known_hosts file gains the host's line: %v", err)
	}
	defer c.Close()
	cancel()
	must(t, <-added)
	if got := runOK(t, c, "echo ok"); got != "ok" {
		t.Fatalf("got %q", got)
	}
}

func TestInsecureIgnoreHostKeyIsAnExplicitOptIn(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	ep := s.endpoint("root", client)
	ep.HostKey = ""
	ep.InsecureIgnoreHostKey = true
	c := dialOK(t, Config{Target: ep})
	if got := runOK(t, c, "echo ok"); got != "ok" {
		t.Fatalf("got %q", got)
	}
	// The key the server presented is remembered, so that the same guest can be recognised
	// at another address.
	if k := c.HostKey(); k == nil || !bytes.Equal(k.Marshal(), s.hostKeys[0].signer.PublicKey().Marshal()) {
		t.Fatalf("HostKey() = %v, want the server's key", k)
	}
}

func TestRSAClientKeyAndPinnedRSAHostKey(t *testing.T) {
	client := newRSA(t)
	rsaHost := newRSA(t)
	// The server prefers ed25519; pinning its RSA key must still work.
	s := startSSHD(t, sshdOptions{hostKeys: []keyPair{newEd25519(t, ""), rsaHost}, authorized: []keyPair{client}})
	ep := s.endpoint("root", client)
	ep.HostKey = rsaHost.pubLine
	c := dialOK(t, Config{Target: ep})
	if got := runOK(t, c, "id -u"); got != "0" {
		t.Fatalf("id -u = %q", got)
	}
}

func TestPassphraseProtectedKey(t *testing.T) {
	const passphrase = "open-sesame-42"
	client := newEd25519(t, passphrase)
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})

	ep := s.endpoint("root", client)
	ep.Passphrase = passphrase
	c := dialOK(t, Config{Target: ep})
	runOK(t, c, "true")

	ep.Passphrase = "not-it"
	start := time.Now()
	_, err := Dial(context.Background(), Config{Target: ep, Timeout: 20 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("Dial error = %v, want 'wrong passphrase'", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a wrong passphrase was retried")
	}
	if strings.Contains(err.Error(), "not-it") || strings.Contains(err.Error(), passphrase) {
		t.Errorf("error reveals a passphrase: %v", err)
	}

	ep.Passphrase = ""
	if _, err := Dial(context.Background(), Config{Target: ep, Timeout: 5 * time.Second}); err == nil || !strings.Contains(err.Error(), "set its passphrase") {
		t.Fatalf("Dial error = %v, want a request for the passphrase", err)
	}
}

func TestAgent(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})

	keyring := agent.NewKeyring()
	priv, err := ssh.ParseRawPrivateKey([]byte(client.pem))
	must(t, err)
	must(t, keyring.Add(agent.AddedKey{PrivateKey: priv}))
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	must(t, err)
	t.Cleanup(func() { l.Close() })
	var served atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() { defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)

	ep := s.endpoint("root", client)
	ep.PrivateKey = ""
	ep.Agent = true
	c := dialOK(t, Config{Target: ep})
	runOK(t, c, "true")
	if served.Load() == 0 {
		t.Fatal("the agent was never asked")
	}
}

func TestAuthRefusedListsMethodsAndIsFinal(t *testing.T) {
	authorized, stranger := newEd25519(t, ""), newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{authorized}})
	ep := s.endpoint("root", stranger)
	start := time.Now()
	_, err := Dial(context.Background(), Config{Target: ep, Timeout: 20 * time.Second})
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Dial error = %v, want an AuthError", err)
	}
	if !strings.Contains(err.Error(), "methods tried: private_key (ssh-ed25519 "+ssh.FingerprintSHA256(stranger.signer.PublicKey())) {
		t.Errorf("error %q does not list the key offered", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("error reveals the private key")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("an authentication failure was retried")
	}
}

func TestPasswordAuthAndSudoForNonRoot(t *testing.T) {
	s := startSSHD(t, sshdOptions{withTestUser: true})
	ep := Endpoint{Host: s.host, Port: s.port, User: testUser, Password: testPassword, HostKey: s.hostKeys[0].pubLine}
	c := dialOK(t, Config{Target: ep})
	// The login is the unprivileged user, the script runs as root through sudo -n.
	if got := runOK(t, c, "echo $SUDO_USER $(id -un)"); got != testUser+" root" {
		t.Fatalf("got %q, want %q", got, testUser+" root")
	}

	ep.Password = "wrong-" + testPassword
	_, err := Dial(context.Background(), Config{Target: ep, Timeout: 10 * time.Second})
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "password") {
		t.Fatalf("Dial error = %v, want an AuthError naming password", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Fatalf("error reveals the password: %v", err)
	}
}

func TestBastion(t *testing.T) {
	client := newEd25519(t, "")
	target := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	jump := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	bastion := jump.endpoint("root", client)
	ResetStats()
	c := dialOK(t, Config{Target: target.endpoint("root", client), Bastion: &bastion})
	// The target sees the connection coming from the bastion's forwarded channel.
	runOK(t, c, "true")
	if st := Stats(); st.Connections != 1 || st.BastionConnections != 1 {
		t.Fatalf("Stats() = %+v, want one target and one bastion connection", st)
	}

	// A bastion that refuses forwarding makes the target unreachable: proof the target is
	// really dialled from the bastion, not from here.
	closed := startSSHD(t, sshdOptions{authorized: []keyPair{client}, extraDirective: []string{"DisableForwarding yes"}})
	noFwd := closed.endpoint("root", client)
	_, err := Dial(context.Background(), Config{Target: target.endpoint("root", client), Bastion: &noFwd, Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "prohibited") {
		t.Fatalf("Dial through a bastion without forwarding: %v, want 'administratively prohibited'", err)
	}

	// The bastion's own host key is verified with its own setting.
	bad := bastion
	bad.HostKey = newEd25519(t, "").pubLine
	_, err = Dial(context.Background(), Config{Target: target.endpoint("root", client), Bastion: &bad, Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "does not match the pinned host_key") {
		t.Fatalf("Dial with a wrong bastion host key: %v", err)
	}
}

func TestDialRetriesWhileTheServerStartsLate(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}, delay: 1500 * time.Millisecond})
	start := time.Now()
	c := dialOK(t, Config{Target: s.endpoint("root", client), Timeout: 20 * time.Second})
	took := time.Since(start)
	runOK(t, c, "true")
	if took < 1500*time.Millisecond {
		t.Fatalf("connected after %v, before the server started", took)
	}
	t.Logf("connected %v after Dial (server started at 1.5 s)", took)
}

func TestDialTimesOutOnAPortNobodyListensOn(t *testing.T) {
	ep := Endpoint{Host: "127.0.0.1", Port: freePort(t), User: "root", Password: "x", InsecureIgnoreHostKey: true}
	start := time.Now()
	_, err := Dial(context.Background(), Config{Target: ep, Timeout: time.Second})
	took := time.Since(start)
	var ce *ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial error = %v, want a ConnectError wrapping connection refused", err)
	}
	// Not retried for its whole default budget, nor given up before its own; the margin is
	// for a busy machine.
	if took < time.Second || took > 10*time.Second {
		t.Fatalf("Dial gave up after %v, want about the 1 s budget", took)
	}
}

func TestRunReportsExitStatusAndStderr(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	c := dialOK(t, Config{Target: s.endpoint("root", client)})
	_, err := c.Run(context.Background(), "echo partial; echo '  disk on fire  ' >&2; exit 7", nil)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitStatus != 7 || ce.Stderr != "disk on fire" {
		t.Fatalf("Run error = %#v, want exit status 7 and stderr 'disk on fire'", err)
	}
	if !strings.Contains(err.Error(), "exit status 7: disk on fire") {
		t.Fatalf("error text %q", err)
	}
	// Stdin reaches the script.
	out, err := c.Run(context.Background(), "tr a-z A-Z", strings.NewReader("hello"))
	if err != nil || string(out) != "HELLO" {
		t.Fatalf("Run with stdin = %q, %v", out, err)
	}
}

func TestRunHonoursTheContextDeadline(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	c := dialOK(t, Config{Target: s.endpoint("root", client)})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, "sleep 30", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run error = %v, want deadline exceeded", err)
	}
	// Long before the command would end (30 s), with a margin for a busy machine.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Run returned after %v", d)
	}
	// The connection is still usable.
	runOK(t, c, "true")
}

// freezingProxy forwards TCP until frozen; then it stops moving bytes without closing
// anything, which is what a vanished peer looks like to the client.
type freezingProxy struct {
	addr   string
	frozen atomic.Bool
}

func startFreezingProxy(t *testing.T, to string) *freezingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	p := &freezingProxy{addr: l.Addr().String()}
	var conns sync.WaitGroup
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32*1024)
				for {
					n, err := src.Read(buf)
					if err != nil {
						return
					}
					for p.frozen.Load() {
						time.Sleep(50 * time.Millisecond) // swallow nothing, deliver nothing
					}
					if _, err := dst.Write(buf[:n]); err != nil {
						return
					}
				}
			}
			conns.Add(2)
			go func() { defer conns.Done(); pipe(out, in) }()
			go func() { defer conns.Done(); pipe(in, out) }()
		}
	}()
	return p
}

func TestKeepAliveDetectsADeadPeer(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	proxy := startFreezingProxy(t, s.addr)
	host, port, _ := net.SplitHostPort(proxy.addr)
	ep := s.endpoint("root", client)
	ep.Host = host
	ep.Port = atoiT(t, port)
	c := dialOK(t, Config{Target: ep, KeepAliveInterval: 300 * time.Millisecond})
	runOK(t, c, "true")

	done := make(chan error, 1)
	go func() { _, err := c.Run(context.Background(), "sleep 60", nil); done <- err }()
	time.Sleep(200 * time.Millisecond)
	proxy.frozen.Store(true)
	defer proxy.frozen.Store(false)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not finish") {
			t.Fatalf("Run error = %v, want the lost connection", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still hangs 5 s after the peer went silent")
	}
}

func atoiT(t *testing.T, s string) int {
	var n int
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func TestWriteFileAndReadFile(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	c := dialOK(t, Config{Target: s.endpoint("root", client)})
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "it's a file.conf") // a quote in the name: quoting must hold
	must(t, os.WriteFile(file, []byte("old\n"), 0o600))
	before, err := os.Stat(file)
	must(t, err)

	content := []byte("line 1\n\x00binary\xff\nsecret=hunter2\n")
	ResetStats()
	must(t, c.WriteFile(ctx, file, content, 0o640, "nobody:nogroup"))
	if st := Stats(); st.ChangeCommands != 1 || st.ReadCommands != 0 {
		t.Fatalf("WriteFile counted as %+v, want one changing command", st)
	}
	got, err := os.ReadFile(file)
	must(t, err)
	if !bytes.Equal(got, content) {
		t.Fatalf("content = %q", got)
	}
	after, err := os.Stat(file)
	must(t, err)
	if after.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", after.Mode().Perm())
	}
	st := after.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("owner = %d:%d, want nobody:nogroup (65534:65534)", st.Uid, st.Gid)
	}
	// A rename installs a new inode; an in-place write would keep the old one.
	if os.SameFile(before, after) {
		t.Errorf("the file was rewritten in place, not replaced atomically")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// ReadFile: present, absent, empty.
	data, ok, err := c.ReadFile(ctx, file)
	if err != nil || !ok || !bytes.Equal(data, content) {
		t.Fatalf("ReadFile = %q, %v, %v", data, ok, err)
	}
	_, ok, err = c.ReadFile(ctx, filepath.Join(dir, "missing"))
	if err != nil || ok {
		t.Fatalf("ReadFile(missing) = %v, %v; want not found", ok, err)
	}
	empty := filepath.Join(dir, "empty")
	must(t, c.WriteFile(ctx, empty, nil, 0o600, ""))
	data, ok, err = c.ReadFile(ctx, empty)
	if err != nil || !ok || len(data) != 0 {
		t.Fatalf("ReadFile(empty) = %q, %v, %v", data, ok, err)
	}

	// The parent must exist; the failure names it, not the content.
	err = c.WriteFile(ctx, filepath.Join(dir, "no", "such.conf"), content, 0o600, "")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("WriteFile into a missing directory: %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error reveals the file content: %v", err)
	}
}

func TestSecretsStayOutOfLogsAndErrors(t *testing.T) {
	client := newEd25519(t, "")
	s := startSSHD(t, sshdOptions{authorized: []keyPair{client}})
	var logs bytes.Buffer
	ctx := tflogtest.RootLogger(context.Background(), &logs)
	c, err := Dial(ctx, Config{Target: s.endpoint("root", client), Timeout: 10 * time.Second})
	must(t, err)
	defer c.Close()

	const secret = "s3cr3t-db-password"
	_, err = c.RunChange(ctx, "# configure the database\nread pw; [ -z \"$pw\" ]", strings.NewReader(secret+"\n"))
	if err == nil {
		t.Fatal("the script should have failed")
	}
	must(t, c.WriteFile(ctx, filepath.Join(t.TempDir(), "f"), []byte(secret), 0o600, ""))
	if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Fatalf("a secret from stdin leaked:\nerror: %v\nlogs: %s", err, logs.String())
	}
	if strings.Contains(logs.String(), "BEGIN OPENSSH PRIVATE KEY") {
		t.Fatal("the private key reached the logs")
	}
	if !strings.Contains(logs.String(), "configure the database") {
		t.Fatalf("commands are not logged at DEBUG:\n%s", logs.String())
	}
}
