package lab

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs f on an OS thread that has joined the network namespace open at nsFile, so
// sockets f opens live in the guest's network. The thread goes back to the host's namespace
// before it is handed back to the scheduler; if that fails it stays locked and the runtime
// discards it when the goroutine ends, so no other goroutine ever runs inside a guest by
// accident. This is how the lab watches a guest's addresses without a process per look.
func inNetns(nsFile *os.File, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(nsFile.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", nsFile.Name(), err)
			return
		}
		err = f()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// nicAddrs are the IPv4 addresses an interface really has, as "a.b.c.d/len".
type nicAddrs struct {
	name  string
	mac   string
	addrs []*net.IPNet
}

// readNICs lists the guest's ethN interfaces and their IPv4 addresses, in name order.
func readNICs(nsFile *os.File) ([]nicAddrs, error) {
	var out []nicAddrs
	err := inNetns(nsFile, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifc := range ifs {
			if !strings.HasPrefix(ifc.Name, "eth") {
				continue
			}
			n := nicAddrs{name: ifc.Name, mac: ifc.HardwareAddr.String()}
			addrs, err := ifc.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ifc.Flags&net.FlagUp != 0 {
					n.addrs = append(n.addrs, ipn)
				}
			}
			out = append(out, n)
		}
		return nil
	})
	// net.Interfaces returns names in index order; eth0 is created before eth1.
	return out, err
}

// waitSSHBanner waits until something inside the guest's namespace answers on port 22 with an
// SSH banner, which is what "the guest is reachable by SSH" means to a client.
func waitSSHBanner(nsFile *os.File, deadline time.Time) error {
	var last error
	for time.Now().Before(deadline) {
		last = inNetns(nsFile, func() error {
			c, err := net.DialTimeout("tcp", "127.0.0.1:22", time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4)
			if _, err := c.Read(buf); err != nil {
				return err
			}
			if string(buf) != "SSH-" {
				return fmt.Errorf("no SSH banner: %q", buf)
			}
			return nil
		})
		if last == nil {
			return nil
		}
		time.Sleep(30 * time.Millisecond)
	}
	return fmt.Errorf("sshd did not answer: %w", last)
}
