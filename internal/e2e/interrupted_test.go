package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// pausedOVA serves the OVA at path over HTTP. The first download stops after half the archive
// until release is called, so that an import of it is caught in the middle of its upload for
// as long as a test needs; later downloads run through.
func pausedOVA(t *testing.T, path string) (url string, halfSent <-chan struct{}, release func()) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	half := make(chan struct{})
	resume := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(resume) }) }
	var first sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		paused := false
		first.Do(func() { paused = true })
		if !paused {
			_, _ = w.Write(data)
			return
		}
		_, _ = w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		// Write has returned: the reader has taken all but the socket buffers of the first
		// half, so the import is streaming it to vSphere.
		close(half)
		select {
		case <-resume:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(data[len(data)/2:])
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(release) // before srv.Close: a paused handler must not hold it
	return srv.URL + "/node.ova", half, release
}

// startTF starts terraform in a folder of the workspace and returns the running command and
// its output (read it only after Wait).
func (w *workspace) startTF(sub string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	w.t.Helper()
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), append([]string{"-chdir=" + filepath.Join(w.dir, sub)}, args...)...)
	cmd.Env = w.env
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	return cmd, out
}

// waitCmd waits for a command started by startTF, failing the test if it runs on for minutes.
func waitCmd(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("terraform (pid %d) still running after 5 minutes", cmd.Process.Pid)
		return nil
	}
}

// providerPID finds the provider plugin process that terraform (pid parent) started: its child
// running the terraform-provider-hipchatdc binary.
func providerPID(t *testing.T, parent int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && filepath.Base(exe) == "terraform-provider-hipchatdc" {
			return pid
		}
	}
	t.Fatalf("terraform (pid %d) has no terraform-provider-hipchatdc child", parent)
	return 0
}

// createMarker returns the VM's create marker and whether the VM exists.
func createMarker(t *testing.T, name string) (marker string, exists bool) {
	vm, ok := acctest.VM(t, name)
	if !ok || vm.Config == nil {
		return "", ok
	}
	marker, _ = object.OptionValueList(vm.Config.ExtraConfig).GetString(vsphere.CreateMarker)
	return marker, true
}

// waitMarkedVM waits until the import has created the VM, marked as a create in progress.
func waitMarkedVM(t *testing.T, name string, apply *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if m, _ := createMarker(t, name); m == "incomplete" {
			return
		}
		if apply.ProcessState != nil || time.Now().After(deadline) {
			_ = apply.Process.Kill()
			t.Fatalf("no VM %s marked incomplete during the upload", name)
		}
	}
}

// flat is terraform's output with its diagnostic frames and line wrapping taken out.
func flat(out string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("│", " ", "╷", " ", "╵", " ").Replace(out)), " ")
}

func nodeConfig(name, source string, v lab.VSphereInfo) string {
	return fmt.Sprintf(`terraform {
  required_providers {
    hipchatdc = { source = "hipchatdc/hipchatdc" }
  }
}

provider "hipchatdc" {}

resource "hipchatdc_node" "app" {
  name       = %q
  datacenter = %q
  cluster    = %q
  datastore  = %q
  network    = %q
  %s
  num_cpus   = 8
  memory     = 16384
  disk_size  = 40
}
`, name, v.Datacenter, v.Cluster, v.Datastore, v.Network, source)
}

