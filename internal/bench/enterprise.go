package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// The Enterprise scenario: three Hipchat nodes (Atlassian's Enterprise-scale count) from one
// OVA, made as one provider process makes them during `terraform apply` (Terraform creates
// the three node resources at the same time): today's way, each node importing the OVA
// (ovaImport, three at once), and from one content library item (hipchatdc_library_item, then
// three deploys from it at once). Its peer, measured in the same run and alternating with
// them, is one node's import alone.

// EnterpriseReport is what an `enterprise` child reports.
type EnterpriseReport struct {
	Mode    string   `json:"mode"`
	VMs     []string `json:"vms"`
	ItemID  string   `json:"item_id,omitempty"`
	Seconds float64  `json:"seconds"`
	// ReadBytes is the process's rchar (/proc/self/io): every byte its read calls returned,
	// from files and sockets. From a local OVA that is the OVA's bytes read plus vSphere's
	// answers (a few KiB).
	ReadBytes int64  `json:"read_bytes"`
	Log       string `json:"log,omitempty"`
}

// Enterprise modes.
const (
	modeImport  = "import"  // each node imports the OVA (nodes imports at once)
	modeLibrary = "library" // the OVA into a content library item, then nodes deploys at once
)

// benchLibrary is the content library the scenario's items go to (made and removed by the
// provider's code: it is deleted with its last item).
const benchLibrary = "bench-library"

