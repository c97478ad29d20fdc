package vsphere

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/ovf/importer"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vapi/library"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/vcenter"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A content library item is vSphere's way to deploy many VMs from one upload: the OVA's files
// are stored once on a datastore of vCenter's, and each deploy copies them there, inside
// vSphere, instead of reading the OVA again from the runner. CreateLibraryItem uploads (or has
// vCenter pull) the OVA once; DeployLibraryItem makes a VM of it as ImportOVA would.

// libraryMarker opens the description of a content library this provider created, so that
// deleting its last item deletes it too, while a library made by hand is left alone.
const libraryMarker = "Created by terraform-provider-hipchatdc"

// LibraryItemSpec is one OVA to store in a content library.
type LibraryItemSpec struct {
	Library    string // name or ID of the content library; created (local) when no library has the name
	Datacenter string // where Datastore is looked up
	Datastore  string // the datastore a new library stores its items on; "" the only one
	Name       string // the item's name
	// Source is a local .ova path, uploaded from the runner, or an http(s) URL that vCenter
	// pulls itself.
	Source string
	CAFile string
	Warn   func(string)
}

// LibraryItem is a content library item as vCenter reports it.
type LibraryItem struct {
	ID, Name               string
	LibraryID, LibraryName string
	Datastore              string // the library's datastore, by name
	Size                   int64  // the bytes of its files
	Files                  []string
	Type                   string
}

// LibraryError is a content library or item that cannot be used as asked; Field names the
// resource attribute to fix (library, name, datastore).
type LibraryError struct {
	Field string
	Err   error
}

func (e *LibraryError) Error() string { return e.Err.Error() }
func (e *LibraryError) Unwrap() error { return e.Err }

// ErrLibraryItemNotFound is a library item that vCenter no longer has.
var ErrLibraryItemNotFound = errors.New("content library item not found")

// restClient is the vAPI (REST) session beside the SOAP one, for the content library. It is
// logged in on first use with the provider's credentials and shared.
type restClient struct {
	mu sync.Mutex
	rc *rest.Client
}

func (c *Client) rest(ctx context.Context) (*rest.Client, error) {
	c.vapi.mu.Lock()
	defer c.vapi.mu.Unlock()
	if c.vapi.rc != nil {
		if s, err := c.vapi.rc.Session(ctx); err == nil && s != nil {
			return c.vapi.rc, nil
		}
	}
	rc := rest.NewClient(c.vim)
	if err := rc.Login(ctx, c.rt.user); err != nil {
		return nil, fmt.Errorf("logging in to vCenter's REST API (the content library): %w", err)
	}
	c.vapi.rc = rc
	return rc, nil
}

// CheckContentLibrary refuses the content library on a standalone ESXi host, which has none
// (it is a vCenter service, behind vCenter's REST API): field is the attribute that asks for
// it. Without it the attempt fails later as a REST login error or a lookup of nothing.
func (c *Client) CheckContentLibrary(field string) error {
	if !c.IsESXi() {
		return nil
	}
	alt := "store the OVA with hipchatdc_library_item on a vCenter Server"
	if field == "library_item" {
		alt = "deploy from ova_path, ova_url or template instead"
	}
	return &EndpointError{Field: field, Err: fmt.Errorf("%s, a standalone ESXi host without a vCenter, which has no content libraries (a vCenter service): "+
		"%s, or point vsphere_server at the vCenter Server that manages the host", c.endpoint(), alt)}
}

// findLibrary finds a content library by ID or name; nil when there is none.
func findLibrary(ctx context.Context, m *library.Manager, nameOrID string) (*library.Library, error) {
	if uuidPattern.MatchString(nameOrID) {
		if l, err := m.GetLibraryByID(ctx, nameOrID); err == nil {
			return l, nil
		}
	}
	ids, err := m.FindLibrary(ctx, library.Find{Name: nameOrID})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		l, err := m.GetLibraryByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if l.Name == nameOrID {
			return l, nil
		}
	}
	return nil, nil
}

