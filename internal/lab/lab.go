// Package lab is the embedded environment for running and testing the provider: an
// in-process vCenter simulator (govmomi's vcsim) over HTTPS on loopback, and one real guest
// sandbox per powered-on VM: its own network namespace on a lab bridge, its own mount, UTS,
// IPC and PID namespaces with a writable /etc, /var, /root on top of the host's read-only
// file system, and a real OpenSSH server.
//
// Powering a VM on in vcsim (by any client) boots its guest and, once sshd answers, reports
// the guest's addresses the way VMware Tools does (guest.ipAddress, guest.net,
// guest.toolsRunningStatus), and keeps reporting what the guest really has. Powering off stops
// the guest but keeps its disk; destroying the VM deletes both. A guest shutdown through VMware
// Tools (ShutdownGuest) first runs the guest's clean shutdown (SIGTERM to its services, a
// shutdown record in wtmp); each boot writes a reboot record, so `last -x reboot shutdown` in
// the guest tells a clean shutdown from a hard power-off, as on a real Debian. Every power-off
// is followed by the guest, also one undone by a power-on before the lab could follow it.
//
// With Options.StandaloneESXi the lab also serves standalone ESXi hosts, each an endpoint of its
// own (vcsim's ESX model: datacenter ha-datacenter, one host, no cluster, StandaloneESXi), in the
// same process; their VMs boot guests on the same lab networks in the same way.
//
// # Guests
//
// The kind comes from the VM's extraConfig key KindKey (or a vApp property with that id, since
// vcsim does not copy an OVF's vmw:ExtraConfig into the VM):
//
//   - node: stand-in for the Hipchat appliance. dont-blame-hipchat -c CMD, hostnamectl,
//     hipchat service --ntp-servers, and nginx on port 80 serving a page with the hostname and
//     a "data center:" line (not configured / configured for URL); its access log
//     (/var/log/nginx/access.log) records $connection and $connection_requests. "hipchat
//     datacenter configure --file F" checks a config.json and installs it as
//     /hipchat/config/site.json (0600); "hipchat datacenter selfcheck" really connects to the
//     Postgres, Redis and NFS share site.json names (psql, redis-cli, libnfs), passwords only in
//     the environment, and removes the probe file it wrote to the share. A node guest gets its own root (pivot_root) so that /hipchat, which the
//     host does not have, exists and persists on the guest's disk. More appliance commands:
//     add guestfiles/node/hipchat-SUBCOMMAND; "hipchat SUBCOMMAND" runs it. The page also says
//     "release: R", R from the OVA's ReleaseKey ("unknown" without it), and GET /longpoll
//     answers after ?seconds=N (default 3, at most 60) with the same node and release lines,
//     as a long poll or WebSocket holds a request open (a python3 server behind the node's
//     nginx); GET /hold?release=NAME answers 200 at once but holds the body open (a "." line a
//     second) until the file /run/hipchatdc-lab-hold/NAME exists in the guest, then ends it with
//     "released": a request that a test ends after the event it must span. An OVA with SelfCheckKey = SelfCheckFails is a broken release: its self-check
//     fails with a "release:" line whatever the data stores answer.
//   - debian (default): a Debian server with the host's programs (redis-server, postgres,
//     nginx, ganesha) on a read-only /usr, none of them started, and a 256 MB tmpfs on /srv at
//     every power-on: the stand-in for the VM's data disk (nfs-ganesha cannot export a path on
//     overlayfs); its content does not survive a power cycle.
//   - debian-bare: like debian, but redis-server, postgresql and nfs-kernel-server are not
//     installed as far as dpkg-query and PATH can tell.
//
// Every guest has root (the lab key in /root/.ssh/authorized_keys), a user "admin" with a
// password, the lab key, and NOPASSWD sudo, fresh SSH host keys, hostname "hipchat" (node) or
// "debian", timezone Europe/Berlin, and an /etc/network/interfaces with a static stanza for
// the address the lab allocated, brought up by "ifup -a" at power-on, so "ifdown eth0; ifup
// eth0" after rewriting it moves the address (run it detached: nohup sh -c '...' &).
//
// There is no init system in a guest. Services are started directly, inside the guest:
//
//	service nginx start | reload            (nginx -t first)
//	install -d -o redis -g redis /run/redis && runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes
//	pg_createcluster 15 main -- --auth-host=scram-sha-256 && pg_ctlcluster 15 main start
//
// and do not come back by themselves after a power cycle.
//
// # Networks
//
// Each lab owns a /24 pair in 10.213.0.0/16 (an "unreachable" route for the whole range keeps
// lab traffic off the host's real interfaces). The public bridge carries the host's address
// (.1) and the guests' default gateway; the host reaches its guests directly. The host answers
// NTP (SNTP, UDP 123) on that address with its own clock (ntp.go; SetNTPOffset skews it). With
// Options.PrivateNetwork a second bridge without host address carries the guests whose VM NIC
// is on the DVS portgroup (VSphereInfo.PrivateNetwork) or whose NetworksKey says "private";
// the host reaches them only through the jump host guest ("jumphost", on both bridges).
package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/vim25/types"
)

