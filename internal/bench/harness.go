package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/find"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// Config is one benchmark run.
type Config struct {
	Sizes []int64 // bytes of incompressible disk data per OVA
	Runs  int     // measured runs per importer and size
	// Self runs this package's Main (the hipchatdc-bench binary, or a test
	// binary that dispatches to Main when SelfEnv is set).
	Self    string
	SelfEnv []string
	Govc    string // govc binary; "" leaves govc out
	// TempParent holds the run's temp folder (OVAs, CA, vcsim's datastore);
	// "" means os.TempDir(). The folder is removed at the end, also after
	// an interruption.
	TempParent string
	// Endpoint, when set, is used instead of starting a simulator process.
	Endpoint *Endpoint
	// ServerArgs are extra arguments for `serve-vcsim` (bad-input runs).
	ServerArgs []string
	URLCheck   bool      // also import each OVA from an HTTP URL, Runs times per importer
	Out        io.Writer // progress messages and the final table

	simPID int // the simulator process Run started, to read its CPU time
}

// Sample is one measured process.
type Sample struct {
	Wall     time.Duration
	MaxRSS   int64
	CPU      time.Duration // the importer's user + system time
	SimCPU   time.Duration // the simulator's CPU time (user + system) during the import (0: not measured)
	SimSys   time.Duration // the system (kernel) part of SimCPU
	Written  []string
	Progress ProgressStats
	// Served and Requests are what the HTTP server sent for an import from a URL.
	Served, Requests int64
}

// SizeResult holds every sample taken for one OVA size.
type SizeResult struct {
	DataBytes, OVABytes int64
	Provider, Govc, Put []Sample
	// Imports from an HTTP URL, with what the server sent for each.
	ProviderURL, GovcURL []Sample
}

// Report is the outcome of Run.
type Report struct {
	CPUs    int
	Sizes   []SizeResult
	TempDir string
	// Cleanup says what was found and removed after the run (or after an
	// interruption): VMs the importers left behind and open NFC leases.
	LeftVMs    []string
	OpenLeases []string
}

