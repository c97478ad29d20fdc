package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// hostState is what the lab must leave exactly as it found it on the host.
type hostState struct {
	hostname, etcHostname, interfaces string
	links, routes, netns, mounts      string
}

func snapshotHost(t *testing.T) hostState {
	t.Helper()
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return fmt.Sprintf("%x", sha256.Sum256(b))
	}
	run := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return string(out)
	}
	h, _ := os.Hostname()
	return hostState{
		hostname: h, etcHostname: read("/etc/hostname"), interfaces: read("/etc/network/interfaces"),
		links: run("ip", "-o", "link", "show"), routes: run("ip", "route", "show", "table", "all"),
		netns: run("ip", "netns", "list"), mounts: read("/proc/self/mountinfo"),
	}
}

// linesWith are the lines of s mentioning any of the words (the other engineers' labs run
// at the same time, so only this lab's names are compared).
func linesWith(s string, words ...string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if w != "" && strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// createVM makes a VM as an operator would in the vSphere client: in the lab's folder, pool,
// datastore, with a NIC on the given network, and extraConfig for the guest kind.
func createVM(t *testing.T, ctx context.Context, c *govmomi.Client, l *Lab, name, kind, network string) *object.VirtualMachine {
	t.Helper()
	v := l.VSphere()
	f := find.NewFinder(c.Client, true)
	dc, err := f.Datacenter(ctx, v.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	folder, err := f.Folder(ctx, v.Folder)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := f.ResourcePool(ctx, v.ResourcePool)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := f.Network(ctx, network)
	if err != nil {
		t.Fatal(err)
	}
	backing, err := nw.EthernetCardBackingInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nic, err := object.EthernetCardTypes().CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		t.Fatal(err)
	}
	devices, err := object.VirtualDeviceList{nic}.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		t.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{
		Name: name, GuestId: "debian12_64Guest", NumCPUs: 2, MemoryMB: 2048,
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[" + v.Datastore + "]"},
		DeviceChange: devices,
	}
	if kind != "" {
		spec.ExtraConfig = []types.BaseOptionValue{&types.OptionValue{Key: KindKey, Value: kind}}
	}
	task, err := folder.CreateVM(ctx, spec, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatalf("CreateVM %s: %v", name, err)
	}
	return object.NewVirtualMachine(c.Client, res.Result.(types.ManagedObjectReference))
}

func power(t *testing.T, ctx context.Context, vm *object.VirtualMachine, on bool) {
	t.Helper()
	var task *object.Task
	var err error
	if on {
		task, err = vm.PowerOn(ctx)
	} else {
		task, err = vm.PowerOff(ctx)
	}
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("power %v: %v", on, err)
	}
}

// destroy destroys vm and waits for the task.
func destroy(t *testing.T, ctx context.Context, vm *object.VirtualMachine) {
	t.Helper()
	task, err := vm.Destroy(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// toolsIP is guest.ipAddress as a vSphere client reads it.
func toolsIP(ctx context.Context, vm *object.VirtualMachine) (string, string, error) {
	var o mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"guest"}, &o); err != nil {
		return "", "", err
	}
	if o.Guest == nil {
		return "", "", nil
	}
	return o.Guest.IpAddress, o.Guest.ToolsRunningStatus, nil
}

// waitToolsIP waits for VMware Tools to report want as the guest's address. The guest is booting
// when this is called (a power-on, a power cycle): bounded like a boot, not by a guess of how long
// one takes. Under load a node guest's boot took 26 s, past the 10 s this once allowed.
func waitToolsIP(t *testing.T, ctx context.Context, vm *object.VirtualMachine, want string) {
	t.Helper()
	deadline := time.Now().Add(guestBootTimeout)
	for {
		ip, _, err := toolsIP(ctx, vm)
		if err == nil && ip == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest.ipAddress of %s: %q (%v), want %q", vm.Reference().Value, ip, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// opensshRun runs a command on a guest with the real OpenSSH client.
func opensshRun(l *Lab, args ...string) ([]byte, error) {
	s := l.SSH()
	base := []string{"-F", s.ConfigFile, "-o", "UserKnownHostsFile=" + s.KnownHostsFile, "-i", s.PrivateKeyFile}
	cmd := exec.Command("ssh", append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("ssh %v: %w: %s", args, err, stderr.String())
	}
	return out, nil
}

func guestExec(t *testing.T, g *Guest, cmd string) string {
	t.Helper()
	out, err := g.Exec(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func inode(fi os.FileInfo) uint64 { return fi.Sys().(*syscall.Stat_t).Ino }

func itoa(i int) string { return strconv.Itoa(i) }

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startedByOtherLab reports whether pid is a guest process of a lab other than the ones in
// ours (their folders): the guest init that pid descends from (`unshare ... sh DIR/layers/init.sh`)
// names another folder. A network namespace's inode number is reused once the namespace is
// freed, so after a Stop a lab running at the same time (another test package, another run) may
// have a namespace with an inode this test recorded for its own.
func startedByOtherLab(pid int, ours ...string) bool {
	for p := pid; p > 1; {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "cmdline"))
		if err != nil {
			return false
		}
		if args := strings.ReplaceAll(string(cmdline), "\x00", " "); strings.Contains(args, "/layers/init.sh") {
			for _, dir := range ours {
				if strings.Contains(args, dir+"/layers/init.sh") {
					return false
				}
			}
			return true
		}
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "stat"))
		if err != nil {
			return false
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			return false
		}
		if p, err = strconv.Atoi(fields[1]); err != nil {
			return false
		}
	}
	return false
}

// processesInNetns lists PIDs of processes whose network namespace is one of the inodes.
func processesInNetns(inodes []uint64) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fi, err := os.Stat(filepath.Join("/proc", e.Name(), "ns/net"))
		if err != nil {
			continue
		}
		if slices.Contains(inodes, inode(fi)) {
			out = append(out, pid)
		}
	}
	return out
}

// TestStartedByOtherLab: a process under another lab's guest init is that lab's; one under this
// lab's init is this lab's.
func TestStartedByOtherLab(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "layers"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The init script prints its child's PID, then waits for it, as a guest init does.
	initSh := filepath.Join(dir, "layers", "init.sh")
	if err := os.WriteFile(initSh, []byte("sleep 60 & echo $!; wait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", initSh)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the init script never printed its child: %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(child, syscall.SIGKILL) }()
	if !startedByOtherLab(child, t.TempDir()) {
		t.Error("a process under another folder's init.sh was taken for this lab's")
	}
	if startedByOtherLab(child, dir) {
		t.Error("a process under this lab's init.sh was taken for another lab's")
	}
}