// Options configure Start.
type Options struct {
	// Dir is the lab's working folder (keys, datastore files, guest disks). Default: a new
	// temporary folder. Stop removes it. It must not be under /etc, /var, /root or /run,
	// which guests see through their own overlays.
	Dir string
	// PrivateNetwork puts node and data-store guests on a network the host cannot reach
	// directly; SSH goes through the jump host guest (SSHInfo.JumpHost).
	PrivateNetwork bool
	// StandaloneESXi is how many standalone ESXi hosts (vcsim's ESX model, each its own
	// endpoint with datacenter ha-datacenter and no cluster) the lab serves besides its
	// vCenter: 0 by default, 2 for the guide's two-host layout without a vCenter. Their VMs
	// boot guests on the same lab networks as the vCenter's.
	StandaloneESXi int
	// Logf receives progress messages (optional).
	Logf func(format string, args ...any)
	// NFCBandwidth, in bytes per second, limits the NFC uploads to vcsim, all together, as
	// one network link does (0: loopback speed). EnvNFCBandwidth sets it for hipchatdc-lab.
	NFCBandwidth int64
}

// VSphereInfo is how to reach and use the simulated vCenter.
type VSphereInfo struct {
	URL       string // https://127.0.0.1:PORT/sdk
	Server    string // 127.0.0.1:PORT (the provider's vsphere_server)
	User      string
	Password  string
	CACertPEM string // vcsim's TLS certificate: trust it instead of allow_unverified_ssl
	CAFile    string // the same, as a file

	Datacenter   string // "DC0"
	Cluster      string // "DC0_C0"
	ClusterPath  string // "/DC0/host/DC0_C0"
	Host         string // a host of the cluster
	ResourcePool string // inventory path of the cluster's root pool
	Folder       string // inventory path of the datacenter's VM folder
	Datastore    string // "LocalDS_0", on every host
	// Every host's CPUs run at FastHostMHz, above the guide's 2.8 GHz, except SlowHost (the
	// standalone host, "DC0_H0") and SlowClusterHost ("DC0_C1_H0"), one of the hosts of the
	// second cluster SlowCluster ("DC0_C1"), at SlowHostMHz.
	SlowHost        string
	SlowCluster     string
	SlowClusterHost string
	// NoDRSCluster ("DC0_C2") is a cluster of fast hosts with DRS turned off: no VM-VM rule can
	// be made there. Every other cluster has DRS on (vcsim stores its rules and moves no VM).
	NoDRSCluster   string
	Network        string // "VM Network": the public lab network
	PrivateNetwork string // the DVS portgroup: the private lab network in private mode
}

// SSHInfo is how to log in to the guests.
type SSHInfo struct {
	User           string // "root"
	PrivateKeyPEM  string // OpenSSH ed25519 private key, authorized for root and admin
	PrivateKeyFile string
	PublicKey      string // authorized_keys format

	PasswordUser string // "admin": password login, NOPASSWD sudo
	Password     string

	KnownHostsFile string // every guest's current and past addresses with its host key
	ConfigFile     string // an OpenSSH client config using the key, known_hosts and jump host

	JumpHost *JumpHost // set in private mode only
}