// EnterpriseNodes makes nodes VMs named prefix-1.. from source, in mode.
func EnterpriseNodes(ctx context.Context, ep Endpoint, mode, source, prefix string, nodes int) (EnterpriseReport, error) {
	rep := EnterpriseReport{Mode: mode}
	logs := &logCapture{}
	ctx = tflogtest.RootLogger(ctx, logs)
	start := time.Now()
	c, err := ep.Connect(ctx)
	if err != nil {
		return rep, err
	}
	defer func() { _ = c.Logout(context.WithoutCancel(ctx)) }()
	var create func(name string) (string, error)
	switch mode {
	case modeImport:
		create = func(name string) (string, error) {
			return c.ImportOVA(ctx, vsphere.ImportSpec{Name: name, Source: source, Placement: placement})
		}
	case modeLibrary:
		item, err := c.CreateLibraryItem(ctx, vsphere.LibraryItemSpec{Library: benchLibrary, Datacenter: placement.Datacenter,
			Datastore: placement.Datastore, Name: prefix, Source: source})
		if err != nil {
			rep.Log = logs.text()
			return rep, err
		}
		rep.ItemID = item.ID
		create = func(name string) (string, error) {
			return c.DeployLibraryItem(ctx, vsphere.DeploySpec{Name: name, Placement: placement, ItemID: item.ID})
		}
	default:
		return rep, fmt.Errorf("unknown mode %q", mode)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := 1; i <= nodes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := create(fmt.Sprintf("%s-%d", prefix, i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			rep.VMs = append(rep.VMs, id)
		}()
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.ReadBytes = selfRchar()
	if len(errs) > 0 {
		rep.Log = logs.text()
		return rep, errs[0]
	}
	return rep, nil
}

// selfRchar is this process's rchar from /proc/self/io (0 when unreadable).
func selfRchar() int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func mainEnterprise(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("enterprise", flag.ContinueOnError)
	mode := fs.String("mode", modeImport, "import (each node imports the OVA) or library (one content library item, N deploys)")
	source := fs.String("source", "", "OVA path or URL")
	prefix := fs.String("name", "bench-ent", "VM name prefix")
	nodes := fs.Int("nodes", 3, "Hipchat nodes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ep, err := EndpointFromEnv()
	if err != nil {
		return err
	}
	rep, err := EnterpriseNodes(ctx, ep, *mode, *source, *prefix, *nodes)
	if jerr := json.NewEncoder(stdout).Encode(rep); jerr != nil && err == nil {
		err = jerr
	}
	return err
}

// EnterpriseSample is one measured `enterprise` child.
type EnterpriseSample struct {
	Sample
	ReadBytes int64 // the child's rchar
}

// EnterpriseResult holds the scenario's samples, by source (path, url) and way.
type EnterpriseResult struct {
	Nodes               int
	DataBytes, OVABytes int64
	// One node's import alone, N nodes each importing, N nodes from one library item.
	One, PerNode, Library map[string][]EnterpriseSample
}

// RunEnterprise measures the Enterprise scenario: cfg.Runs times each, alternating the order,
// for an OVA of size bytes of disk data, from a file and from an http URL.
func RunEnterprise(ctx context.Context, cfg Config, size int64, nodes int) (res *EnterpriseResult, err error) {
	res = &EnterpriseResult{Nodes: nodes, DataBytes: size, One: map[string][]EnterpriseSample{}, PerNode: map[string][]EnterpriseSample{}, Library: map[string][]EnterpriseSample{}}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	tmp, err := os.MkdirTemp(cfg.TempParent, "hipchatdc-bench-enterprise-")
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = rerr
		}
	}()
	ep := cfg.Endpoint
	if ep == nil {
		srv, e, err := startServerProcess(cfg, tmp)
		if err != nil {
			return res, err
		}
		defer srv.stop()
		ep = &e
		cfg.simPID = srv.cmd.Process.Pid
	}
	client, err := ep.Connect(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		vms, leases := cleanup(cctx, client, *ep)
		_ = client.Logout(cctx)
		if len(vms)+len(leases) > 0 {
			fmt.Fprintf(out, "enterprise: VMs left behind (now removed): %v; open NFC leases: %v\n", vms, leases)
		}
	}()
	files, err := ServeFiles(tmp)
	if err != nil {
		return res, err
	}
	defer files.Close()

	name := fmt.Sprintf("hipchat-node-%s.ova", sizeLabel(size))
	ova := filepath.Join(tmp, name)
	if err := ovatest.Write(ova, ovatest.Options{Name: "hipchat-node", DiskCapacityGiB: int(size>>30) + 1, DataBytes: size, Seed: uint64(size) + 16, Manifest: "SHA256"}); err != nil {
		return res, err
	}
	st, err := os.Stat(ova)
	if err != nil {
		return res, err
	}
	res.OVABytes = st.Size()
	sources := map[string]string{"path": ova, "url": files.URL + "/" + name}
	env := append(ep.Env(), cfg.SelfEnv...)
	measure := func(source, way string, run int) (EnterpriseSample, error) {
		mode, n := modeImport, nodes
		switch way {
		case "one":
			n = 1
		case "library":
			mode = modeLibrary
		}
		prefix := fmt.Sprintf("bench-ent-%s-%s-%d", source, way, run)
		files.Reset()
		user0, sys0 := procCPU(cfg.simPID)
		ps, err := Measure(ctx, filepath.Dir(ep.CAFile), cfg.Self, []string{"enterprise", "-mode", mode, "-source", sources[source], "-name", prefix, "-nodes", strconv.Itoa(n)}, env)
		s := EnterpriseSample{Sample: Sample{Wall: ps.Wall, MaxRSS: ps.MaxRSS, CPU: ps.CPU, Written: ps.Written}}
		if user0 > 0 {
			user1, sys1 := procCPU(cfg.simPID)
			s.SimCPU, s.SimSys = user1-user0+sys1-sys0, sys1-sys0
		}
		s.Served, s.Requests = files.Sent()
		var rep EnterpriseReport
		if jerr := json.Unmarshal(bytes.TrimSpace(ps.Stdout), &rep); jerr == nil {
			s.ReadBytes = rep.ReadBytes
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w\n%s%s", prefix, err, ps.Stderr, rep.Log)
		}
		if len(rep.VMs) != n {
			return s, fmt.Errorf("%s: %d VMs made, want %d", prefix, len(rep.VMs), n)
		}
		// Unmeasured: remove the VMs and the item (and the library with it).
		dctx := context.WithoutCancel(ctx)
		for _, vm := range rep.VMs {
			if err := client.Destroy(dctx, vm); err != nil {
				return s, err
			}
		}
		if rep.ItemID != "" {
			if err := client.DeleteLibraryItem(dctx, rep.ItemID); err != nil {
				return s, err
			}
		}
		return s, nil
	}
	for run := 0; run < cfg.Runs; run++ {
		ways := []string{"one", "per-node", "library"}
		if run%2 == 1 {
			ways = []string{"library", "per-node", "one"}
		}
		for _, source := range []string{"path", "url"} {
			for _, way := range ways {
				s, err := measure(source, way, run)
				if err != nil {
					return res, fmt.Errorf("enterprise, %s run %d, %s: %w", source, run+1, way, err)
				}
				bucket := map[string]map[string][]EnterpriseSample{"one": res.One, "per-node": res.PerNode, "library": res.Library}[way]
				bucket[source] = append(bucket[source], s)
				fmt.Fprintf(out, "enterprise %s run %d %-8s from %-4s %6.2fs  peak RSS %5.1f MiB  read %.2f OVAs  served %.2f OVAs in %d requests\n",
					sizeLabel(size), run+1, way, source, s.Wall.Seconds(), mib(s.MaxRSS),
					float64(s.ReadBytes)/float64(res.OVABytes), float64(s.Served)/float64(res.OVABytes), s.Requests)
			}
		}
	}
	return res, nil
}

func enterpriseWalls(ss []EnterpriseSample) []time.Duration {
	out := make([]time.Duration, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Wall)
	}
	return out
}