// Run generates the OVAs, imports each one Runs times with the provider and
// with govc, alternating which goes first, and measures the plain PUT.
// Cancelling ctx (SIGINT) interrupts the running import with SIGINT, then
// reports and removes whatever it left, stops the simulator and removes the
// temp folder.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	rep = &Report{CPUs: cpuCount()}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	tmp, err := os.MkdirTemp(cfg.TempParent, "hipchatdc-bench-")
	if err != nil {
		return rep, err
	}
	rep.TempDir = tmp
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = rerr
		}
	}()
	fmt.Fprintf(out, "temp dir %s\n", tmp)

	ep := cfg.Endpoint
	if ep == nil {
		srv, e, err := startServerProcess(cfg, tmp)
		if err != nil {
			return rep, err
		}
		defer srv.stop()
		ep = &e
		cfg.simPID = srv.cmd.Process.Pid
	}
	client, err := ep.Connect(ctx)
	if err != nil {
		return rep, err
	}
	// Whatever happens, look for what the run left behind, with a context
	// of its own: ctx may be the cancelled one.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rep.LeftVMs, rep.OpenLeases = cleanup(cctx, client, *ep)
		_ = client.Logout(cctx)
		fmt.Fprintf(out, "after the run: VMs left behind (now removed): %d %v; open NFC leases: %d %v\n",
			len(rep.LeftVMs), rep.LeftVMs, len(rep.OpenLeases), rep.OpenLeases)
	}()

	var files *FileServer
	if cfg.URLCheck {
		if files, err = ServeFiles(tmp); err != nil {
			return rep, err
		}
		defer files.Close()
	}
	for _, size := range cfg.Sizes {
		res, err := runSize(ctx, cfg, *ep, client, files, tmp, size)
		rep.Sizes = append(rep.Sizes, res)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func runSize(ctx context.Context, cfg Config, ep Endpoint, client *vsphere.Client, files *FileServer, tmp string, size int64) (SizeResult, error) {
	res := SizeResult{DataBytes: size}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	name := fmt.Sprintf("bench-%s.ova", sizeLabel(size))
	ova := filepath.Join(tmp, name)
	t0 := time.Now()
	if err := ovatest.Write(ova, ovatest.Options{Name: "bench", DiskCapacityGiB: int(size>>30) + 1, DataBytes: size, Seed: uint64(size)}); err != nil {
		return res, err
	}
	defer os.Remove(ova) // keep at most one big OVA on disk
	st, err := os.Stat(ova)
	if err != nil {
		return res, err
	}
	res.OVABytes = st.Size()
	fmt.Fprintf(out, "%s: wrote %s (%d bytes) in %.1fs\n", sizeLabel(size), ova, st.Size(), time.Since(t0).Seconds())

	provider := func(vm, source string) (Sample, error) {
		return measureImport(ctx, cfg, ep, client, vm, cfg.Self, []string{"import", "-source", source, "-name", vm}, append(ep.Env(), cfg.SelfEnv...), true)
	}
	govc := func(vm, source string) (Sample, error) {
		return measureImport(ctx, cfg, ep, client, vm, cfg.Govc, []string{"import.ova", "-name", vm, source}, ep.GovcEnv(), false)
	}
	for run := 0; run < cfg.Runs; run++ {
		steps := []string{"provider", "govc"}
		if run%2 == 1 {
			steps = []string{"govc", "provider"}
		}
		steps = append(steps, "put")
		for _, step := range steps {
			vm := fmt.Sprintf("bench-%s-%s-%d", step, sizeLabel(size), run)
			var s Sample
			var err error
			switch step {
			case "provider":
				if s, err = provider(vm, ova); err == nil {
					res.Provider = append(res.Provider, s)
				}
			case "govc":
				if cfg.Govc == "" {
					continue
				}
				if s, err = govc(vm, ova); err == nil {
					res.Govc = append(res.Govc, s)
				}
			case "put":
				// Failed or interrupted runs are not samples.
				if s, err = measureImport(ctx, cfg, ep, client, vm, cfg.Self, []string{"put", "-ova", ova, "-name", vm}, append(ep.Env(), cfg.SelfEnv...), false); err == nil {
					res.Put = append(res.Put, s)
				}
			}
			if err != nil {
				return res, fmt.Errorf("%s run %d, %s: %w", sizeLabel(size), run+1, step, err)
			}
			fmt.Fprintf(out, "%s run %d %-8s %6.2fs %7.1f MiB/s  peak RSS %5.1f MiB  CPU %5.2fs  simulator CPU %5.2fs (kernel %4.2fs)\n", sizeLabel(size), run+1, step,
				s.Wall.Seconds(), mibps(res.OVABytes, s.Wall), mib(s.MaxRSS), s.CPU.Seconds(), s.SimCPU.Seconds(), s.SimSys.Seconds())
		}
	}
	if files != nil {
		// The same runs from an HTTP URL, alternating which goes first.
		url := files.URL + "/" + name
		fromURL := func(who string, run int, importer func(vm, source string) (Sample, error)) (Sample, error) {
			files.Reset()
			s, err := importer(fmt.Sprintf("bench-%s-url-%s-%d", who, sizeLabel(size), run), url)
			if err != nil {
				return s, fmt.Errorf("%s from URL, run %d, %s: %w", sizeLabel(size), run+1, who, err)
			}
			s.Served, s.Requests = files.Sent()
			fmt.Fprintf(out, "%s run %d %-8s from URL %6.2fs %7.1f MiB/s  peak RSS %5.1f MiB  server sent %d bytes in %d requests\n", sizeLabel(size), run+1, who,
				s.Wall.Seconds(), mibps(res.OVABytes, s.Wall), mib(s.MaxRSS), s.Served, s.Requests)
			return s, nil
		}
		for run := 0; run < cfg.Runs; run++ {
			steps := []string{"provider", "govc"}
			if run%2 == 1 {
				steps = []string{"govc", "provider"}
			}
			for _, step := range steps {
				switch {
				case step == "provider":
					s, err := fromURL(step, run, provider)
					if err != nil {
						return res, err
					}
					res.ProviderURL = append(res.ProviderURL, s)
				case cfg.Govc != "":
					s, err := fromURL(step, run, govc)
					if err != nil {
						return res, err
					}
					res.GovcURL = append(res.GovcURL, s)
				}
			}
		}
	}
	return res, nil
}

// measureImport runs one importer process, checks that it created the VM
// and removes the VM again (unmeasured).
func measureImport(ctx context.Context, cfg Config, ep Endpoint, client *vsphere.Client, vm, bin string, args, env []string, reports bool) (Sample, error) {
	user0, sys0 := procCPU(cfg.simPID)
	st, err := Measure(ctx, filepath.Dir(ep.CAFile), bin, args, env)
	s := Sample{Wall: st.Wall, MaxRSS: st.MaxRSS, CPU: st.CPU, Written: st.Written}
	if user0 > 0 {
		user1, sys1 := procCPU(cfg.simPID)
		s.SimCPU, s.SimSys = user1-user0+sys1-sys0, sys1-sys0
	}
	if reports && len(st.Stdout) > 0 {
		var r ImportReport
		if jerr := json.Unmarshal(st.Stdout, &r); jerr == nil {
			s.Progress = r.Progress
		}
	}
	if err != nil {
		return s, err
	}
	dctx := context.WithoutCancel(ctx)
	moid, err := client.FindVM(dctx, vm)
	if err != nil {
		return s, fmt.Errorf("the import reported success but VM %s is not there: %w", vm, err)
	}
	return s, client.Destroy(dctx, moid)
}

// cleanup finds, reports and removes VMs named bench-*, and lists open leases.
func cleanup(ctx context.Context, client *vsphere.Client, ep Endpoint) (vms, leases []string) {
	finder := find.NewFinder(client.Vim25())
	dcs, _ := finder.DatacenterList(ctx, "*")
	for _, dc := range dcs {
		finder.SetDatacenter(dc)
		list, _ := finder.VirtualMachineList(ctx, "bench-*")
		for _, vm := range list {
			vms = append(vms, vm.Name())
			_ = client.Destroy(ctx, vm.Reference().Value)
		}
	}
	leases, err := OpenLeases(ctx, ep)
	if err != nil {
		leases = append(leases, "unknown: "+err.Error())
	}
	return vms, leases
}

// OpenLeases asks a Server which NFC leases are still open.
func OpenLeases(ctx context.Context, ep Endpoint) ([]string, error) {
	hc, err := httpClient(ep.CAFile)
	if err != nil {
		return nil, err
	}
	u := strings.TrimSuffix(ep.URL, "/sdk") + OpenLeasesPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var leases []string
	if err := json.NewDecoder(res.Body).Decode(&leases); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", u, res.Status, err)
	}
	return leases, nil
}