// JumpHost is the bastion guest through which private guests are reached.
type JumpHost struct {
	Address string // on the public lab network
	Port    int
	User    string // "root"
	HostKey string // authorized_keys format
}

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	dir     string
	ownDir  bool
	private bool
	logf    func(string, ...any)

	slot           slot
	public         *bridge
	privNet        *bridge
	vc             *vcsim
	esx            []*vcsim
	userKey        keyPair
	keyFile        string
	knownHF        string
	sshCfg         string
	jump           *Guest
	ntp            *ntpServer
	bootScript     string
	shutdownScript string
	bareDpkgStatus []byte
	adminPassword  string

	mu       sync.Mutex
	guests   map[string]*vmGuest // by vmEvent.key: simulator and MOID
	order    []*Guest
	nextHost map[*bridge]int
	nextIdx  int
	stopped  bool
	wg       sync.WaitGroup
	// bootDelay is how long a powered-on VM of a kind ("" for every kind) takes before its
	// guest runs and VMware Tools reports it: a real appliance boots for a while, the lab's
	// guests start in a moment (SetBootDelay). vmBootDelay is the same for one VM, by name
	// (SetVMBootDelay).
	bootDelay, vmBootDelay map[string]time.Duration

	knownMu sync.Mutex // serialises writeKnownHosts

	stopOnce sync.Once
	stopErr  error
	cleanup  []func() error // run in reverse by Stop
}

// vmGuest is a VM's guest plus the power state the VM wants, reconciled by one goroutine at
// a time so that quick on/off/destroy sequences end in the last state asked for.
type vmGuest struct {
	g         *Guest
	opMu      sync.Mutex
	desired   types.VirtualMachinePowerState
	destroyed bool
	// off is set by every power-off vSphere reports and cleared when the guest has followed
	// it; clean tells that the last one was a guest shutdown through VMware Tools.
	off, clean bool
}

// Start brings up a lab: vcsim, keys, bridges, shared guest layers and, in private mode, the
// jump host. On error everything made so far is removed again.
func Start(ctx context.Context, o Options) (l *Lab, err error) {
	start := time.Now()
	l = &Lab{
		dir: o.Dir, private: o.PrivateNetwork, logf: o.Logf,
		guests: map[string]*vmGuest{}, nextHost: map[*bridge]int{}, adminPassword: randomPassword(),
	}
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	defer func() {
		if err != nil {
			_ = l.Stop()
			l = nil
		}
	}()
	if l.dir == "" {
		if l.dir, err = os.MkdirTemp("", "hipchatdc-lab-"); err != nil {
			return l, err
		}
	} else {
		if l.dir, err = filepath.Abs(l.dir); err != nil {
			return l, err
		}
		if err = os.MkdirAll(l.dir, 0o755); err != nil {
			return l, err
		}
	}
	l.ownDir = true
	l.cleanup = append(l.cleanup, func() error { return os.RemoveAll(l.dir) })
	for _, bad := range []string{"/etc", "/var", "/root", "/run", "/home"} {
		if l.dir == bad || strings.HasPrefix(l.dir, bad+"/") {
			return l, fmt.Errorf("lab folder %s: must not be under %s (guests overlay it)", l.dir, bad)
		}
	}
	if err = os.Chmod(l.dir, 0o755); err != nil {
		return l, err
	}

	if l.userKey, err = newKeyPair("hipchatdc-lab"); err != nil {
		return l, err
	}
	l.keyFile = filepath.Join(l.dir, "id_ed25519")
	if err = os.WriteFile(l.keyFile, l.userKey.privatePEM, 0o600); err != nil {
		return l, err
	}
	if err = os.WriteFile(l.keyFile+".pub", []byte(l.userKey.public+" hipchatdc-lab\n"), 0o644); err != nil {
		return l, err
	}
	l.knownHF = filepath.Join(l.dir, "known_hosts")
	l.sshCfg = filepath.Join(l.dir, "ssh_config")
	if err = l.prepareLayers(); err != nil {
		return l, err
	}

	if l.slot, err = allocSlot(l.logf); err != nil {
		return l, err
	}
	l.cleanup = append(l.cleanup, func() error { return releaseSlot(l.slot) })

	link := newLink(o.NFCBandwidth)
	l.vc, err = startVCSim(l.dir, link, l.onPower)
	if err != nil {
		return l, err
	}
	l.cleanup = append(l.cleanup, func() error { l.vc.close(); return nil })
	for i := range o.StandaloneESXi {
		t0 := time.Now()
		esx, err := startESXSim(l.dir, fmt.Sprintf("esx%d", i+1), link, l.onPower)
		if err != nil {
			return l, err
		}
		l.logf("lab: standalone ESXi %s at %s in %v", esx.info.Host, esx.info.URL, time.Since(t0).Round(time.Millisecond))
		l.esx = append(l.esx, esx)
		l.cleanup = append(l.cleanup, func() error { esx.close(); return nil })
	}

	pub := l.slot.publicSubnet()
	l.public = &bridge{name: l.slot.prefix() + "pub", subnet: pub, hostIP: pub.Addr().Next(), network: l.vc.info.Network}
	if err = l.addBridge(l.public); err != nil {
		return l, err
	}
	if l.ntp, err = startNTP(l.public.hostIP); err != nil {
		return l, fmt.Errorf("lab NTP server on %s:%d: %w", l.public.hostIP, ntpPort, err)
	}
	l.cleanup = append(l.cleanup, l.ntp.close)
	if l.private {
		l.privNet = &bridge{name: l.slot.prefix() + "prv", subnet: l.slot.privateSubnet(), network: l.vc.info.PrivateNetwork}
		if err = l.addBridge(l.privNet); err != nil {
			return l, err
		}
		l.jump, err = l.newGuest("jumphost", "", KindDebian, appliance{}, []leg{
			{bridge: l.public, addr: l.allocAddr(l.public)},
			{bridge: l.privNet, addr: l.allocAddr(l.privNet)},
		})
		if err != nil {
			return l, err
		}
		if err = l.jump.boot(); err != nil {
			return l, err
		}
	}
	if err = l.writeSSHConfig(); err != nil {
		return l, err
	}
	l.writeKnownHosts()
	l.logf("lab: started in %v (vSphere %s, public %s, private %v)", time.Since(start).Round(time.Millisecond), l.vc.info.URL, pub, l.private)
	return l, nil
}