// CreateLibraryItem stores spec.Source as a new item of the content library, making the
// library (local, on spec.Datastore) when none has its name. A local OVA is read once, front to
// back, each file uploaded as it comes and checked against the OVA's manifest and signature as
// ImportOVA checks them; a URL is given to vCenter to pull, and no byte crosses the runner.
// An item of the name already in the library is a *LibraryError (nothing is changed); any
// failure after the item was made removes it, and the library when it was made for it.
func (c *Client) CreateLibraryItem(ctx context.Context, spec LibraryItemSpec) (*LibraryItem, error) {
	if err := c.CheckContentLibrary("library"); err != nil {
		return nil, err
	}
	rc, err := c.rest(ctx)
	if err != nil {
		return nil, err
	}
	m := library.NewManager(rc)
	shown := Redact(spec.Source)
	lib, err := findLibrary(ctx, m, spec.Library)
	if err != nil {
		return nil, fmt.Errorf("looking up content library %q: %w", spec.Library, err)
	}
	var dsName string
	made := false
	if lib != nil {
		if lib.Type != "LOCAL" {
			return nil, &LibraryError{Field: "library", Err: fmt.Errorf("content library %q (%s) is a %s library: items cannot be added to it (a subscribed library only takes its publisher's items). "+
				"Name a local content library, or a new name for the provider to create one", lib.Name, lib.ID, strings.ToLower(lib.Type))}
		}
		dsName, err = c.libraryDatastore(ctx, lib)
		if err != nil {
			return nil, err
		}
		if spec.Datastore != "" && spec.Datastore != dsName && !strings.HasSuffix(spec.Datastore, "/"+dsName) {
			return nil, &LibraryError{Field: "datastore", Err: fmt.Errorf("content library %q stores its items on datastore %q, not %q: remove datastore (it only places a library the provider creates), or name another library", lib.Name, dsName, spec.Datastore)}
		}
		ids, err := m.FindLibraryItems(ctx, library.FindItem{LibraryID: lib.ID, Name: spec.Name})
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			it, err := m.GetLibraryItem(ctx, id)
			if err != nil || it.Name != spec.Name {
				continue
			}
			files, _ := m.ListLibraryItemFiles(ctx, id)
			names := make([]string, 0, len(files))
			for _, f := range files {
				names = append(names, f.Name)
			}
			return nil, &LibraryError{Field: "name", Err: fmt.Errorf("content library %q already holds an item named %q (%s, type %q, files %s), which no Terraform state records: "+
				"the provider does not overwrite it, since other VMs may be deployed from it. Choose another name, bring it under Terraform with `terraform import` (ID %s/%s), or delete it in the vSphere Client (Content Libraries)",
				lib.Name, spec.Name, id, it.Type, strings.Join(names, ", "), lib.Name, spec.Name)}
		}
	}

	var ds *object.Datastore
	if lib == nil {
		if ds, err = c.resolveDatastore(ctx, spec.Datacenter, spec.Datastore); err != nil {
			return nil, err
		}
	} else if ds = libraryDatastoreRef(c, lib); ds == nil {
		// A library backed by a storage URI, not a datastore: nothing for vSphere to measure.
		tflog.Warn(ctx, "content library not on a datastore: its free space is not checked", map[string]any{"library": lib.Name})
	}
	// The library's datastore must have room for the OVA before any byte is sent.
	size, err := c.sourceSize(ctx, spec.Source)
	if err != nil {
		return nil, err
	}
	if ds != nil && size > 0 {
		if err := c.checkSpace(ctx, ds, size, 0, "the files of "+shown+" in content library "+spec.Library); err != nil {
			return nil, err
		}
	}
	if lib == nil {
		desc := libraryMarker + " for " + spec.Name + "; deleted with its last item."
		id, err := m.CreateLibrary(ctx, library.Library{Name: spec.Library, Type: "LOCAL", Description: &desc,
			Storage: []library.StorageBacking{{DatastoreID: ds.Reference().Value, Type: "DATASTORE"}}})
		if err != nil {
			return nil, &LibraryError{Field: "library", Err: fmt.Errorf("creating content library %q on datastore %q: %w", spec.Library, ds.Name(), err)}
		}
		made = true
		if lib, err = m.GetLibraryByID(ctx, id); err != nil {
			// No state records the library yet: it goes again rather than stay unowned.
			if derr := m.DeleteLibrary(context.WithoutCancel(ctx), &library.Library{ID: id}); derr != nil {
				return nil, fmt.Errorf("reading content library %q (%s) just created: %w; deleting it again failed too (%w): delete it in the vSphere Client", spec.Library, id, err, derr)
			}
			return nil, fmt.Errorf("reading content library %q (%s) just created: %w (it was deleted again)", spec.Library, id, err)
		}
	}
	itemID, err := m.CreateLibraryItem(ctx, library.Item{Name: spec.Name, Type: library.ItemTypeOVF, LibraryID: lib.ID,
		Description: ptr("OVA " + shown + ", uploaded by terraform-provider-hipchatdc")})
	if err != nil {
		if made {
			_ = m.DeleteLibrary(context.WithoutCancel(ctx), lib)
		}
		return nil, &LibraryError{Field: "name", Err: fmt.Errorf("creating item %q in content library %q: %w", spec.Name, lib.Name, err)}
	}
	item, err := c.fillLibraryItem(ctx, m, itemID, spec)
	if err != nil {
		// Nothing half-made: the item goes, and the library with it when it was made for it.
		// When even that fails, the item is returned with the error, so that the state records
		// it (tainted: the next apply deletes it and uploads again) instead of losing it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := c.DeleteLibraryItem(cctx, itemID); derr != nil {
			err = fmt.Errorf("%w (removing the incomplete item %s failed: %w)", err, itemID, derr)
			return &LibraryItem{ID: itemID, Name: spec.Name, LibraryID: lib.ID, LibraryName: lib.Name}, err
		}
		return nil, err
	}
	return item, nil
}

