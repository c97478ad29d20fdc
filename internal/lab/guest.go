package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Guest kinds, chosen per VM by the extraConfig key KindKey.
const (
	KindNode       = "node"        // Hipchat appliance stand-in (dont-blame-hipchat, hipchat, HTTP on :80)
	KindDebian     = "debian"      // plain Debian server: data stores, reverse proxy
	KindDebianBare = "debian-bare" // Debian without redis-server, postgresql, nfs-kernel-server
)

// guestBootTimeout bounds one power-on: namespace, mounts, first boot, ifup, sshd. It catches a
// hang, not a slow boot: a boot takes about a second on an idle machine, but on a runner whose
// CPUs are busy (load 20 on 2 CPUs) a node's first boot (useradd, chpasswd, sshd, nginx) took
// over 30 s, the boot script was killed, and the VM stayed powered on without a guest: the
// provider then waited for its address until the test's deadline. A real VM boots late, not never.
const guestBootTimeout = 5 * time.Minute

// leg is one network interface of a guest: ethN inside, a veth end on a lab bridge outside.
type leg struct {
	bridge    *bridge
	addr      netip.Addr // the address the lab allocated; the guest may have moved since
	mac       string     // the VM's NIC MAC when the VM has one, so vSphere and the guest agree
	deviceKey int32      // the VM's NIC device key (0 when the VM has none)
}

// Guest is the sandbox standing in for one powered-on VM: its own network, mount, UTS, IPC and
// PID namespaces, a real sshd, and its "disk" (overlay upper dirs) kept across power cycles.
type Guest struct {
	VMName string // the VM's name in vSphere ("jumphost" for the lab's own jump host)
	MOID   string // the VM's managed object ID ("" for the jump host, which is not a VM)
	Kind   string // KindNode, KindDebian or KindDebianBare

	lab     *Lab
	vc      *vcsim // the simulator the VM lives in (nil for the jump host)
	index   int
	dir     string // the guest's disk: etc/, var/, root/, home/, console.log
	legs    []leg
	hostKey keyPair
	// appliance is what a node's OVA said at its first power-on (written on its disk then).
	appliance appliance

	mu            sync.Mutex // guards the fields below
	running       bool
	initPID       int
	unshare       *exec.Cmd
	unshareExited <-chan struct{}
	nsName        string
	nsFile        *os.File
	hostIfs       []string
	seen          []string // every address sshd was reachable at, for known_hosts
	reported      string   // the last guest.net the lab reported, to report only changes
	stopPoll      chan struct{}
	pollDone      chan struct{}
	bootErr       error

	// silenced is set when vSphere powers the guest's VM off and cleared when the guest boots
	// again (toolsRunning). Guarded by lab.mu, which onPower holds.
	silenced bool
}

// ifName is the guest side name of leg j; the host side adds the lab prefix and guest index.
func ifName(j int) string { return "eth" + strconv.Itoa(j) }

// Running tells whether the guest's VM is powered on and its sandbox is up.
func (g *Guest) Running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// BootError is the reason the last power-on did not bring the guest up, or nil.
func (g *Guest) BootError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bootErr
}

// Address is the IPv4 address the guest really has on eth0 right now (read from its network
// namespace, not remembered), or "" when it has none or is not running.
func (g *Guest) Address() string {
	addrs := g.Addresses()
	if len(addrs) == 0 || len(addrs[0]) == 0 {
		return ""
	}
	return addrs[0][0]
}

// Addresses lists, per interface (eth0, eth1, ...), the IPv4 addresses the guest has now.
func (g *Guest) Addresses() [][]string {
	g.mu.Lock()
	nsFile := g.nsFile
	g.mu.Unlock()
	if nsFile == nil {
		return nil
	}
	nics, err := readNICs(nsFile)
	if err != nil {
		return nil
	}
	out := make([][]string, len(nics))
	for i, n := range nics {
		for _, a := range n.addrs {
			out[i] = append(out[i], a.IP.String())
		}
	}
	return out
}

// HostKey is the guest's SSH host key in authorized_keys format ("ssh-ed25519 AAAA...").
func (g *Guest) HostKey() string { return g.hostKey.public }

// Dir is the guest's disk folder on the host (overlay upper dirs): for looking, not writing.
func (g *Guest) Dir() string { return g.dir }

// InitPID is the host PID of the guest's init (0 when not running); nsenter -t takes it.
func (g *Guest) InitPID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.initPID
}

// Exec runs cmd with sh -c inside the guest, as root, in all of its namespaces (nsenter), and
// returns its standard output. It is the test's back door for assertions; the provider itself
// must go through SSH. The error carries the command's standard error.
func (g *Guest) Exec(ctx context.Context, cmd string) ([]byte, error) {
	return g.execEnv(ctx, cmd, nil)
}

