package bench

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// The test binary doubles as hipchatdc-bench: with BENCH_SELF_ENV=child it
// runs Main, so the harness can start importers as processes of their own.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_SELF_ENV") == "child" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

var childEnv = []string{"BENCH_SELF_ENV=child"}

func startServer(t *testing.T, opts ServerOptions) *Server {
	t.Helper()
	opts.Dir = t.TempDir()
	srv, err := StartServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func buildGovc(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "govc")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = "../../tools/govc"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building govc: %v\n%s", err, out)
	}
	return bin
}

// A short run of the whole harness: every importer really runs as a child
// process, uploads through vcsim's NFC endpoint, and is measured.
func TestRunMeasuresEachImporterInItsOwnProcess(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	parent := t.TempDir()
	rep, err := Run(context.Background(), Config{Sizes: []int64{16 << 20}, Runs: 1, Self: self, SelfEnv: childEnv,
		Govc: buildGovc(t), TempParent: parent, Endpoint: &srv.Endpoint, URLCheck: true, Out: &out})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sizes) != 1 {
		t.Fatalf("got %d sizes, want 1", len(rep.Sizes))
	}
	s := rep.Sizes[0]
	for what, ss := range map[string][]Sample{"provider": s.Provider, "govc": s.Govc, "put": s.Put} {
		if len(ss) != 1 {
			t.Fatalf("%s: %d samples, want 1", what, len(ss))
		}
		// A Go process that connects over TLS has a few MiB resident at
		// least; 0 would mean rusage was not read.
		if ss[0].MaxRSS < 4<<20 || ss[0].Wall <= 0 {
			t.Errorf("%s: peak RSS %d bytes, wall %v: not measured", what, ss[0].MaxRSS, ss[0].Wall)
		}
		if len(ss[0].Written) != 0 {
			t.Errorf("%s wrote files: %v", what, ss[0].Written)
		}
	}
	if !raceEnabled && s.Provider[0].MaxRSS > GoalMaxRSS {
		t.Errorf("provider peak RSS %d > 64 MiB", s.Provider[0].MaxRSS)
	}
	if s.Provider[0].Progress.Lines == 0 {
		t.Error("the provider's import logged no progress line")
	}
	if len(s.ProviderURL) == 0 || len(s.GovcURL) == 0 {
		t.Fatalf("URL imports: %d by the provider, %d by govc", len(s.ProviderURL), len(s.GovcURL))
	}
	if p := s.ProviderURL[0]; p.Served != s.OVABytes || p.Requests != 1 {
		t.Errorf("provider from URL: server sent %d bytes in %d requests; want the OVA's %d in 1", p.Served, p.Requests, s.OVABytes)
	}
	if g := s.GovcURL[0]; g.Served < s.OVABytes {
		t.Errorf("govc from URL: server sent %d bytes, less than the OVA's %d", g.Served, s.OVABytes)
	}
	if len(rep.LeftVMs) != 0 || len(rep.OpenLeases) != 0 {
		t.Errorf("left behind: VMs %v, leases %v", rep.LeftVMs, rep.OpenLeases)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("temp folder not removed: %v", ents)
	}
	var table strings.Builder
	rep.WriteTable(&table, 1)
	for _, want := range []string{"| 16MiB |", "provider writes no file while importing: MET", "nothing left behind: MET"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// vcsim lets free space go negative, so a full datastore is simulated by
// failing the NFC write with ENOSPC; the import must fail saying so and
// leave no VM and no open lease.
func TestDiskTooSmallLeavesNothing(t *testing.T) {
	srv := startServer(t, ServerOptions{DiskFullAfter: 4 << 20})
	st, err := importBig(t, srv)
	if err == nil {
		t.Fatalf("import onto a full datastore succeeded: %s", st.Stdout)
	}
	// The datastore reports 4 MB free: the import is refused before any upload.
	if !strings.Contains(string(st.Stderr), `datastore "LocalDS_0" has 4.0MB free and the VM needs 16.0MB`) {
		t.Errorf("error does not report the datastore's free space: %s", st.Stderr)
	}
	if n := srv.leases.uploadCount(); n != 0 {
		t.Errorf("%d uploads reached an NFC lease", n)
	}
	assertNothingLeft(t, srv.Endpoint)
}

// TestDiskFilledDuringUploadLeavesNothing: the datastore reports room, but other VMs take it
// while the upload runs, so a write fails as on a full datastore.
func TestDiskFilledDuringUploadLeavesNothing(t *testing.T) {
	srv := startServer(t, ServerOptions{DiskFullAfter: 4 << 20, ReportedFree: 1 << 30})
	st, err := importBig(t, srv)
	if err == nil {
		t.Fatalf("import onto a full datastore succeeded: %s", st.Stdout)
	}
	// The server answers 500 and closes the connection while the client is
	// still sending, so the client sees either the status or a reset.
	if !strings.Contains(string(st.Stderr), `uploading disk "disk1.vmdk"`) {
		t.Errorf("error does not report the failed upload: %s", st.Stderr)
	}
	assertNothingLeft(t, srv.Endpoint)
}

// importBig imports a 16 MB OVA through the harness's child process.
func importBig(t *testing.T, srv *Server) (ProcStats, error) {
	t.Helper()
	dir := t.TempDir()
	ova := filepath.Join(dir, "big.ova")
	if err := ovatest.Write(ova, ovatest.Options{DataBytes: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	return Measure(context.Background(), dir, self, []string{"import", "-source", ova, "-name", "bench-full"}, append(srv.Endpoint.Env(), childEnv...))
}

func assertNothingLeft(t *testing.T, ep Endpoint) {
	t.Helper()
	ctx := context.Background()
	c, err := ep.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(ctx) }()
	vms, leases := cleanup(ctx, c, ep)
	if len(vms) != 0 || len(leases) != 0 {
		t.Errorf("left behind: VMs %v, open leases %v", vms, leases)
	}
}

// SIGINT to the harness in the middle of a (throttled) import: it must
// exit promptly, the provider's import must abort its lease and remove its
// VM, and the temp folder with the OVA must be gone.
func TestInterruptedRunLeavesNothing(t *testing.T) {
	srv := startServer(t, ServerOptions{Throttle: 4 << 20})
	self, _ := os.Executable()
	parent := t.TempDir()
	cmd := exec.Command(self, "run")
	cmd.Env = append(append(os.Environ(), srv.Endpoint.Env()...), childEnv...)
	cmd.Env = append(cmd.Env, "BENCH_SIZES=32M", "BENCH_RUNS=1", "BENCH_URL_CHECK=0", "TMPDIR="+parent)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var out strings.Builder
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), ": wrote ") {
			break
		}
	}
	// The provider goes first; at 4 MiB/s its 32 MiB take 8 s.
	time.Sleep(2 * time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
	}
	err = cmd.Wait()
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).ExitStatus() != 1 {
		t.Errorf("harness exit: %v, want status 1", err)
	}
	if d := time.Since(sent); d > 20*time.Second {
		t.Errorf("harness took %v to stop after SIGINT", d)
	}
	if !strings.Contains(stderr.String(), "cancelled after") {
		t.Errorf("the import was not interrupted in the middle of its upload: %s", stderr.String())
	}
	if !strings.Contains(out.String(), "VMs left behind (now removed): 0 []; open NFC leases: 0 []") {
		t.Error("harness found leftovers of the interrupted import")
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("temp folder not removed: %v", ents)
	}
	assertNothingLeft(t, srv.Endpoint)
}

