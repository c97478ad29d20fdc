package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/vcenter"
	"golang.org/x/time/rate"
)

// wrapVAPI puts the lab's own handlers in front of vcsim's REST (vAPI) simulator, which vcsim
// mounts at /rest/: content-library uploads through the link (when not nil), as limitNFC does
// for NFC, and the deploys CutLibraryDeploy cuts off. Method patterns are more specific than
// vcsim's "/rest/" (Go 1.22 ServeMux precedence); vcsim's handler is looked up when a request
// comes, since vcsim registers it only when the server starts.
func (v *vcsim) wrapVAPI(mux *http.ServeMux, link *rate.Limiter) {
	next := func() http.Handler {
		h, _ := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: rest.Path + "/"}})
		return h
	}
	if link != nil {
		// rest.Client.Upload PUTs an item's files to .../com/vmware/cis/data/<session>/<name>.
		// vcsim's REST handler holds its one lock while it reads the body, so other REST calls
		// wait for a limited upload (a real vCenter serves them meanwhile).
		upload := func(w http.ResponseWriter, r *http.Request) {
			r.Body = &limitedReader{rc: r.Body, lim: link, ctx: r.Context()}
			next().ServeHTTP(w, r)
		}
		mux.HandleFunc("PUT "+rest.Path+"/com/vmware/cis/data/", upload)
		mux.HandleFunc("POST "+rest.Path+"/com/vmware/cis/data/", upload)
	}
	mux.HandleFunc("POST "+rest.Path+"/com/vmware/vcenter/ovf/library-item/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var d vcenter.Deploy
		var cut *CutDeploy
		if r.URL.Query().Get("~action") == "deploy" && json.Unmarshal(body, &d) == nil {
			cut = v.takeCut(d.Name)
		}
		if cut == nil {
			next().ServeHTTP(w, r)
			return
		}
		// vCenter runs a deploy to its end whether or not its client still waits: the answer
		// is held until the client gives up, and the deploy only then made.
		<-r.Context().Done()
		later := r.Clone(context.Background())
		later.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next().ServeHTTP(rec, later)
		var res struct{ Value vcenter.Deployment }
		_ = json.Unmarshal(rec.Body.Bytes(), &res)
		v.mu.Lock()
		defer v.mu.Unlock()
		if res.Value.ResourceID != nil {
			cut.moid = res.Value.ResourceID.Value
		}
		close(cut.done)
	})
}

func (v *vcsim) takeCut(name string) *CutDeploy {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cutDeploys[name]
	delete(v.cutDeploys, name)
	return c
}

// CutDeploy is a deploy CutLibraryDeploy cuts off.
type CutDeploy struct {
	done chan struct{}
	moid string
}

// Made waits until vcsim has run the cut deploy, and returns the MOID of the VM it made ("" when
// it made none); ok is false when ctx ended first (no deploy was cut).
func (c *CutDeploy) Made(ctx context.Context) (moid string, ok bool) {
	select {
	case <-c.done:
		return c.moid, true
	case <-ctx.Done():
		return "", false
	}
}

// CutLibraryDeploy makes the next content-library deploy of a VM called name behave as a
// deploy whose client was cut off (the apply's timeout, Ctrl-C, a lost runner) does on
// vCenter: vcsim answers nothing until the client gives up, and then makes the VM, without
// the client knowing.
func (l *Lab) CutLibraryDeploy(name string) *CutDeploy {
	c := &CutDeploy{done: make(chan struct{})}
	l.vc.mu.Lock()
	defer l.vc.mu.Unlock()
	l.vc.cutDeploys[name] = c
	return c
}