func ptr[T any](v T) *T { return &v }

// fillLibraryItem uploads the source's files to the item in one update session and reads the
// item back, checked to hold an OVF descriptor and every file the descriptor names.
func (c *Client) fillLibraryItem(ctx context.Context, m *library.Manager, itemID string, spec LibraryItemSpec) (*LibraryItem, error) {
	if err := c.uploadLibraryItem(ctx, m, itemID, spec); err != nil {
		return nil, err
	}
	item, err := c.ReadLibraryItem(ctx, itemID)
	if err != nil {
		return nil, fmt.Errorf("reading library item %q back after the upload: %w", spec.Name, err)
	}
	if err := c.checkItemFiles(ctx, item); err != nil {
		return nil, fmt.Errorf("storing %s as library item %q: %w", Redact(spec.Source), spec.Name, err)
	}
	return item, nil
}

// checkItemFiles: the item holds an OVF descriptor and each file its References name, as a
// deploy needs them.
func (c *Client) checkItemFiles(ctx context.Context, item *LibraryItem) error {
	rc, err := c.rest(ctx)
	if err != nil {
		return err
	}
	env, err := c.itemDescriptor(ctx, rc, item)
	var le *LibraryError
	if errors.As(err, &le) {
		return fmt.Errorf("vCenter stored no complete OVF template: %w", le.Err)
	}
	if err != nil {
		return err
	}
	for _, f := range env.References {
		if !slices.Contains(item.Files, path.Base(f.Href)) {
			return fmt.Errorf("vCenter stored no complete OVF template: file %q named in the descriptor is missing (files: %s)", f.Href, strings.Join(item.Files, ", "))
		}
	}
	return nil
}