func TestParseSizes(t *testing.T) {
	got, err := ParseSizes("256M, 1G,4GiB,512k")
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{256 << 20, 1 << 30, 4 << 30, 512 << 10}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("size %d: got %d, want %d", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "abc", "0M", "-1G"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) accepted", bad)
		}
	}
}

// The Enterprise scenario, short: each way really runs as a child process that makes its VMs
// in vcsim, and the figures the table compares are measured. Three nodes each importing read
// the OVA three times; from one library item once (from a URL: the web server sent it once,
// to vCenter).
func TestEnterpriseScenarioMeasuresBytesRead(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := RunEnterprise(context.Background(), Config{Runs: 1, Self: self, SelfEnv: childEnv, TempParent: t.TempDir(), Endpoint: &srv.Endpoint, Out: &out}, 8<<20, 3)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"path", "url"} {
		// From a file the figure is the child's rchar, which also counts vSphere's answers (a
		// few hundred KiB, much of this small OVA): compare with one import's.
		one, per, lib := res.readRatio(res.One[src], src), res.readRatio(res.PerNode[src], src), res.readRatio(res.Library[src], src)
		if per-one < 1.95 || per-one > 2.05 {
			t.Errorf("%s: three nodes each importing read %.3f OVAs, one node %.3f: want 2 more", src, per, one)
		}
		if lib-one > 0.05 {
			t.Errorf("%s: three nodes from one library item read %.3f OVAs, one node %.3f: want the same", src, lib, one)
		}
		if src == "url" && (lib < 0.999 || lib > 1.001) {
			t.Errorf("url: the web server sent %.3f OVAs for three nodes from one library item, want 1", lib)
		}
		for _, ss := range [][]EnterpriseSample{res.One[src], res.PerNode[src], res.Library[src]} {
			if len(ss) != 1 || ss[0].MaxRSS < 4<<20 || ss[0].Wall <= 0 {
				t.Errorf("%s: samples %+v: not measured", src, ss)
			}
		}
	}
	if vms := benchVMs(srv); len(vms) != 0 {
		t.Errorf("VMs left in vcsim: %v", vms)
	}
	var table strings.Builder
	res.WriteTable(&table, 1)
	t.Log(table.String())
}

// benchVMs lists the VMs the harness made (bench-*) that are still in the simulator.
func benchVMs(srv *Server) []string {
	var names []string
	for _, e := range srv.model.Map().All("VirtualMachine") {
		if name := e.Entity().Name; strings.HasPrefix(name, "bench-") {
			names = append(names, name)
		}
	}
	return names
}