// TestAccInterruptedCreate kills the provider (SIGKILL, as a crashed runner would) in the middle
// of an OVA upload: the half-imported VM it leaves must not wedge later applies. The next apply
// removes it, says so, and creates the VM; a VM of the same name that Terraform did not start is
// never touched, and the error says how to import it. An interrupt (SIGINT) instead lets the
// provider abort the import and log out.
func TestAccInterruptedCreate(t *testing.T) {
	// Not parallel: it counts vCenter's sessions, which other tests change.
	l := acctest.Lab(t)
	v := l.VSphere()
	w := newWorkspace(t)
	ova := filepath.Join(t.TempDir(), "node.ova")
	// 64 MiB: more than the socket buffers between the OVA server and the provider, so that
	// the paused download stops the upload itself.
	if err := ovatest.Write(ova, ovatest.Options{Name: "hipchat-node", NumCPUs: 2, MemoryMB: 4096, DiskCapacityGiB: 40,
		DataBytes: 64 << 20, Seed: 17, ExtraConfig: map[string]string{lab.KindKey: lab.KindNode}}); err != nil {
		t.Fatal(err)
	}
	write := func(sub, config string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(w.dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w.dir, sub, "main.tf"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = w.tf(sub, "destroy", "-auto-approve", "-input=false") })
	}
	sessions := acctest.Sessions(t)

	// 1. SIGKILL of the provider during the upload.
	const name = "interrupted-node"
	url, halfSent, release := pausedOVA(t, ova)
	write("killed", nodeConfig(name, fmt.Sprintf("ova_url    = %q", url), v))
	apply, out := w.startTF("killed", "apply", "-auto-approve", "-input=false", "-no-color")
	select {
	case <-halfSent:
	case <-time.After(2 * time.Minute):
		_ = apply.Process.Kill()
		t.Fatal("the provider did not start downloading the OVA within 2 minutes")
	}
	waitMarkedVM(t, name, apply, out)
	pid := providerPID(t, apply.Process.Pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := waitCmd(t, apply); err == nil {
		t.Fatalf("terraform apply succeeded although its provider was killed:\n%s", out)
	}
	release()
	t.Logf("apply with the provider killed (pid %d):\n%s", pid, lastLines(out.String(), 8))
	if m, ok := createMarker(t, name); !ok || m != "incomplete" {
		t.Fatalf("after the kill: VM %s exists %v, marker %q; want the half-made VM, marked", name, ok, m)
	}
	halfMade := acctest.MOID(t, "/"+v.Datacenter+"/vm/"+name)
	afterKill := acctest.Sessions(t)
	t.Logf("vSphere sessions: %d before, %d after the kill (a killed provider cannot log out: vCenter ends its session at its idle timeout)", sessions, afterKill)

	// The next apply takes over by itself.
	second, err := w.tf("killed", "apply", "-auto-approve", "-input=false", "-no-color")
	if err != nil {
		t.Fatalf("the apply after the interrupted one failed: %v", err)
	}
	for _, want := range []string{"Warning: Removed a VM left half-made by an interrupted apply",
		fmt.Sprintf(`The VM %q (%s) in folder /%s/vm was left by a create of this provider that never finished`, name, halfMade, v.Datacenter),
		"it was destroyed and is created again"} {
		if !strings.Contains(flat(second), want) {
			t.Errorf("the second apply does not say %q:\n%s", want, second)
		}
	}
	if n := acctest.VMCount(t, name); n != 1 {
		t.Errorf("%d VMs named %s after the second apply, want 1", n, name)
	}
	if id := acctest.MOID(t, "/"+v.Datacenter+"/vm/"+name); id == halfMade {
		t.Errorf("the VM is still the half-made %s", id)
	}
	if m, ok := createMarker(t, name); !ok || m != "" {
		t.Errorf("after the second apply: VM exists %v, create marker %q; want it created and unmarked", ok, m)
	}
	if _, err := w.tf("killed", "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("the plan after the recovered create is not empty: %v", err)
	}
	if n := acctest.Sessions(t); n != afterKill {
		t.Errorf("vSphere has %d sessions after the second apply, %d before it: the provider did not log out", n, afterKill)
	}

	// 2. A VM of the name that this provider did not leave half-made is never touched.
	const other = "outside-node"
	nodeOVA := acctest.OVA(t, lab.KindNode, 40)
	_, outside := acctest.ImportVM(t, context.Background(), other, nodeOVA)
	write("outside", nodeConfig(other, fmt.Sprintf("ova_path   = %q", nodeOVA), v))
	refused, err := w.tf("outside", "apply", "-auto-approve", "-input=false", "-no-color")
	if err == nil {
		t.Fatalf("apply over a VM made outside Terraform succeeded:\n%s", refused)
	}
	for _, want := range []string{
		"Error: A VM of this name already exists",
		fmt.Sprintf(`a VM named %q already exists in folder /%s/vm (%s)`, other, v.Datacenter, outside),
		fmt.Sprintf("terraform import ADDRESS /%s/vm/%s", v.Datacenter, other),
		`with hipchatdc_node.app, on main.tf line 10, in resource "hipchatdc_node" "app": 10: name = "outside-node"`} {
		if !strings.Contains(flat(refused), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, refused)
		}
	}
	if n := acctest.VMCount(t, other); n != 1 || acctest.MOID(t, "/"+v.Datacenter+"/vm/"+other) != outside {
		t.Errorf("the VM made outside Terraform was touched: %d VMs named %s", n, other)
	}

	// 3. SIGINT during the upload: the provider aborts the import, removes its VM and logs out.
	before := acctest.Sessions(t)
	const interrupted = "sigint-node"
	url, halfSent, release = pausedOVA(t, ova)
	write("sigint", nodeConfig(interrupted, fmt.Sprintf("ova_url    = %q", url), v))
	apply, out = w.startTF("sigint", "apply", "-auto-approve", "-input=false", "-no-color")
	select {
	case <-halfSent:
	case <-time.After(2 * time.Minute):
		_ = apply.Process.Kill()
		t.Fatal("the provider did not start downloading the OVA within 2 minutes")
	}
	waitMarkedVM(t, interrupted, apply, out)
	if err := apply.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := waitCmd(t, apply); err == nil {
		t.Errorf("terraform apply succeeded although interrupted:\n%s", out)
	}
	release()
	t.Logf("interrupted apply:\n%s", lastLines(out.String(), 8))
	if !strings.Contains(flat(out.String()), "cancelled after") {
		t.Errorf("the interrupted apply does not say the import was cancelled during its upload:\n%s", out)
	}
	if _, ok := acctest.VM(t, interrupted); ok {
		t.Errorf("VM %s left behind after SIGINT", interrupted)
	}
	if n := acctest.Sessions(t); n != before {
		t.Errorf("vSphere has %d sessions after the interrupted apply, %d before: the provider did not log out", n, before)
	}
}