// uploadLibraryItem sends (or has vCenter pull) the source's files in one update session.
func (c *Client) uploadLibraryItem(ctx context.Context, m *library.Manager, itemID string, spec LibraryItemSpec) error {
	sid, err := m.CreateLibraryItemUpdateSession(ctx, library.Session{LibraryItemID: itemID})
	if err != nil {
		return fmt.Errorf("starting the upload to library item %q: %w", spec.Name, err)
	}
	fail := func(err error) error {
		_ = m.CancelLibraryItemUpdateSession(context.WithoutCancel(ctx), sid)
		return err
	}
	if isURL(spec.Source) {
		// vCenter pulls the OVA itself (it unpacks and checks an .ova as its own import does).
		name := path.Base(spec.Name) + ".ova"
		tflog.Info(ctx, "vCenter pulls the OVA into the content library", map[string]any{"item": spec.Name, "source": Redact(spec.Source)})
		if _, err := m.AddLibraryItemFileFromURI(ctx, sid, name, spec.Source); err != nil {
			return fail(fmt.Errorf("vCenter cannot pull %s: %w", Redact(spec.Source), err))
		}
	} else if err := c.pushOVA(ctx, m, sid, spec); err != nil {
		return fail(err)
	}
	if err := m.CompleteLibraryItemUpdateSession(ctx, sid); err != nil {
		return fail(fmt.Errorf("completing the upload to library item %q: %w", spec.Name, err))
	}
	if err := waitUpdateSession(ctx, m, sid); err != nil {
		return fmt.Errorf("storing %s as library item %q: %w", Redact(spec.Source), spec.Name, err)
	}
	return nil
}