func (g *Guest) execEnv(ctx context.Context, cmd string, env []string) ([]byte, error) {
	pid := g.InitPID()
	if pid == 0 {
		return nil, fmt.Errorf("guest %s is not running", g.VMName)
	}
	c := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-m", "-u", "-i", "-n", "-p", "--", "sh", "-c", cmd)
	c.Dir = "/"
	c.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LANG=C.UTF-8", "USER=root", "LOGNAME=root",
	}, env...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	// A detached background child (nohup ... &) may keep the pipes open: do not wait for it.
	c.WaitDelay = 2 * time.Second
	err := c.Run()
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("guest %s: %q: %w: %s", g.VMName, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// shutdown runs the guest's side of a clean shutdown (shutdown.sh); the caller then stops it.
func (g *Guest) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), guestBootTimeout)
	defer cancel()
	if _, err := g.Exec(ctx, g.lab.shutdownScript); err != nil {
		g.lab.logf("lab: guest %s: shutdown: %v", g.VMName, err)
	}
}

// boot brings the guest up, as powering on its VM does: namespace and legs, init with the
// guest's own mounts, boot.sh (first-boot setup, ifup -a, sshd, nginx for a node), and waits
// until sshd answers. Called with g.mu not held.
func (g *Guest) boot() (err error) {
	l := g.lab
	start := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running {
		return nil
	}
	defer func() {
		g.bootErr = err
		if err != nil {
			g.teardownLocked()
		}
	}()

	g.nsName = fmt.Sprintf("%s-g%d", l.slot.prefix(), g.index)
	if err := ip("netns", "add", g.nsName); err != nil {
		return err
	}
	f, err := os.Open(filepath.Join("/run/netns", g.nsName))
	if err != nil {
		return err
	}
	g.nsFile = f
	for j, lg := range g.legs {
		hostIf := fmt.Sprintf("%sg%dl%d", l.slot.prefix(), g.index, j)
		args := []string{"link", "add", hostIf, "type", "veth", "peer", "name", ifName(j)}
		if lg.mac != "" {
			args = append(args, "address", lg.mac)
		}
		args = append(args, "netns", g.nsName)
		if err := ip(args...); err != nil {
			return err
		}
		g.hostIfs = append(g.hostIfs, hostIf)
		if err := ip("link", "set", hostIf, "master", lg.bridge.name, "up"); err != nil {
			return err
		}
	}

	console, err := os.OpenFile(filepath.Join(g.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer console.Close()
	cmd := exec.Command("ip", "netns", "exec", g.nsName,
		"unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--mount-proc", "--propagation", "private",
		"sh", filepath.Join(l.dir, "layers", "init.sh"))
	cmd.Dir = "/"
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"GUEST_DIR=" + g.dir,
		"LOCAL_BIN_LOWER=" + l.localBinLower(g.Kind),
	}
	if g.Kind == KindDebianBare {
		cmd.Env = append(cmd.Env, "BARE_LAYER="+filepath.Join(l.dir, "layers", "bare"))
	}
	cmd.Stdout, cmd.Stderr = console, console
	// Its own process group: a Ctrl-C meant for hipchatdc-lab must not kill guests behind
	// the lab's back; Stop() ends them in order. (No Pdeathsig: it fires when the forking OS
	// thread exits, which in Go is not when the lab ends.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	g.unshare = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	waitExited := exited

	deadline := time.Now().Add(guestBootTimeout)
	pid, err := waitInitPID(cmd.Process.Pid, waitExited, deadline)
	if err != nil {
		return fmt.Errorf("guest %s init: %w (console: %s)", g.VMName, err, tail(filepath.Join(g.dir, "console.log")))
	}
	g.initPID = pid
	g.unshareExited = waitExited
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/run/hipchatdc-lab-booted", pid)); err == nil {
			break
		}
		select {
		case <-waitExited:
			return fmt.Errorf("guest %s init exited (console: %s)", g.VMName, tail(filepath.Join(g.dir, "console.log")))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("guest %s init did not finish its mounts", g.VMName)
		}
	}

	g.mu.Unlock()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	_, err = g.execEnv(ctx, l.bootScript, []string{"GUEST_KIND=" + g.Kind, "ADMIN_PASSWORD=" + l.adminPassword})
	cancel()
	g.mu.Lock()
	if err != nil {
		return err
	}
	if err := waitSSHBanner(g.nsFile, deadline); err != nil {
		return fmt.Errorf("guest %s: %w", g.VMName, err)
	}
	g.running = true
	g.stopPoll, g.pollDone = make(chan struct{}), make(chan struct{})
	go g.poll(g.nsFile, g.stopPoll, g.pollDone)
	l.logf("lab: guest %s (%s, %s) up in %v", g.VMName, g.Kind, g.MOID, time.Since(start).Round(time.Millisecond))
	return nil
}

// waitInitPID finds the guest's PID 1: the child unshare --fork made.
func waitInitPID(unsharePID int, exited <-chan struct{}, deadline time.Time) (int, error) {
	file := fmt.Sprintf("/proc/%d/task/%d/children", unsharePID, unsharePID)
	for {
		b, err := os.ReadFile(file)
		if err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("unshare exited")
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no init process")
		}
	}
}