type serverProcess struct{ cmd *exec.Cmd }

// startServerProcess runs `serve-vcsim` in a process of its own, so the
// simulator's memory is not counted against any importer, and reads the
// endpoint from its first line of output.
func startServerProcess(cfg Config, tmp string) (*serverProcess, Endpoint, error) {
	var ep Endpoint
	cmd := exec.Command(cfg.Self, append([]string{"serve-vcsim", "-dir", tmp}, cfg.ServerArgs...)...)
	cmd.Env = append(append(os.Environ(), cfg.SelfEnv...), "TMPDIR="+tmp)
	cmd.Stderr = os.Stderr
	// Own process group: Ctrl-C reaches only the harness, which stops the
	// simulator after the import has cleaned up. Pdeathsig stops it if the
	// harness itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, ep, err
	}
	if err := cmd.Start(); err != nil {
		return nil, ep, err
	}
	sp := &serverProcess{cmd: cmd}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &ep)
	}
	if err != nil {
		sp.stop()
		return nil, ep, fmt.Errorf("serve-vcsim did not start: %w", err)
	}
	return sp, ep, nil
}

func (s *serverProcess) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func cpuCount() int { return runtime.NumCPU() }

// ParseSizes reads "256M,1G,4G" (binary units).
func ParseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToUpper(f))
		f = strings.TrimSuffix(strings.TrimSuffix(f, "B"), "I")
		mult := int64(1)
		switch {
		case strings.HasSuffix(f, "K"):
			mult = 1 << 10
		case strings.HasSuffix(f, "M"):
			mult = 1 << 20
		case strings.HasSuffix(f, "G"):
			mult = 1 << 30
		}
		f = strings.TrimRight(f, "KMG")
		var n int64
		if _, err := fmt.Sscanf(f, "%d", &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q (want e.g. 256M, 1G)", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes")
	}
	return out, nil
}

func sizeLabel(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dB", n)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func mibps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return mib(n) / d.Seconds()
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