func (l *Lab) addBridge(b *bridge) error {
	if err := createBridge(*b); err != nil {
		if linkExists(b.name) {
			_ = ip("link", "del", b.name)
		}
		return err
	}
	l.cleanup = append(l.cleanup, func() error {
		if linkExists(b.name) {
			return ip("link", "del", b.name)
		}
		return nil
	})
	return nil
}

// The host numbers of a lab network: the lab hands guests their first address (the one
// VMware Tools reports before a configuration gives the guest a static one) from
// FirstBootstrapHost up, and leaves FirstStaticHost to LastStaticHost free for the static
// addresses configurations set (ipv4_address). hipchatdc-lab start prints the range.
const (
	FirstBootstrapHost = 10
	LastBootstrapHost  = 99
	FirstStaticHost    = 100
	LastStaticHost     = 254
)

// allocAddr hands out guest addresses from FirstBootstrapHost up; an address is never reused
// within a lab, so known_hosts never holds two keys for one address.
func (l *Lab) allocAddr(b *bridge) netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.nextHost[b] + FirstBootstrapHost
	l.nextHost[b]++
	if n == LastBootstrapHost+1 {
		// Not refused: a long test run may power on more VMs than that, and its static
		// addresses are chosen high. A user of a lab that gets here is told why an address of
		// the static range may be taken.
		l.logf("lab: more than %d VMs made: first addresses from now on are in the static range (.%d-.%d)",
			LastBootstrapHost-FirstBootstrapHost+1, FirstStaticHost, LastStaticHost)
	}
	a := b.subnet.Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