// poll keeps vSphere's view of the guest's addresses equal to what the guest really has, as
// VMware Tools does: when the provider moves the address with ifdown/ifup, guest.ipAddress
// follows within one period.
func (g *Guest) poll(nsFile *os.File, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		g.report(nsFile)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// nicsKey identifies what a report of nics says (fmt.Sprint would print the addresses'
// pointers, which differ at every read).
func nicsKey(nics []nicAddrs) string {
	var b strings.Builder
	for _, n := range nics {
		b.WriteString(n.name + " " + n.mac)
		for _, a := range n.addrs {
			b.WriteString(" " + a.String())
		}
		b.WriteString(";")
	}
	return b.String()
}

// reportAgain makes the next poll report the guest's addresses even if they did not change.
func (g *Guest) reportAgain() {
	g.mu.Lock()
	g.reported = ""
	g.mu.Unlock()
}

func (g *Guest) report(nsFile *os.File) {
	nics, err := readNICs(nsFile)
	if err != nil {
		return
	}
	key := nicsKey(nics)
	g.mu.Lock()
	changed := key != g.reported
	g.reported = key
	newAddr := false
	for _, n := range nics {
		for _, a := range n.addrs {
			if s := a.IP.String(); !slices.Contains(g.seen, s) {
				g.seen = append(g.seen, s)
				newAddr = true
			}
		}
	}
	g.mu.Unlock()
	if newAddr {
		g.lab.writeKnownHosts()
	}
	// A report refused while silenced is made again after the reboot: powerOff forgets
	// what was reported.
	if changed && g.vc != nil {
		g.vc.reportGuest(g.MOID, g.toolsView(nics), g.toolsRunning)
	}
}

// toolsRunning tells whether the guest's VMware Tools still report: not from the moment
// vSphere powered its VM off until the guest has followed (gone down and booted again). Until
// then the guest's processes still run, and a report from them (its poll, after reportAgain)
// would hand a client that powers the VM on again the address of the guest from before, as if
// it had booted. Called under the VM's lock (reportGuest), as onPower is, which silences it.
func (g *Guest) toolsRunning() bool {
	g.lab.mu.Lock()
	defer g.lab.mu.Unlock()
	return !g.silenced
}

// toolsView is what VMware Tools would say about the guest's NICs.
func (g *Guest) toolsView(nics []nicAddrs) []guestNIC {
	out := make([]guestNIC, 0, len(nics))
	for j, n := range nics {
		gn := guestNIC{mac: n.mac}
		if j < len(g.legs) {
			gn.network = g.legs[j].bridge.network
			gn.deviceKey = g.legs[j].deviceKey
		}
		for _, a := range n.addrs {
			ones, _ := a.Mask.Size()
			gn.addrs = append(gn.addrs, netip.PrefixFrom(netip.MustParseAddr(a.IP.String()), ones))
		}
		out = append(out, gn)
	}
	return out
}

// powerOff ends the guest's processes and network but keeps its disk, as powering off a VM
// does. Services the provider started (redis, postgres, nginx) do not come back by themselves
// at the next power-on: a lab guest has no init system to start them.
func (g *Guest) powerOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.teardownLocked()
}

func (g *Guest) teardownLocked() {
	if g.stopPoll != nil {
		close(g.stopPoll)
		g.mu.Unlock()
		<-g.pollDone
		g.mu.Lock()
		g.stopPoll, g.pollDone = nil, nil
	}
	if g.unshare != nil {
		// SIGKILL to PID 1 of the guest's PID namespace kills every process in it.
		// unshare then reaps it and exits; killing unshare first would leave the guest's
		// init a zombie of whatever reaps orphans on this machine.
		if g.initPID != 0 {
			_ = syscall.Kill(g.initPID, syscall.SIGKILL)
		} else {
			_ = g.unshare.Process.Kill()
		}
		select {
		case <-g.unshareExited:
		case <-time.After(10 * time.Second):
			_ = g.unshare.Process.Kill()
			<-g.unshareExited
		}
		g.unshare, g.unshareExited = nil, nil
	}
	g.initPID = 0
	if g.nsFile != nil {
		_ = g.nsFile.Close()
		g.nsFile = nil
	}
	// Host-side veth ends go explicitly: an orphaned TCP socket can keep one alive after the
	// namespace is gone.
	for _, h := range g.hostIfs {
		if linkExists(h) {
			if err := ip("link", "del", h); err != nil && linkExists(h) {
				g.lab.logf("lab: %v", err)
			}
		}
	}
	g.hostIfs = nil
	if g.nsName != "" {
		if _, err := os.Stat(filepath.Join("/run/netns", g.nsName)); err == nil {
			if err := ip("netns", "del", g.nsName); err != nil {
				g.lab.logf("lab: %v", err)
			}
		}
		g.nsName = ""
	}
	g.running = false
	g.reported = ""
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// tail is the end of a log file, for error messages.
func tail(file string) string {
	b, _ := os.ReadFile(file)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