// waitUpdateSession waits until vCenter has finished the session (a pull of gigabytes takes
// minutes). vCenter has no event for it: it is polled, soon at first (a push is done at once),
// then every 2 s. govmomi's WaitOnLibraryItemUpdateSession polls at one fixed interval.
func waitUpdateSession(ctx context.Context, m *library.Manager, sid string) error {
	interval := 20 * time.Millisecond
	for {
		s, err := m.GetLibraryItemUpdateSession(ctx, sid)
		if err != nil {
			return err
		}
		// Only DONE is success: a session cancelled by someone else (CANCELED), failed (ERROR)
		// or in a state this provider does not know holds no complete item.
		switch s.State {
		case "ACTIVE":
		case "DONE":
			return nil
		case "ERROR":
			if s.ErrorMessage != nil {
				return s.ErrorMessage
			}
			return errors.New("vCenter failed the upload")
		case "CANCELED":
			return errors.New("the upload session was cancelled in vCenter before it completed")
		default:
			return fmt.Errorf("the upload session ended in state %q, not DONE", s.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		interval = min(2*interval, 2*time.Second)
	}
}

// pushOVA streams a local OVA's descriptor and disks to the update session, checked as
// ImportOVA checks them.
func (c *Client) pushOVA(ctx context.Context, m *library.Manager, sid string, spec LibraryItemSpec) error {
	shown := Redact(spec.Source)
	roots, err := loadRoots(spec.CAFile)
	if err != nil {
		return err
	}
	warn := spec.Warn
	if warn == nil {
		warn = func(string) {}
	}
	job := &importJob{ImportSpec: ImportSpec{Source: spec.Source, CAFile: spec.CAFile}, roots: roots, warn: warn}
	src, err := c.openSource(ctx, spec.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, ok := src.(*tarSource); !ok {
		return fmt.Errorf("%s is an OVF descriptor: a content library item is made of an .ova here; pack it with ovftool (ovftool x.ovf x.ova) or serve it by URL", shown)
	}
	descName, desc, err := src.descriptor()
	if err != nil {
		return err
	}
	ahead, err := job.checkAhead(src, descName, desc)
	if err != nil {
		return fmt.Errorf("%s: %w", shown, err)
	}
	env, err := importer.ReadEnvelope(desc)
	if err != nil {
		return fmt.Errorf("%s: descriptor %s: %w", shown, descName, err)
	}
	pending := map[string]bool{}
	for _, f := range env.References {
		if ahead.mf != nil {
			if _, err := ahead.mf.hasher(f.Href); err != nil {
				return fmt.Errorf("%s: %w", shown, err)
			}
		}
		pending[f.Href] = true
	}
	rc, err := c.rest(ctx)
	if err != nil {
		return err
	}
	put := func(name string, size int64, body io.Reader) error {
		f := library.UpdateFile{Name: name, SourceType: "PUSH", Size: size}
		if ahead.mf != nil {
			f.Checksum = ahead.mf.sums[name] // vCenter checks it too
		}
		up, err := m.AddLibraryItemFile(ctx, sid, f)
		if err != nil {
			return fmt.Errorf("adding %q to library item %q: %w", name, spec.Name, err)
		}
		u, err := url.Parse(up.UploadEndpoint.URI)
		if err != nil {
			return err
		}
		p := soap.DefaultUpload
		p.ContentLength = size
		return rc.Upload(ctx, body, u, &p)
	}
	if err := put(path.Base(descName), int64(len(desc)), bytes.NewReader(desc)); err != nil {
		return err
	}
	prog := startProgress(ctx, fmt.Sprintf("uploading %s to content library item %q", shown, spec.Name), c.fileSize(spec.Source))
	defer prog.Finish()
	late := &lateFiles{ahead: ahead}
	sent := map[string]map[string][]byte{}
	err = src.each(func(name string, size int64, r io.Reader) error {
		if !pending[name] {
			if err := late.read(name, r); err != nil {
				return fmt.Errorf("%s: %w", shown, err)
			}
			return nil
		}
		delete(pending, name)
		body := &entryReader{r: r, prog: prog, closed: make(chan struct{})}
		switch {
		case ahead.mf != nil:
			h, err := ahead.mf.hasher(name)
			if err != nil {
				return fmt.Errorf("%s: %w", shown, err)
			}
			body.hashes = []algHash{{ahead.mf.algorithm(name), h}}
		case ahead.mayComeLate:
			body.hashes = lateHashes()
		}
		err := put(name, size, body)
		select {
		case <-body.closed:
		case <-ctx.Done():
			return fmt.Errorf("upload of %s cancelled: %w", shown, ctx.Err())
		}
		switch {
		case errors.Is(body.err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%s: disk %q is truncated: the archive ends after %d of its %d bytes", shown, name, body.n, size)
		case body.err != nil && !errors.Is(body.err, io.EOF):
			return fmt.Errorf("%s: reading disk %q: %w", shown, name, body.err)
		case err != nil:
			return fmt.Errorf("uploading %q of %s to library item %q: %w", name, shown, spec.Name, err)
		}
		if ahead.mf != nil {
			return ahead.mf.check(name, body.hashes[0].h.Sum(nil))
		}
		if len(body.hashes) > 0 {
			sent[name] = body.sums()
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	for name := range pending {
		return fmt.Errorf("%s: disk %q named in the descriptor is not in the archive", shown, name)
	}
	if err := job.checkLate(ahead, late, sent); err != nil {
		return fmt.Errorf("%s: %w", shown, err)
	}
	return nil
}

// sourceSize is the size of a local file, or what a URL's server says (HEAD), 0 when unknown.
func (c *Client) sourceSize(ctx context.Context, source string) (int64, error) {
	if !isURL(source) {
		rc, n, err := c.open(ctx, source)
		if err != nil {
			return 0, err
		}
		_ = rc.Close()
		return n, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, source, nil)
	if err != nil {
		return 0, fmt.Errorf("invalid URL %s", Redact(source))
	}
	res, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("cannot reach %s: %w", Redact(source), err)
	}
	_ = res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return 0, notExist{fmt.Errorf("cannot download %s: HTTP %s", Redact(source), res.Status)}
	}
	if res.StatusCode != http.StatusOK {
		return 0, nil // a server that answers no HEAD: vCenter's pull says what is wrong
	}
	return max(res.ContentLength, 0), nil
}

func (c *Client) fileSize(source string) int64 {
	n, _ := c.sourceSize(context.Background(), source)
	return n
}

// libraryDatastoreRef is the datastore a library stores its items on, by its storage backing's
// ID: a name can be ambiguous (several datacenters) where the ID is not. nil for a library
// backed by a storage URI.
func libraryDatastoreRef(c *Client, lib *library.Library) *object.Datastore {
	for _, s := range lib.Storage {
		if s.DatastoreID != "" {
			return object.NewDatastore(c.vim, types.ManagedObjectReference{Type: "Datastore", Value: s.DatastoreID})
		}
	}
	return nil
}

// libraryDatastore names the datastore a library stores its items on.
func (c *Client) libraryDatastore(ctx context.Context, lib *library.Library) (string, error) {
	for _, s := range lib.Storage {
		if s.DatastoreID == "" {
			continue
		}
		var name string
		ref := types.ManagedObjectReference{Type: "Datastore", Value: s.DatastoreID}
		if err := c.objectName(ctx, ref, &name); err != nil {
			return "", err
		}
		return name, nil
	}
	return "", nil
}

// ReadLibraryItem reads an item by ID; ErrLibraryItemNotFound when it is gone.
func (c *Client) ReadLibraryItem(ctx context.Context, id string) (*LibraryItem, error) {
	rc, err := c.rest(ctx)
	if err != nil {
		return nil, err
	}
	m := library.NewManager(rc)
	it, err := m.GetLibraryItem(ctx, id)
	if err != nil {
		if rest.IsStatusError(err, http.StatusNotFound) {
			return nil, ErrLibraryItemNotFound
		}
		return nil, err
	}
	lib, err := m.GetLibraryByID(ctx, it.LibraryID)
	if err != nil {
		return nil, err
	}
	out := &LibraryItem{ID: it.ID, Name: it.Name, LibraryID: lib.ID, LibraryName: lib.Name, Type: it.Type}
	if out.Datastore, err = c.libraryDatastore(ctx, lib); err != nil {
		return nil, err
	}
	files, err := m.ListLibraryItemFiles(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		out.Files = append(out.Files, f.Name)
		if f.Size != nil {
			out.Size += *f.Size
		}
	}
	return out, nil
}

// FindLibraryItem resolves "library/item" (names or IDs) or an item ID, for terraform import.
func (c *Client) FindLibraryItem(ctx context.Context, id string) (string, error) {
	if uuidPattern.MatchString(id) {
		return id, nil
	}
	libName, itemName, ok := strings.Cut(id, "/")
	if !ok {
		return "", fmt.Errorf("%q is neither a library item ID nor library/item", id)
	}
	rc, err := c.rest(ctx)
	if err != nil {
		return "", err
	}
	m := library.NewManager(rc)
	lib, err := findLibrary(ctx, m, libName)
	if err != nil {
		return "", err
	}
	if lib == nil {
		return "", fmt.Errorf("no content library %q", libName)
	}
	ids, err := m.FindLibraryItems(ctx, library.FindItem{LibraryID: lib.ID, Name: itemName})
	if err != nil {
		return "", err
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("content library %q has %d items named %q", libName, len(ids), itemName)
	}
	return ids[0], nil
}

// DeleteLibraryItem removes an item and then its library, when this provider created the
// library and the item was its last.
func (c *Client) DeleteLibraryItem(ctx context.Context, id string) error {
	rc, err := c.rest(ctx)
	if err != nil {
		return err
	}
	m := library.NewManager(rc)
	it, err := m.GetLibraryItem(ctx, id)
	if err != nil {
		if rest.IsStatusError(err, http.StatusNotFound) {
			return nil
		}
		return err
	}
	if err := m.DeleteLibraryItem(ctx, it); err != nil {
		return err
	}
	c.descriptors.Delete(id)
	lib, err := m.GetLibraryByID(ctx, it.LibraryID)
	if err != nil || lib.Description == nil || !strings.HasPrefix(*lib.Description, libraryMarker) {
		return nil //nolint:nilerr // a library gone or made by hand is left as it is
	}
	left, err := m.ListLibraryItems(ctx, lib.ID)
	if err != nil || len(left) > 0 {
		return err
	}
	return m.DeleteLibrary(ctx, lib)
}

// DeploySpec is one VM deployed from a content library item.
type DeploySpec struct {
	Name           string
	Placement      Placement
	ItemID         string
	MarkIncomplete bool
	Preflight      Preflight
}

// DeployLibraryItem makes a VM of an OVF library item, inside vSphere (no byte from the
// runner), and returns its managed object ID. As for ImportOVA: the hosts and the datastore's
// space are checked first, a VM of the name is an *ExistsError, the descriptor's
// vmw:ExtraConfig is copied (vCenter does, vcsim does not) and a failure leaves no VM.
func (c *Client) DeployLibraryItem(ctx context.Context, spec DeploySpec) (string, error) {
	if err := c.CheckContentLibrary("library_item"); err != nil {
		return "", err
	}
	place, err := c.ResolvePlacement(ctx, spec.Placement)
	if err != nil {
		return "", err
	}
	if err := c.checkCPU(ctx, spec.Placement, place, spec.Preflight.HostCPU); err != nil {
		return "", err
	}
	if err := c.nameFree(ctx, place.Folder, spec.Name); err != nil {
		return "", err
	}
	rc, err := c.rest(ctx)
	if err != nil {
		return "", err
	}
	item, err := c.ReadLibraryItem(ctx, spec.ItemID)
	if err != nil {
		return "", err
	}
	env, err := c.itemDescriptor(ctx, rc, item)
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("the disks of library item %q", item.Name)
	if err := c.checkSpace(ctx, place.Datastore, importNeed(env, nil), spec.Preflight.ExtraBytes, what); err != nil {
		return "", err
	}
	d := vcenter.Deploy{
		DeploymentSpec: vcenter.DeploymentSpec{Name: spec.Name, AcceptAllEULA: true, DefaultDatastoreID: place.Datastore.Reference().Value},
		Target:         vcenter.Target{ResourcePoolID: place.ResourcePool.Reference().Value, FolderID: place.Folder.Reference().Value},
	}
	if place.Host != nil {
		d.HostID = place.Host.Reference().Value
	}
	if spec.MarkIncomplete {
		// vCenter writes these into the VM's configuration as it makes it, so the VM carries
		// CreateMarker from its first moment, as an import's does. vcsim ignores them: the
		// Reconfigure below sets the marker again, and a deploy cut off is watched for.
		d.AdditionalParams = []vcenter.AdditionalParams{{Class: extraConfigParamsClass, Type: vcenter.TypeExtraConfigParams,
			ExtraConfig: []vcenter.ExtraConfig{{Key: CreateMarker, Value: createMarkerIncomplete}}}}
	}
	if place.Network != nil && env.Network != nil {
		for _, n := range env.Network.Networks {
			d.NetworkMappings = append(d.NetworkMappings, vcenter.NetworkMapping{Key: n.Name, Value: place.Network.Reference().Value})
		}
	}
	tflog.Info(ctx, "deploying from the content library", map[string]any{"vm": spec.Name, "item": item.Name, "library": item.LibraryName})
	ref, err := vcenter.NewManager(rc).DeployLibraryItem(ctx, spec.ItemID, d)
	if err != nil {
		err = fmt.Errorf("deploy of %q from library item %q: %w", spec.Name, item.Name, err)
		return "", c.removeCutDeploy(ctx, place.Folder, spec.Name, err)
	}
	extra := mergeExtraConfig(nil, descriptorExtraConfig(env))
	if spec.MarkIncomplete {
		extra = append(extra, createMarkerOption())
	}
	if len(extra) > 0 {
		t, err := c.objectVM(ref.Value).Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: extra})
		if err == nil {
			_, err = c.waitTask(ctx, t)
		}
		if err != nil {
			_ = c.Destroy(context.WithoutCancel(ctx), ref.Value)
			return "", fmt.Errorf("deploy of %q: setting its extraConfig: %w", spec.Name, err)
		}
	}
	return ref.Value, nil
}

// extraConfigParamsClass is the vAPI class of vcenter.TypeExtraConfigParams.
const extraConfigParamsClass = "com.vmware.vcenter.ovf.extra_config_params"

// deployWatch bounds how long removeCutDeploy watches for the VM of a deploy whose request
// was cut off: as long as the provider's own timeouts give a deploy of a few GiB inside vSphere.
var deployWatch = 5 * time.Minute

// removeCutDeploy removes the VM a failed deploy left, and returns err. vCenter removes what a
// deploy it failed made (its answer is a *vcenter.DeploymentError), so one look is enough then,
// as ImportOVA does for vcsim. A request cut off (the apply's timeout or Ctrl-C, a lost
// connection) does not stop the deploy inside vCenter: it finishes later, on real vCenter
// without CreateMarker when it ignored the extraConfig parameters, and the next apply would
// refuse the VM as someone else's. So the name is watched, for deployWatch, and the VM that
// appears is destroyed (or, when it cannot be yet, marked for the next apply to take over).
func (c *Client) removeCutDeploy(ctx context.Context, folder *object.Folder, name string, err error) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deployWatch)
	defer cancel()
	var de *vcenter.DeploymentError
	cut := !errors.As(err, &de)
	interval := 100 * time.Millisecond
	for {
		var left *ExistsError
		if ferr := c.nameFree(wctx, folder, name); errors.As(ferr, &left) {
			if derr := c.Destroy(wctx, left.MOID); derr != nil {
				if merr := c.markIncomplete(wctx, left.MOID); merr != nil {
					return fmt.Errorf("%w; the VM %s it left could neither be destroyed (%w) nor marked %s = %q (%w): remove it in the vSphere Client", err, left.MOID, derr, CreateMarker, createMarkerIncomplete, merr)
				}
				return fmt.Errorf("%w; the VM %s it left could not be destroyed yet (%w): it is marked %s = %q and the next apply replaces it", err, left.MOID, derr, CreateMarker, createMarkerIncomplete)
			}
			tflog.Warn(ctx, "destroyed the VM of a failed deploy", map[string]any{"vm": name, "moid": left.MOID})
			return err
		}
		if !cut {
			return err
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("%w; no VM %q appeared within %s after the request was cut off: should vCenter still finish it, remove it in the vSphere Client", err, name, deployWatch)
		case <-time.After(interval):
		}
		interval = min(2*interval, 5*time.Second)
	}
}

// markIncomplete sets CreateMarker on a VM, so that the next apply takes it over.
func (c *Client) markIncomplete(ctx context.Context, moid string) error {
	t, err := c.objectVM(moid).Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{createMarkerOption()}})
	if err == nil {
		_, err = c.waitTask(ctx, t)
	}
	return err
}