// newGuest makes a guest record and its disk; it does not boot it.
func (l *Lab) newGuest(name, moid, kind string, app appliance, legs []leg) (*Guest, error) {
	switch kind {
	case KindNode, KindDebian, KindDebianBare:
	default:
		return nil, fmt.Errorf("VM %s: unknown lab guest kind %q (%s)", name, kind, KindKey)
	}
	l.mu.Lock()
	idx := l.nextIdx
	l.nextIdx++
	l.mu.Unlock()
	hk, err := newKeyPair("")
	if err != nil {
		return nil, err
	}
	g := &Guest{VMName: name, MOID: moid, Kind: kind, lab: l, index: idx, legs: legs, hostKey: hk, appliance: app,
		dir: filepath.Join(l.dir, "guests", fmt.Sprintf("%d-%s", idx, sanitize(name)))}
	hostname := "debian"
	switch {
	case kind == KindNode:
		hostname = "hipchat" // the appliance's own; the guide says to change it
	case moid == "":
		hostname = name
	}
	if err := l.prepareDisk(g, hostname); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.order = append(l.order, g)
	l.mu.Unlock()
	return g, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// onPower is called by vcsim, under the VM's lock: it only records the wish and hands the
// work to a goroutine.
func (l *Lab) onPower(ev vmEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	vg := l.guests[ev.key()]
	if vg == nil {
		if ev.destroyed {
			return
		}
		vg = &vmGuest{}
		l.guests[ev.key()] = vg
	}
	if ev.destroyed {
		vg.destroyed = true
	} else {
		vg.desired = ev.powerState
		if ev.powerState != types.VirtualMachinePowerStatePoweredOn {
			vg.off, vg.clean = true, ev.guestShutdown
			if vg.g != nil {
				vg.g.silenced = true
			}
		}
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.reconcile(ev, vg)
	}()
}

func (l *Lab) reconcile(ev vmEvent, vg *vmGuest) {
	vg.opMu.Lock()
	defer vg.opMu.Unlock()
	l.mu.Lock()
	desired, destroyed, stopped := vg.desired, vg.destroyed, l.stopped
	off, clean := vg.off, vg.clean
	vg.off, vg.clean = false, false
	l.mu.Unlock()
	if stopped {
		return
	}
	if destroyed {
		if vg.g != nil {
			vg.g.powerOff()
			_ = os.RemoveAll(vg.g.dir)
			l.mu.Lock()
			l.order = slices.DeleteFunc(l.order, func(g *Guest) bool { return g == vg.g })
			delete(l.guests, ev.key())
			l.mu.Unlock()
			l.writeKnownHosts()
			l.logf("lab: guest %s removed with its VM", vg.g.VMName)
			l.mu.Lock() // onPower reads vg.g
			vg.g = nil
			l.mu.Unlock()
		}
		return
	}
	if off && vg.g != nil && vg.g.Running() {
		// Every power-off takes the guest down, also when the VM was powered on again before
		// this goroutine got here: what runs afterwards is a fresh boot, as on a real VM. A guest
		// shutdown first runs what a clean shutdown runs in the guest.
		if clean {
			vg.g.shutdown()
		}
		vg.g.powerOff()
		if desired != types.VirtualMachinePowerStatePoweredOn {
			ev.vc.reportGuest(ev.moid, nil, nil)
		}
		how := "powered off"
		if clean {
			how = "shut down through VMware Tools"
		}
		l.logf("lab: guest %s %s", vg.g.VMName, how)
	}
	if desired == types.VirtualMachinePowerStatePoweredOn {
		if vg.g == nil {
			if ev.name == "" {
				return // a later event carries the VM's description
			}
			legs, err := l.legsFor(ev)
			if err == nil {
				var g *Guest
				if g, err = l.newGuest(ev.name, ev.moid, ev.kind, ev.appliance, legs); err == nil {
					g.vc = ev.vc
					l.mu.Lock() // onPower reads vg.g
					vg.g = g
					l.mu.Unlock()
				}
			}
			if err != nil {
				l.logf("lab: VM %s: %v", ev.name, err)
				return
			}
		}
		if vg.g.Running() {
			// The power-off came and went before this goroutine could follow it: the guest
			// kept running, but vSphere dropped its tools report at the power-off (see
			// vcsim.UpdateObject). Report it again, as VMware Tools would after a boot.
			vg.g.reportAgain()
			return
		}
		if d := l.bootDelayOf(ev.kind, ev.name); d > 0 && !l.waitBoot(vg, time.Now().Add(d)) {
			return // the VM went away or off while it was "booting": the next event follows it
		}
		l.mu.Lock()
		if !vg.off { // a power-off that came meanwhile keeps it silent until its own reboot
			vg.g.silenced = false
		}
		l.mu.Unlock()
		if err := vg.g.boot(); err != nil {
			l.logf("lab: VM %s: %v", ev.name, err)
		}
		return
	}
	if vg.g != nil && vg.g.Running() {
		vg.g.powerOff()
		ev.vc.reportGuest(ev.moid, nil, nil)
		l.logf("lab: guest %s powered off", vg.g.VMName)
	}
}

// waitBoot lets a powered-on VM "boot" until the time given and tells whether it is still to
// boot then. The wait ends early, with false, once the VM is destroyed or switched off or the lab
// stops: neither the destroy of a VM still booting nor Stop (which waits for power operations in
// flight) waits out a long boot delay.
func (l *Lab) waitBoot(vg *vmGuest, until time.Time) bool {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		desired, destroyed, stopped := vg.desired, vg.destroyed, l.stopped
		l.mu.Unlock()
		if stopped || destroyed || desired != types.VirtualMachinePowerStatePoweredOn {
			return false
		}
		if !time.Now().Before(until) {
			return true
		}
		<-tick.C
	}
}

