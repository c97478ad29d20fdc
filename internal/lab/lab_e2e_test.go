package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestLab runs two labs at once, a public one and a private one, drives their guests the way
// the provider and an operator would, then checks that Stop leaves the host as it was.
func TestLab(t *testing.T) {
	before := snapshotHost(t)
	ctx := context.Background()

	var pub, priv *Lab
	var pubTime, privTime time.Duration
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pub, pubTime = startLabNoFatal(t, false) }()
	go func() { defer wg.Done(); priv, privTime = startLabNoFatal(t, true) }()
	wg.Wait()
	if pub == nil || priv == nil {
		if pub != nil {
			pub.Stop()
		}
		if priv != nil {
			priv.Stop()
		}
		t.FailNow()
	}
	t.Logf("measured: Start() public %v, private (with jump host) %v", pubTime, privTime)
	stopped := false
	defer func() {
		if !stopped {
			pub.Stop()
			priv.Stop()
		}
	}()
	if pub.PublicSubnet().Overlaps(priv.PublicSubnet()) || pub.PublicSubnet().Overlaps(priv.PrivateSubnet()) {
		t.Fatalf("two labs share addresses: %v and %v/%v", pub.PublicSubnet(), priv.PublicSubnet(), priv.PrivateSubnet())
	}
	if pub.slot.prefix() == priv.slot.prefix() {
		t.Fatalf("two labs share the name prefix %s", pub.slot.prefix())
	}

	// What must be gone after Stop: namespaces (by inode), init PIDs, names.
	var nsInodes []uint64
	var initPIDs []int
	record := func(g *Guest) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if fi, err := os.Stat("/run/netns/" + g.nsName); err == nil {
			nsInodes = append(nsInodes, inode(fi))
		}
		initPIDs = append(initPIDs, g.initPID)
	}
	if j, ok := priv.Guest("jumphost"); ok {
		record(j)
	}

	t.Run("public", func(t *testing.T) {
		c, err := pub.Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Logout(ctx)
		net0 := pub.VSphere().Network
		vms := map[string]*object.VirtualMachine{
			"node-1": createVM(t, ctx, c, pub, "node-1", KindNode, net0),
			"data-1": createVM(t, ctx, c, pub, "data-1", "", net0), // default kind: debian
			"bare-1": createVM(t, ctx, c, pub, "bare-1", KindDebianBare, net0),
		}
		guests := map[string]*Guest{}
		for name, vm := range vms {
			start := time.Now()
			power(t, ctx, vm, true)
			wctx, cancel := context.WithTimeout(ctx, guestBootTimeout) // a boot took 26 s under load
			g, err := pub.WaitGuest(wctx, name)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("measured: %s (%s) reachable by SSH %v after power-on", name, g.Kind, time.Since(start).Round(time.Millisecond))
			guests[name] = g
			record(g)
			if g.MOID != vm.Reference().Value {
				t.Errorf("guest MOID %s, VM %s", g.MOID, vm.Reference().Value)
			}
			waitToolsIP(t, ctx, vm, g.Address())
			if _, status, _ := toolsIP(ctx, vm); status != "guestToolsRunning" {
				t.Errorf("%s toolsRunningStatus %q", name, status)
			}
			if out, err := opensshRun(pub, "root@"+g.Address(), "true"); err != nil {
				t.Errorf("OpenSSH as root to %s: %v %s", name, err, out)
			}
		}
		if got := guests["node-1"].Kind + guests["data-1"].Kind + guests["bare-1"].Kind; got != "node"+"debian"+"debian-bare" {
			t.Errorf("kinds: %s", got)
		}

		t.Run("admin password and sudo", func(t *testing.T) {
			g := guests["data-1"]
			hk, err := knownhosts.New(pub.SSH().KnownHostsFile)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := ssh.Dial("tcp", g.Address()+":22", &ssh.ClientConfig{
				User: "admin", Auth: []ssh.AuthMethod{ssh.Password(pub.SSH().Password)},
				HostKeyCallback: hk, Timeout: 10 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			s, err := cl.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.CombinedOutput("sudo -n id -u && id -un")
			if err != nil || strings.TrimSpace(string(out)) != "0\nadmin" {
				t.Errorf("sudo as admin: %q %v", out, err)
			}
			if _, err := ssh.Dial("tcp", g.Address()+":22", &ssh.ClientConfig{
				User: "admin", Auth: []ssh.AuthMethod{ssh.Password("wrong")}, HostKeyCallback: hk, Timeout: 10 * time.Second,
			}); err == nil {
				t.Error("a wrong password was accepted")
			}
		})

		t.Run("timezone is not UTC", func(t *testing.T) {
			if got := guestExec(t, guests["data-1"], "cat /etc/timezone; date +%Z"); !strings.HasPrefix(got, "Europe/Berlin\nCE") {
				t.Errorf("timezone: %q", got)
			}
		})

		t.Run("debian-bare lacks the data-store packages", func(t *testing.T) {
			check := "dpkg-query -W -f='${Status}' redis-server 2>/dev/null | grep -q 'install ok installed' && echo redis-pkg; " +
				"dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q 'install ok installed' && echo pg-pkg; " +
				"dpkg-query -W -f='${Status}' nfs-kernel-server 2>/dev/null | grep -q 'install ok installed' && echo nfs-pkg; " +
				"for p in redis-server pg_ctlcluster postgres exportfs rpc.nfsd; do command -v $p >/dev/null && echo $p; done; true"
			if got := guestExec(t, guests["bare-1"], check); got != "" {
				t.Errorf("debian-bare still has: %q", got)
			}
			if got := guestExec(t, guests["data-1"], check); !strings.Contains(got, "redis-pkg") || !strings.Contains(got, "redis-server") {
				t.Errorf("debian lacks redis: %q", got)
			}
			// Other programs are still there.
			if got := guestExec(t, guests["bare-1"], "for p in nginx ssh redis-cli; do command -v $p; done"); strings.Count(got, "\n") != 2 {
				t.Errorf("debian-bare lost unrelated programs: %q", got)
			}
		})

		t.Run("node appliance commands and HTTP", func(t *testing.T) {
			g := guests["node-1"]
			s := pub.SSH()
			admin := "admin@" + g.Address()
			if out, err := opensshRun(pub, admin, `sudo dont-blame-hipchat -c "hostnamectl set-hostname hipchat-node-1"`); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			out, err := opensshRun(pub, admin, "hostnamectl; hostname; cat /etc/hostname")
			if err != nil || !strings.Contains(string(out), "Static hostname: hipchat-node-1") || !strings.HasSuffix(string(out), "\nhipchat-node-1\nhipchat-node-1\n") {
				t.Errorf("after set-hostname: %q %v", out, err)
			}
			if out, err := opensshRun(pub, admin, "dont-blame-hipchat -c true"); err == nil {
				t.Errorf("dont-blame-hipchat ran for a non-root user: %s", out)
			}
			if out, err := opensshRun(pub, admin, "sudo hipchat service --ntp-servers 0.pool.ntp.org,10.213.0.99"); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			out, err = opensshRun(pub, admin, "hipchat service --ntp-servers; grep -c '^server' /etc/ntp.conf")
			if err != nil || string(out) != "0.pool.ntp.org,10.213.0.99\n2\n" {
				t.Errorf("ntp servers: %q %v", out, err)
			}
			if out, err := opensshRun(pub, admin, "hipchat datacenter selfcheck"); err == nil {
				t.Errorf("hipchat datacenter is not built yet but answered: %s", out)
			}
			_ = s
			// Port 80 from the host, twice on one keep-alive connection.
			tr := &http.Transport{MaxIdleConns: 1}
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for i := 0; i < 2; i++ {
				resp, err := hc.Get("http://" + g.Address() + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "hipchat-node-1") {
					t.Errorf("node page: %d %q", resp.StatusCode, body)
				}
			}
			tr.CloseIdleConnections()
			// NGINX writes a request's log line after it has sent the response, so the client
			// can be here before the second line is: give it a moment.
			var log string
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
				log = guestExec(t, g, "tail -n 2 /var/log/nginx/access.log")
				if strings.Contains(log, "connection_requests=2") || time.Now().After(deadline) {
					break
				}
			}
			if !strings.Contains(log, "connection_requests=1") || !strings.Contains(log, "connection_requests=2") {
				t.Errorf("access log does not show keep-alive reuse: %q", log)
			}
		})

		t.Run("address follows ifupdown", func(t *testing.T) {
			g, vm := guests["data-1"], vms["data-1"]
			old := g.Address()
			newAddr := strings.TrimSuffix(pub.PublicSubnet().Addr().String(), ".0") + ".200"
			script := "cat > /etc/network/interfaces <<EOF\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress " + newAddr + "/24\n\tgateway " + pub.HostAddress() + "\nEOF\n" +
				"nohup sh -c 'ifdown eth0; ifup eth0' >/dev/null 2>&1 &"
			if out, err := opensshRun(pub, "root@"+old, script); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			start := time.Now()
			waitToolsIP(t, ctx, vm, newAddr)
			t.Logf("measured: guest.ipAddress followed ifdown/ifup in %v", time.Since(start).Round(time.Millisecond))
			if g.Address() != newAddr {
				t.Errorf("Address() %s, want %s", g.Address(), newAddr)
			}
			if out, err := opensshRun(pub, "root@"+newAddr, "true"); err != nil {
				t.Errorf("OpenSSH to the new address: %v %s", err, out)
			}
			if c, err := net.DialTimeout("tcp", old+":22", time.Second); err == nil {
				c.Close()
				t.Errorf("old address %s still answers", old)
			}

			// Power cycle: the guest comes back from its own disk, with the new address.
			power(t, ctx, vm, false)
			// As in vSphere, the address is gone when the power-off task completes, not some
			// time later: a client that powers on again and waits for an address must not
			// get the old one.
			if ip, status, err := toolsIP(ctx, vm); err != nil || ip != "" || status != string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning) {
				t.Errorf("right after power-off: guest.ipAddress %q, toolsRunningStatus %q (%v); want none, not running", ip, status, err)
			}
			waitToolsIP(t, ctx, vm, "")
			if g.Running() {
				t.Error("guest still running after power-off")
			}
			power(t, ctx, vm, true)
			if _, err := pub.WaitGuest(ctx, "data-1"); err != nil {
				t.Fatal(err)
			}
			record(g)
			waitToolsIP(t, ctx, vm, newAddr)
			if out, err := opensshRun(pub, "root@"+newAddr, "cat /etc/timezone"); err != nil || string(out) != "Europe/Berlin\n" {
				t.Errorf("after power cycle: %q %v", out, err)
			}
		})

		t.Run("a power cycle faster than the guest still restarts it", func(t *testing.T) {
			vm, g := vms["node-1"], guests["node-1"]
			addr := g.Address()
			before := wtmpRecords(t, ctx, g)
			// Hold the guest's power operations until vSphere has seen both the power-off and
			// the power-on, as when a resize's power cycle outruns the lab: the guest still goes
			// down and boots again, as a real VM does.
			pub.mu.Lock()
			vg := pub.guests[g.key()]
			pub.mu.Unlock()
			vg.opMu.Lock()
			power(t, ctx, vm, false)
			if ip, _, _ := toolsIP(ctx, vm); ip != "" {
				t.Errorf("right after power-off: guest.ipAddress %q", ip)
			}
			// The guest's processes still run until the lab follows the power-off; what they
			// report meanwhile (here its poll, made to report again) must not reach vSphere: a
			// client powering the VM on would take that address for the new boot's.
			g.reportAgain()
			g.mu.Lock()
			nsFile := g.nsFile
			g.mu.Unlock()
			g.report(nsFile)
			if ip, _, _ := toolsIP(ctx, vm); ip != "" {
				t.Errorf("the guest of a powered-off VM reported guest.ipAddress %q", ip)
			}
			power(t, ctx, vm, true)
			if ip, _, _ := toolsIP(ctx, vm); ip != "" {
				t.Errorf("powered on again, before the guest followed: guest.ipAddress %q", ip)
			}
			vg.opMu.Unlock()
			waitToolsIP(t, ctx, vm, addr)
			if !g.Running() {
				t.Error("guest not running")
			}
			// A hard power-off writes no shutdown record: only the new boot's.
			if got, want := wtmpRecords(t, ctx, g), append([]string{"reboot"}, before...); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("last -x after a hard power cycle: %q, want %q", got, want)
			}
		})

		t.Run("a guest shutdown through VMware Tools is clean", func(t *testing.T) {
			vm, g := vms["node-1"], guests["node-1"]
			addr := g.Address()
			before := wtmpRecords(t, ctx, g)
			if err := vm.ShutdownGuest(ctx); err != nil {
				t.Fatal(err)
			}
			if err := vm.WaitForPowerState(ctx, types.VirtualMachinePowerStatePoweredOff); err != nil {
				t.Fatal(err)
			}
			power(t, ctx, vm, true)
			waitToolsIP(t, ctx, vm, addr)
			if got, want := wtmpRecords(t, ctx, g), append([]string{"reboot", "shutdown"}, before...); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("last -x after a guest shutdown and power-on: %q, want %q", got, want)
			}
		})

		t.Run("destroy removes the guest", func(t *testing.T) {
			vm, g := vms["bare-1"], guests["bare-1"]
			power(t, ctx, vm, false)
			destroy(t, ctx, vm)
			deadline := time.Now().Add(time.Minute) // the guest's teardown, slow on a busy machine
			for {
				if _, ok := pub.Guest("bare-1"); !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("guest still listed after Destroy")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := os.Stat(g.Dir()); !os.IsNotExist(err) {
				t.Errorf("guest disk %s still there: %v", g.Dir(), err)
			}
		})

		t.Run("a VM destroyed while it boots is not waited for", func(t *testing.T) {
			// A guest that boots for an hour (a test's "never gets an address"), destroyed
			// during its boot: the power operations in flight end at once, or Stop (which
			// waits for them) would hang the test binary for the rest of the hour.
			pub.SetVMBootDelay("slow-1", time.Hour)
			defer pub.SetVMBootDelay("slow-1", 0)
			vm := createVM(t, ctx, c, pub, "slow-1", KindDebianBare, net0)
			power(t, ctx, vm, true)
			power(t, ctx, vm, false)
			destroy(t, ctx, vm)
			idle := make(chan struct{})
			go func() { pub.wg.Wait(); close(idle) }()
			select {
			case <-idle:
			case <-time.After(guestBootTimeout):
				t.Fatalf("the destroyed VM's boot is still waited for after %v", guestBootTimeout)
			}
		})
	})

	t.Run("private", func(t *testing.T) {
		c, err := priv.Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Logout(ctx)
		if pn := priv.VSphere().PrivateNetwork; pn != "DC0_DVPG0" {
			t.Errorf("private network %q, want the DVS portgroup DC0_DVPG0", pn)
		}
		vm := createVM(t, ctx, c, priv, "node-p", KindNode, priv.VSphere().PrivateNetwork)
		power(t, ctx, vm, true)
		g, err := priv.WaitGuest(ctx, "node-p")
		if err != nil {
			t.Fatal(err)
		}
		record(g)
		if !priv.PrivateSubnet().Contains(mustAddr(t, g.Address())) {
			t.Fatalf("node on the private network has %s, not in %s", g.Address(), priv.PrivateSubnet())
		}
		waitToolsIP(t, ctx, vm, g.Address())
		if c, err := net.DialTimeout("tcp", g.Address()+":22", 2*time.Second); err == nil {
			c.Close()
			t.Fatalf("private guest %s is reachable from the host directly", g.Address())
		}
		if out, err := opensshRun(priv, "root@"+g.Address(), "hostname"); err != nil || string(out) != "hipchat\n" {
			t.Errorf("OpenSSH through the jump host: %q %v", out, err)
		}
		// x/crypto through the jump host, the way the provider's bastion_host works.
		s := priv.SSH()
		signer, err := ssh.ParsePrivateKey([]byte(s.PrivateKeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		hk, err := knownhosts.New(s.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk, Timeout: 10 * time.Second}
		jc, err := ssh.Dial("tcp", net.JoinHostPort(s.JumpHost.Address, "22"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer jc.Close()
		conn, err := jc.Dial("tcp", g.Address()+":22")
		if err != nil {
			t.Fatal(err)
		}
		cc, chans, reqs, err := ssh.NewClientConn(conn, g.Address()+":22", cfg)
		if err != nil {
			t.Fatal(err)
		}
		nc := ssh.NewClient(cc, chans, reqs)
		defer nc.Close()
		sess, err := nc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if out, err := sess.Output("hostnamectl"); err != nil || !strings.Contains(string(out), "Static hostname: hipchat") {
			t.Errorf("hostnamectl through jump host: %q %v", out, err)
		}
	})

	// The host is untouched by what guests did (hostname, /etc, interfaces).
	mid := snapshotHost(t)
	if mid.hostname != before.hostname || mid.etcHostname != before.etcHostname || mid.interfaces != before.interfaces {
		t.Errorf("the host's hostname or /etc changed: %+v -> %+v", before, mid)
	}

	words := []string{pub.slot.prefix() + "pub", pub.slot.prefix() + "g", pub.slot.prefix() + "-g", priv.slot.prefix() + "pub", priv.slot.prefix() + "prv", priv.slot.prefix() + "g", priv.slot.prefix() + "-g",
		pub.Dir(), priv.Dir(), pub.PublicSubnet().String(), priv.PublicSubnet().String()}
	start := time.Now()
	errPub, errPriv := pub.Stop(), priv.Stop()
	stopped = true
	t.Logf("measured: Stop() of both labs %v", time.Since(start).Round(time.Millisecond))
	if errPub != nil || errPriv != nil {
		t.Errorf("Stop: %v / %v", errPub, errPriv)
	}
	// Stop is idempotent: the very same error again (Is both ways rules out a mere wrapper).
	if err := pub.Stop(); !errors.Is(err, errPub) || !errors.Is(errPub, err) {
		t.Errorf("second Stop: %v", err)
	}
	after := snapshotHost(t)
	for _, c := range []struct{ what, before, after string }{
		{"links", before.links, after.links}, {"routes", before.routes, after.routes}, {"netns", before.netns, after.netns},
	} {
		if got := linesWith(c.after, words...); len(got) > 0 {
			t.Errorf("%s left behind: %q", c.what, got)
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if got := linesWith(string(mi), words...); len(got) > 0 {
		t.Errorf("mounts left behind: %q", got)
	}
	for _, d := range []string{pub.Dir(), priv.Dir()} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("lab folder %s left behind: %v", d, err)
		}
	}
	for _, pid := range initPIDs {
		if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err == nil {
			t.Errorf("guest init %d still running", pid)
		}
	}
	left := slices.DeleteFunc(processesInNetns(nsInodes), func(pid int) bool { return startedByOtherLab(pid, pub.Dir(), priv.Dir()) })
	if len(left) > 0 {
		out, _ := exec.Command("ps", "-o", "pid,ppid,stat,args", "-p", fmt.Sprint(left[0])).CombinedOutput()
		t.Errorf("processes left in guest namespaces: %v\n%s", left, out)
	}
}

func startLabNoFatal(t *testing.T, private bool) (*Lab, time.Duration) {
	start := time.Now()
	l, err := Start(context.Background(), Options{PrivateNetwork: private, Logf: t.Logf})
	if err != nil {
		t.Errorf("Start(private=%v): %v", private, err)
		return nil, 0
	}
	return l, time.Since(start)
}

// wtmpRecords is what `last -x reboot shutdown` shows in the guest, newest first: "reboot" per
// boot and "shutdown" per clean shutdown (a hard power-off writes none).
func wtmpRecords(t *testing.T, ctx context.Context, g *Guest) []string {
	t.Helper()
	out, err := g.Exec(ctx, "last -x -f /var/log/wtmp reboot shutdown")
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (f[0] != "reboot" && f[0] != "shutdown") {
			continue
		}
		recs = append(recs, f[0])
	}
	return recs
}
