package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// labRange is the private range every lab carves its subnets from. Nothing outside the lab's
// own bridges and namespaces ever carries these addresses: an "unreachable" route for the whole
// range keeps a stray lab packet from leaving by the host's real interface.
var labRange = netip.MustParsePrefix("10.213.0.0/16")

// maxSlots is how many labs can run on one machine at once; slot N owns the public subnet
// 10.213.(2N).0/24 and the private subnet 10.213.(2N+1).0/24.
const maxSlots = 128

// stateDir holds the machine-wide allocation of lab slots (shared by every process).
const stateDir = "/run/hipchatdc-lab"

// slot is one lab's claim on a share of labRange and on the interface names derived from it.
type slot struct {
	n    int
	file string
}

func (s slot) publicSubnet() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(2 * s.n), 0}), 24)
}

func (s slot) privateSubnet() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(2*s.n + 1), 0}), 24)
}

// prefix is the start of every interface and namespace name of this lab. Kept short because
// IFNAMSIZ allows 15 characters: "hdc" + up to 3 digits + suffix.
func (s slot) prefix() string { return "hdc" + strconv.Itoa(s.n) }

// withAllocLock runs f while holding the machine-wide flock that serialises slot allocation
// and the shared safety route between all labs of all processes.
func withAllocLock(f func() error) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(stateDir, "alloc.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lf.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) }() // closing lf releases it anyway
	return f()
}

// slotOwnerAlive tells whether the process recorded in a slot file still runs. A slot whose
// owner died (a killed test binary) is reclaimed, after removing what that owner left behind.
func slotOwnerAlive(file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true // another lab of this very process
	}
	return syscall.Kill(pid, 0) == nil
}

// allocSlot claims a free slot and makes sure the safety route exists.
func allocSlot(logf func(string, ...any)) (slot, error) {
	var s slot
	err := withAllocLock(func() error {
		for n := 0; n < maxSlots; n++ {
			file := filepath.Join(stateDir, "slot-"+strconv.Itoa(n))
			if _, err := os.Stat(file); err == nil && slotOwnerAlive(file) {
				continue
			} else if err == nil {
				logf("lab: reclaiming slot %d of a process that is gone", n)
				cleanupStaleSlot(slot{n: n})
			}
			if err := os.WriteFile(file, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
				return err
			}
			s = slot{n: n, file: file}
			return ensureSafetyRoute()
		}
		return fmt.Errorf("all %d lab slots are in use", maxSlots)
	})
	return s, err
}

// releaseSlot gives the slot back and removes the safety route when no other lab needs it.
func releaseSlot(s slot) error {
	return withAllocLock(func() error {
		if err := os.Remove(s.file); err != nil && !os.IsNotExist(err) {
			return err
		}
		entries, _ := filepath.Glob(filepath.Join(stateDir, "slot-*"))
		for _, e := range entries {
			if slotOwnerAlive(e) {
				return nil // another lab still relies on the route
			}
		}
		return removeSafetyRoute()
	})
}

func ensureSafetyRoute() error {
	out, err := ipOut("route", "show", "type", "unreachable", labRange.String())
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return nil
	}
	return ip("route", "add", "unreachable", labRange.String())
}

func removeSafetyRoute() error {
	out, err := ipOut("route", "show", "type", "unreachable", labRange.String())
	if err != nil || strings.TrimSpace(out) == "" {
		return err
	}
	return ip("route", "del", "unreachable", labRange.String())
}

// cleanupStaleSlot removes the namespaces and links a dead lab process left in slot s.
func cleanupStaleSlot(s slot) {
	p := s.prefix()
	if out, err := ipOut("-o", "link", "show"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
			if strings.HasPrefix(name, p) && !isDigit(name[len(p)]) {
				_ = ip("link", "del", name)
			}
		}
	}
	if out, err := ipOut("netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], p+"-") {
				_ = ip("netns", "del", f[0])
			}
		}
	}
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// ip runs iproute2; the lab uses the real tool rather than netlink code of its own so that what
// it does is exactly what an operator would type.
func ip(args ...string) error {
	_, err := ipOut(args...)
	return err
}

func ipOut(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// bridge is a lab network: a Linux bridge, with the host's address on it only for the public one.
type bridge struct {
	name    string
	subnet  netip.Prefix
	hostIP  netip.Addr // invalid for the private bridge: the host must not reach it
	network string     // the vSphere network it stands for
}

func createBridge(b bridge) error {
	if err := ip("link", "add", b.name, "type", "bridge"); err != nil {
		return err
	}
	if b.hostIP.IsValid() {
		if err := ip("addr", "add", netip.PrefixFrom(b.hostIP, b.subnet.Bits()).String(), "dev", b.name); err != nil {
			return err
		}
	}
	return ip("link", "set", b.name, "up")
}