// SetBootDelay makes every VM of kind ("" for all kinds) take d after its power-on before its
// guest runs and VMware Tools reports its address, as a real appliance's boot does. Zero
// removes the delay.
func (l *Lab) SetBootDelay(kind string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bootDelay == nil {
		l.bootDelay = map[string]time.Duration{}
	}
	l.bootDelay[kind] = d
}

// SetVMBootDelay is SetBootDelay for the VM called name alone, before its kind's delay: what
// a test that runs beside others uses, since a kind's delay slows every test's guests of that
// kind.
func (l *Lab) SetVMBootDelay(name string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.vmBootDelay == nil {
		l.vmBootDelay = map[string]time.Duration{}
	}
	l.vmBootDelay[name] = d
}

func (l *Lab) bootDelayOf(kind, name string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.vmBootDelay[name]; d > 0 {
		return d
	}
	if d, ok := l.bootDelay[kind]; ok && d > 0 {
		return d
	}
	return l.bootDelay[""]
}

// legsFor decides a new VM's guest networks: NetworksKey if set, else one leg per VM NIC
// (the private portgroup maps to the private bridge in private mode), else one public leg.
func (l *Lab) legsFor(ev vmEvent) ([]leg, error) {
	pick := func(network string) *bridge {
		if l.private && network == l.vc.info.PrivateNetwork {
			return l.privNet
		}
		return l.public
	}
	var legs []leg
	switch {
	case len(ev.networks) > 0:
		for _, n := range ev.networks {
			switch n {
			case "public":
				legs = append(legs, leg{bridge: l.public})
			case "private":
				b := l.privNet
				if b == nil {
					b = l.public // without private mode every network is the public one
				}
				legs = append(legs, leg{bridge: b})
			default:
				return nil, fmt.Errorf("%s: unknown network %q (public, private)", NetworksKey, n)
			}
		}
		for i := range legs {
			if i < len(ev.nics) {
				legs[i].mac, legs[i].deviceKey = ev.nics[i].mac, ev.nics[i].deviceKey
			}
		}
	case len(ev.nics) > 0:
		for _, n := range ev.nics {
			legs = append(legs, leg{bridge: pick(n.network), mac: n.mac, deviceKey: n.deviceKey})
		}
		if !l.private {
			legs = legs[:1] // one lab network: a second leg would be a second path to it
		}
	default:
		legs = []leg{{bridge: l.public}}
	}
	for i := range legs {
		legs[i].addr = l.allocAddr(legs[i].bridge)
	}
	return legs, nil
}