func enterpriseRSS(ss []EnterpriseSample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.MaxRSS)
	}
	return m
}

// readRatio is the largest bytes read from the OVA's source, in OVAs: for a file the child's
// rchar, for a URL what the web server sent (whoever fetched it: the provider or vCenter).
func (r *EnterpriseResult) readRatio(ss []EnterpriseSample, source string) float64 {
	var most int64
	for _, s := range ss {
		if source == "url" {
			most = max(most, s.Served)
		} else {
			most = max(most, s.ReadBytes)
		}
	}
	return float64(most) / float64(r.OVABytes)
}

// WriteTable prints the scenario's table and its goals.
func (r *EnterpriseResult) WriteTable(w io.Writer, runs int) {
	fmt.Fprintf(w, "Enterprise scenario: %d Hipchat nodes from one OVA (%s of disk data, %d bytes), made at once by one process as `terraform apply` makes them; runs: %d, alternating the order; medians of whole processes (login included); peak RSS is the highest of any run. "+
		"Read = bytes read from the OVA's source / OVA size (the largest of any run): from a file, the process's rchar (all its reads, files and sockets); from a URL, what the web server sent, to whoever fetched it.\n\n",
		r.Nodes, sizeLabel(r.DataBytes), r.OVABytes, runs)
	fmt.Fprintln(w, "| source | one node's import | nodes, each importing | nodes from one library item | each importing : one | library : one | read, each importing | read, library | peak RSS one | peak RSS each importing | peak RSS library |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, src := range []string{"path", "url"} {
		one, per, lib := median(enterpriseWalls(r.One[src])), median(enterpriseWalls(r.PerNode[src])), median(enterpriseWalls(r.Library[src]))
		ratio := func(a time.Duration) string {
			if a == 0 || one == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", a.Seconds()/one.Seconds())
		}
		label := map[string]string{"path": "ova_path (file)", "url": "ova_url (http)"}[src]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.2f× | %.2f× | %.1f MiB | %.1f MiB | %.1f MiB |\n", label, secs(one), secs(per), secs(lib), ratio(per), ratio(lib),
			r.readRatio(r.PerNode[src], src), r.readRatio(r.Library[src], src), mib(enterpriseRSS(r.One[src])), mib(enterpriseRSS(r.PerNode[src])), mib(enterpriseRSS(r.Library[src])))
	}
	fmt.Fprintln(w)
	for _, g := range r.Goals() {
		state := "NOT MET"
		if g.Met {
			state = "MET"
		}
		fmt.Fprintf(w, "- %s: %s (%s)\n", g.Name, state, g.Detail)
	}
}

// Goals are the issue's: the OVA read once for N nodes, the apply at most 1.3× one node's, and
// no more memory than one import.
func (r *EnterpriseResult) Goals() []Goal {
	var goals []Goal
	for _, src := range []string{"path", "url"} {
		if len(r.Library[src]) == 0 {
			continue
		}
		read := r.readRatio(r.Library[src], src)
		// rchar also counts vSphere's answers: a few KiB on top of the OVA.
		goals = append(goals, Goal{Name: fmt.Sprintf("%s: %d nodes read the OVA once (library item; read <= 1.00× one OVA, to 2 decimals)", src, r.Nodes),
			Met: read < 1.005, Detail: fmt.Sprintf("%.3f×; each importing: %.3f×", read, r.readRatio(r.PerNode[src], src))})
		one, lib := median(enterpriseWalls(r.One[src])), median(enterpriseWalls(r.Library[src]))
		if one > 0 && lib > 0 {
			goals = append(goals, Goal{Name: fmt.Sprintf("%s: %d nodes' wall time <= 1.3× one node's (library item)", src, r.Nodes),
				Met: lib.Seconds() <= 1.3*one.Seconds(), Detail: fmt.Sprintf("%.2f×; each importing: %.2f×", lib.Seconds()/one.Seconds(), median(enterpriseWalls(r.PerNode[src])).Seconds()/one.Seconds())})
		}
		oneRSS, libRSS := enterpriseRSS(r.One[src]), enterpriseRSS(r.Library[src])
		goals = append(goals, Goal{Name: fmt.Sprintf("%s: peak RSS no higher than one import's (library item)", src),
			Met: libRSS <= oneRSS, Detail: fmt.Sprintf("%.1f MiB vs %.1f MiB; each importing: %.1f MiB", mib(libRSS), mib(oneRSS), mib(enterpriseRSS(r.PerNode[src])))})
	}
	return goals
}
