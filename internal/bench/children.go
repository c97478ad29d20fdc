package bench

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflogtest"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// ImportReport is what the `import` and `put` subcommands print (JSON).
type ImportReport struct {
	VM       string        `json:"vm"`
	Seconds  float64       `json:"seconds"` // inside the child, login included
	Bytes    int64         `json:"bytes,omitempty"`
	Progress ProgressStats `json:"progress"`
	Log      string        `json:"log,omitempty"` // the tflog output, on failure only
}

// placement is where every importer puts its VM: vcsim's VPX model has
// one cluster, DC0_C0, and a standalone host beside it.
var placement = vsphere.Placement{Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0"}

// ProviderImport runs the provider's import once, as `terraform apply`
// would, with a tflog root logger so its progress lines can be checked.
func ProviderImport(ctx context.Context, ep Endpoint, source, name string) (ImportReport, error) {
	var rep ImportReport
	logs := &logCapture{}
	ctx = tflogtest.RootLogger(ctx, logs)
	start := time.Now()
	c, err := ep.Connect(ctx)
	if err != nil {
		return rep, err
	}
	defer func() { _ = c.Logout(context.WithoutCancel(ctx)) }()
	rep.VM, err = c.ImportOVA(ctx, vsphere.ImportSpec{Name: name, Source: source, Placement: placement})
	rep.Seconds = time.Since(start).Seconds()
	rep.Progress = logs.progress(start)
	if err != nil {
		rep.Log = logs.text()
	}
	return rep, err
}

// PlainPut measures the wire's limit: it asks for an NFC lease for the
// OVA's descriptor exactly as an importer does and then sends the disk
// entry's bytes with one plain net/http PUT, straight from the file, with
// no progress, parsing or checks on the way.
func PlainPut(ctx context.Context, ep Endpoint, ovaPath, name string) (rep ImportReport, err error) {
	start := time.Now()
	f, err := os.Open(ovaPath)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	desc, disks, err := tarLayout(f)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", ovaPath, err)
	}
	c, err := ep.Connect(ctx)
	if err != nil {
		return rep, err
	}
	defer func() { _ = c.Logout(context.WithoutCancel(ctx)) }()
	place, err := c.ResolvePlacement(ctx, placement)
	if err != nil {
		return rep, err
	}
	is, err := ovf.NewManager(c.Vim25()).CreateImportSpec(ctx, string(desc), place.ResourcePool, place.Datastore,
		&types.OvfCreateImportSpecParams{EntityName: name, OvfManagerCommonParams: types.OvfManagerCommonParams{Locale: "US"}})
	if err != nil {
		return rep, err
	}
	if len(is.Error) > 0 {
		return rep, errors.New(is.Error[0].LocalizedMessage)
	}
	lease, err := place.ResourcePool.ImportVApp(ctx, is.ImportSpec, place.Folder, nil)
	if err != nil {
		return rep, err
	}
	// On failure or SIGINT leave nothing behind, as the importers do.
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = lease.Abort(cctx, nil)
		if rep.VM != "" {
			_ = c.Destroy(cctx, rep.VM)
		}
	}()
	info, err := lease.Wait(ctx, is.FileItem)
	if err != nil {
		return rep, err
	}
	rep.VM = info.Entity.Value
	hc, err := httpClient(ep.CAFile)
	if err != nil {
		return rep, err
	}
	for _, item := range info.Items {
		d, ok := disks[item.Path]
		if !ok {
			return rep, fmt.Errorf("%s: no %s in the archive", ovaPath, item.Path)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, item.URL.String(), io.NewSectionReader(f, d.offset, d.size))
		if err != nil {
			return rep, err
		}
		req.ContentLength = d.size
		req.Header.Set("Content-Type", "application/x-vnd.vmware-streamVmdk")
		res, err := hc.Do(req)
		if err != nil {
			return rep, err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return rep, fmt.Errorf("PUT %s: %s", item.URL, res.Status)
		}
		rep.Bytes += d.size
	}
	if err := lease.Complete(ctx); err != nil {
		return rep, err
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

type tarEntry struct{ offset, size int64 }

// tarLayout returns an OVA's descriptor and where each other entry's bytes
// lie in the file.
func tarLayout(f *os.File) ([]byte, map[string]tarEntry, error) {
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	var desc []byte
	entries := map[string]tarEntry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if strings.EqualFold(path.Ext(h.Name), ".ovf") {
			if desc, err = io.ReadAll(tr); err != nil {
				return nil, nil, err
			}
			continue
		}
		entries[path.Base(h.Name)] = tarEntry{offset: cr.n, size: h.Size}
	}
	if desc == nil {
		return nil, nil, errors.New("no .ovf descriptor in the archive")
	}
	_, err := f.Seek(0, io.SeekStart)
	return desc, entries, err
}

// countingReader knows its offset in the file. It is also a Seeker, so
// archive/tar skips a multi-GiB disk entry by seeking instead of reading it.
type countingReader struct {
	r io.ReadSeeker
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Seek(off int64, whence int) (int64, error) {
	n, err := c.r.Seek(off, whence)
	if err == nil {
		c.n = n
	}
	return n, err
}

func httpClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}