// writeKnownHosts rewrites the known_hosts file: each guest under every address it has had
// (x/crypto's knownhosts keeps one key per host and type, so no wildcards), the VM name too.
// Guests boot, move and go away at the same time: one rewrite at a time, each from the guests
// as they are when it starts, so that the last file written is never an older view and no
// rewrite truncates the temporary file another is about to rename into place.
func (l *Lab) writeKnownHosts() {
	l.knownMu.Lock()
	defer l.knownMu.Unlock()
	l.mu.Lock()
	guests := slices.Clone(l.order)
	l.mu.Unlock()
	var b strings.Builder
	for _, g := range guests {
		g.mu.Lock()
		names := append([]string{g.VMName}, g.seen...)
		for _, lg := range g.legs {
			if s := lg.addr.String(); !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
		g.mu.Unlock()
		fmt.Fprintf(&b, "%s %s\n", strings.Join(names, ","), g.hostKey.public)
	}
	tmp := l.knownHF + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err == nil {
		_ = os.Rename(tmp, l.knownHF)
	}
}

// writeSSHConfig writes an OpenSSH client config for the lab (ssh -F FILE root@ADDR). OpenSSH
// applies the jump host's known_hosts only from such a file, not from -o on the command line.
func (l *Lab) writeSSHConfig() error {
	var b strings.Builder
	if l.jump != nil {
		fmt.Fprintf(&b, "Host jumphost\n\tHostName %s\n\tUser root\n\n", l.jump.legs[0].addr)
		fmt.Fprintf(&b, "Host %s\n\tProxyJump jumphost\n\n", strings.TrimSuffix(l.privNet.subnet.Addr().String(), ".0")+".*")
	}
	fmt.Fprintf(&b, "Host *\n\tIdentityFile %s\n\tIdentitiesOnly yes\n\tUserKnownHostsFile %s\n\tStrictHostKeyChecking yes\n\tBatchMode yes\n\tConnectTimeout 10\n\tServerAliveInterval 5\n", l.keyFile, l.knownHF)
	return os.WriteFile(l.sshCfg, []byte(b.String()), 0o644)
}

// Stop removes every namespace, link, bridge, route, mount, process and folder the lab
// made, and stops vcsim. It is idempotent; later calls return the first call's result.
func (l *Lab) Stop() error {
	l.stopOnce.Do(func() {
		start := time.Now()
		l.mu.Lock()
		l.stopped = true
		l.mu.Unlock()
		l.wg.Wait() // power operations in flight finish first
		l.mu.Lock()
		guests := slices.Clone(l.order)
		l.mu.Unlock()
		for _, g := range guests {
			g.powerOff()
		}
		var errs []error
		for i := len(l.cleanup) - 1; i >= 0; i-- {
			if err := l.cleanup[i](); err != nil {
				errs = append(errs, err)
			}
		}
		l.stopErr = errors.Join(errs...)
		l.logf("lab: stopped in %v", time.Since(start).Round(time.Millisecond))
	})
	return l.stopErr
}

// Dir is the lab's working folder.
func (l *Lab) Dir() string { return l.dir }

// PrivateNetwork tells whether the lab runs with a private network and a jump host.
func (l *Lab) PrivateNetwork() bool { return l.private }

// VSphere is how to reach the simulated vCenter.
func (l *Lab) VSphere() VSphereInfo { return l.vc.info }

// StandaloneESXi is how to reach each standalone ESXi host (Options.StandaloneESXi), in
// order: Datacenter "ha-datacenter", Host its one host ("esx1.lab"), ResourcePool that host's
// root pool, no Cluster and no PrivateNetwork.
func (l *Lab) StandaloneESXi() []VSphereInfo {
	out := make([]VSphereInfo, len(l.esx))
	for i, e := range l.esx {
		out[i] = e.info
	}
	return out
}

// ESXiClient logs in to standalone ESXi host i (0-based), verifying its certificate.
func (l *Lab) ESXiClient(ctx context.Context, i int) (*govmomi.Client, error) {
	return l.esx[i].client(ctx)
}

// VMsMade is how many VMs called name vcsim has created since the lab started, whatever became
// of them. An OVA import creates its VM before the NFC lease the disks are uploaded to, so 0
// means that no import of that name reached an upload.
func (l *Lab) VMsMade(name string) int {
	l.vc.mu.Lock()
	defer l.vc.mu.Unlock()
	return l.vc.made[name]
}

// VMsMadeOnESXi is VMsMade for standalone ESXi host i (0-based).
func (l *Lab) VMsMadeOnESXi(i int, name string) int {
	e := l.esx[i]
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.made[name]
}

// Client logs in to vcsim, verifying its certificate, for tests that act as an operator
// would (create VMs by hand, inspect what the provider did). Log out when done.
func (l *Lab) Client(ctx context.Context) (*govmomi.Client, error) { return l.vc.client(ctx) }

// SSH is how to log in to the guests.
func (l *Lab) SSH() SSHInfo {
	s := SSHInfo{
		User: "root", PrivateKeyPEM: string(l.userKey.privatePEM), PrivateKeyFile: l.keyFile,
		PublicKey: l.userKey.public, PasswordUser: "admin", Password: l.adminPassword,
		KnownHostsFile: l.knownHF, ConfigFile: l.sshCfg,
	}
	if l.jump != nil {
		s.JumpHost = &JumpHost{Address: l.jump.legs[0].addr.String(), Port: 22, User: "root", HostKey: l.jump.HostKey()}
	}
	return s
}

// PublicSubnet is the lab network the host is on; PrivateSubnet the one it is not on (invalid
// without PrivateNetwork).
func (l *Lab) PublicSubnet() netip.Prefix { return l.public.subnet }

func (l *Lab) PrivateSubnet() netip.Prefix {
	if l.privNet == nil {
		return netip.Prefix{}
	}
	return l.privNet.subnet
}

// HostAddress is the host's own address on the public lab network (the guests' gateway).
func (l *Lab) HostAddress() string { return l.public.hostIP.String() }

// StaticRange is the part of the public lab network left free for static addresses
// (FirstStaticHost to LastStaticHost).
func (l *Lab) StaticRange() (first, last netip.Addr) {
	host := func(n int) netip.Addr {
		a := l.public.subnet.Masked().Addr().As4()
		a[3] = byte(n)
		return netip.AddrFrom4(a)
	}
	return host(FirstStaticHost), host(LastStaticHost)
}

// Guest finds a guest by VM name or managed object ID ("jumphost" for the jump host). Each
// simulator counts managed object IDs on its own, so a VM on a standalone ESXi host may have the
// ID of a vCenter VM: find those by name.
func (l *Lab) Guest(vmNameOrMoid string) (*Guest, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range l.order {
		if g.MOID == vmNameOrMoid || g.VMName == vmNameOrMoid {
			return g, true
		}
	}
	return nil, false
}

// Guests lists all guests (running or powered off), oldest first.
func (l *Lab) Guests() []*Guest {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.order)
	sort.SliceStable(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out
}

// WaitGuest waits until the guest of a VM (name or MOID) is up and reachable by SSH.
func (l *Lab) WaitGuest(ctx context.Context, vmNameOrMoid string) (*Guest, error) {
	for {
		if g, ok := l.Guest(vmNameOrMoid); ok {
			if g.Running() {
				return g, nil
			}
			if err := g.BootError(); err != nil {
				return g, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("guest of %s: %w", vmNameOrMoid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Env is the lab as environment variables (what hipchatdc-lab writes to lab.env).
func (l *Lab) Env() map[string]string {
	v, s := l.VSphere(), l.SSH()
	env := map[string]string{
		"VSPHERE_SERVER": v.Server, "VSPHERE_USER": v.User, "VSPHERE_PASSWORD": v.Password,
		"VSPHERE_CA_FILE": v.CAFile, "VSPHERE_URL": v.URL,
		"HIPCHATDC_DATACENTER": v.Datacenter, "HIPCHATDC_CLUSTER": v.Cluster,
		"HIPCHATDC_RESOURCE_POOL": v.ResourcePool, "HIPCHATDC_FOLDER": v.Folder,
		"HIPCHATDC_DATASTORE": v.Datastore, "HIPCHATDC_NETWORK": v.Network,
		"HIPCHATDC_PRIVATE_NETWORK": v.PrivateNetwork,
		"HIPCHATDC_SSH_USER":        s.User, "HIPCHATDC_SSH_PRIVATE_KEY_FILE": s.PrivateKeyFile,
		"HIPCHATDC_SSH_KNOWN_HOSTS": s.KnownHostsFile, "HIPCHATDC_SSH_CONFIG": s.ConfigFile,
		"HIPCHATDC_SSH_PASSWORD_USER": s.PasswordUser, "HIPCHATDC_SSH_PASSWORD": s.Password,
		"HIPCHATDC_LAB_DIR": l.dir, "HIPCHATDC_LAB_PID": strconv.Itoa(os.Getpid()),
		"HIPCHATDC_LAB_SUBNET": l.public.subnet.String(), "HIPCHATDC_LAB_GATEWAY": l.HostAddress(),
		// govc (make govc builds the pinned one) reads these: `. lab.env; govc ls` works.
		"GOVC_URL": v.URL, "GOVC_USERNAME": v.User, "GOVC_PASSWORD": v.Password,
		"GOVC_TLS_CA_CERTS": v.CAFile, "GOVC_DATACENTER": v.Datacenter,
	}
	for i, e := range l.StandaloneESXi() {
		p := fmt.Sprintf("HIPCHATDC_ESX%d_", i+1)
		env[p+"SERVER"], env[p+"URL"], env[p+"CA_FILE"] = e.Server, e.URL, e.CAFile
		env[p+"USER"], env[p+"PASSWORD"] = e.User, e.Password
		env[p+"HOST"], env[p+"DATASTORE"], env[p+"NETWORK"] = e.Host, e.Datastore, e.Network
	}
	first, last := l.StaticRange()
	env["HIPCHATDC_LAB_STATIC_RANGE"] = first.String() + "-" + last.String()
	if s.JumpHost != nil {
		env["HIPCHATDC_SSH_BASTION_HOST"] = s.JumpHost.Address
		env["HIPCHATDC_SSH_BASTION_PORT"] = strconv.Itoa(s.JumpHost.Port)
		env["HIPCHATDC_SSH_BASTION_USER"] = s.JumpHost.User
		env["HIPCHATDC_SSH_BASTION_HOST_KEY"] = s.JumpHost.HostKey
	}
	return env
}