// itemDescriptor reads an item's .ovf from vCenter (a few KiB, not the OVA), once per item.
func (c *Client) itemDescriptor(ctx context.Context, rc *rest.Client, item *LibraryItem) (*ovf.Envelope, error) {
	if e, ok := c.descriptors.Load(item.ID); ok {
		return e.(*ovf.Envelope), nil
	}
	var name string
	for _, f := range item.Files {
		if strings.EqualFold(path.Ext(f), ".ovf") {
			name = f
		}
	}
	if name == "" {
		return nil, &LibraryError{Field: "library_item", Err: fmt.Errorf("library item %q in %q has no OVF descriptor (files: %s): it is not an OVF template", item.Name, item.LibraryName, strings.Join(item.Files, ", "))}
	}
	m := library.NewManager(rc)
	sid, err := m.CreateLibraryItemDownloadSession(ctx, library.Session{LibraryItemID: item.ID})
	if err != nil {
		return nil, err
	}
	defer func() { _ = m.DeleteLibraryItemDownloadSession(context.WithoutCancel(ctx), sid) }()
	f, err := m.PrepareLibraryItemDownloadSessionFile(ctx, sid, name)
	for err == nil && f.Status != "PREPARED" {
		if f.Status == "ERROR" {
			return nil, fmt.Errorf("vCenter cannot prepare %s of library item %q for download", name, item.Name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond): // vCenter has no event for it: poll
		}
		f, err = m.GetLibraryItemDownloadSessionFile(ctx, sid, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the descriptor of library item %q: %w", item.Name, err)
	}
	u, err := url.Parse(f.DownloadEndpoint.URI)
	if err != nil {
		return nil, err
	}
	body, _, err := rc.Download(ctx, u, &soap.DefaultDownload)
	if err != nil {
		return nil, fmt.Errorf("reading the descriptor of library item %q: %w", item.Name, err)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, 16<<20))
	if err != nil {
		return nil, err
	}
	env, err := importer.ReadEnvelope(data)
	if err != nil {
		return nil, fmt.Errorf("library item %q: descriptor %s: %w", item.Name, name, err)
	}
	c.descriptors.Store(item.ID, env)
	return env, nil
}

// objectName reads a managed object's name.
func (c *Client) objectName(ctx context.Context, ref types.ManagedObjectReference, name *string) error {
	var o mo.ManagedEntity
	if err := property.DefaultCollector(c.vim).RetrieveOne(ctx, ref, []string{"name"}, &o); err != nil {
		return err
	}
	*name = o.Name
	return nil
}
