package vsphere

import (
	"archive/tar"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/ovf/importer"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/progress"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// ImportSpec describes one OVA/OVF deployment.
type ImportSpec struct {
	Name       string
	Placement  Placement
	Source     string // local .ova/.ovf path, or http(s) URL of one
	Annotation string
	// ExtraConfig is added to the VM's config.extraConfig (for example
	// guestinfo.* keys), on top of the descriptor's vmw:ExtraConfig.
	ExtraConfig map[string]string
	// MarkIncomplete puts CreateMarker into the import spec, so that the VM
	// carries it from its first moment until MarkCreated removes it.
	MarkIncomplete bool
	// CAFile is a PEM file of the CAs that a signed OVA's certificate must chain
	// to; empty: the system's trusted CAs.
	CAFile string
	// Warn, when set, hears what the user should know about an import that goes
	// on: an OVA without a manifest, a signing certificate that has expired.
	Warn func(string)
	// Preflight is checked before the OVA is read (the hosts) and before the upload (the
	// datastore's free space).
	Preflight Preflight
}

// leaseHook lets this package's tests see every lease ImportOVA creates, to
// check that none is left behind.
var leaseHook func(types.ManagedObjectReference)

// ImportOVA deploys spec.Source and returns the new VM's managed object ID.
//
// The source is read once, front to back: for an OVA (tar) the descriptor
// must be the first entry, as the OVF spec requires, and the disks are
// streamed to the NFC lease straight out of the archive as they come, with
// constant memory and no temporary files. govmomi's ovf/importer reopens the
// archive for every file, which for a URL means downloading it once per
// disk, so this is written on nfc.Lease directly (reusing the importer's
// envelope parsing). On any failure or cancellation the lease is aborted and
// the half-made VM destroyed (vcsim, unlike vCenter, keeps it after an abort).
//
// A VM of that name already in the folder is an *ExistsError. An NFC lease
// belongs to the session that created it: when the session ends during the
// import (terminated by an administrator, expired) the lease goes with it and
// the upload cannot be completed, although the client has logged in again.
// The import then starts once more from the beginning (the half-made VM
// destroyed, the OVA read again).
func (c *Client) ImportOVA(ctx context.Context, spec ImportSpec) (string, error) {
	if spec.Name == "" {
		return "", errors.New("import: VM name is empty")
	}
	place, err := c.ResolvePlacement(ctx, spec.Placement)
	if err != nil {
		return "", err
	}
	if err := c.checkCPU(ctx, spec.Placement, place, spec.Preflight.HostCPU); err != nil {
		return "", err
	}
	roots, err := loadRoots(spec.CAFile)
	if err != nil {
		return "", err
	}
	// A second attempt (below) says the same things again: say them once.
	said := map[string]bool{}
	warn := func(msg string) {
		if spec.Warn != nil && !said[msg] {
			said[msg] = true
			spec.Warn(msg)
		}
	}
	imp := &importJob{ImportSpec: spec, roots: roots, warn: warn}
	id, err := c.importOnce(ctx, imp, place)
	var lost *leaseLostError
	if errors.As(err, &lost) {
		tflog.Warn(ctx, "the vSphere session ended during the import and its NFC lease with it: the half-made VM was removed; importing again from the start, reading the OVA again",
			map[string]any{"vm": spec.Name, "source": Redact(spec.Source), "lease": lost.lease, "error": lost.err.Error()})
		// A lease lost before it named its VM leaves that VM unknown to abortImport; the
		// marker finds it.
		var half *ExistsError
		if errors.As(c.nameFree(ctx, place.Folder, spec.Name), &half) && half.Incomplete {
			if derr := c.Destroy(ctx, half.MOID); derr != nil {
				return "", fmt.Errorf("%w (removing the half-made VM %s failed: %w)", lost, half.MOID, derr)
			}
		}
		id, err = c.importOnce(ctx, imp, place)
	}
	return id, err
}

// importJob is one import's spec with what ImportOVA made of it.
type importJob struct {
	ImportSpec
	roots *x509.CertPool // nil: the system's
	warn  func(string)
}

// leaseLostError is an import whose NFC lease ended with its session.
type leaseLostError struct {
	name, lease string
	err         error
}

func (e *leaseLostError) Error() string {
	return fmt.Sprintf("import of %q: the vSphere session ended during the import, twice, and its NFC lease %s with it: %v", e.name, e.lease, e.err)
}

func (e *leaseLostError) Unwrap() error { return e.err }

// leaseLost reports whether the lease has gone with the session it belonged
// to: vSphere no longer knows it, and the client has had to log in again since
// the lease was created (gen). The read itself logs in again if the session is
// gone (sessionRoundTripper), so an upload that failed because of it is seen
// as such even when no other call has noticed yet.
func (c *Client) leaseLost(ctx context.Context, lease *nfc.Lease, gen uint64) bool {
	if ctx.Err() != nil {
		return false
	}
	var l mo.HttpNfcLease
	err := property.DefaultCollector(c.vim).RetrieveOne(ctx, lease.Reference(), []string{"state"}, &l)
	obj, missing := missingObject(err)
	return missing && obj == lease.Reference() && c.rt.generation.Load() != gen
}

func (c *Client) importOnce(ctx context.Context, spec *importJob, place *ResolvedPlacement) (string, error) {
	if err := c.nameFree(ctx, place.Folder, spec.Name); err != nil {
		return "", err
	}
	src, err := c.openSource(ctx, spec.Source)
	if err != nil {
		return "", err
	}
	defer src.Close()

	shown := Redact(spec.Source)
	descName, descriptor, err := src.descriptor()
	if err != nil {
		return "", err
	}
	// Everything that can be checked before vSphere hears of the VM is checked here: the
	// signature, and the descriptor against the manifest.
	ahead, err := spec.checkAhead(src, descName, descriptor)
	if err != nil {
		return "", fmt.Errorf("%s: %w", shown, err)
	}
	env, err := importer.ReadEnvelope(descriptor)
	if err != nil {
		return "", fmt.Errorf("%s: descriptor %s: %w", shown, descName, err)
	}
	if ahead.mf != nil && env.References != nil {
		// A file the manifest does not list is refused before vSphere hears of the VM, not
		// after the lease has made it.
		for _, f := range env.References {
			if _, err := ahead.mf.hasher(f.Href); err != nil {
				return "", fmt.Errorf("%s: %w", shown, err)
			}
		}
	}

	cisp := types.OvfCreateImportSpecParams{
		EntityName:             spec.Name,
		OvfManagerCommonParams: types.OvfManagerCommonParams{Locale: "US"},
	}
	if place.Network != nil && env.Network != nil {
		for _, n := range env.Network.Networks {
			cisp.NetworkMapping = append(cisp.NetworkMapping, types.OvfNetworkMapping{Name: n.Name, Network: place.Network.Reference()})
		}
	}
	is, err := ovf.NewManager(c.vim).CreateImportSpec(ctx, string(descriptor), place.ResourcePool, place.Datastore, &cisp)
	if err != nil {
		return "", fmt.Errorf("%s: vSphere rejected the descriptor: %w", shown, err)
	}
	if len(is.Error) > 0 {
		return "", fmt.Errorf("%s: vSphere rejected the descriptor: %w", shown, &task.Error{LocalizedMethodFault: &is.Error[0]})
	}
	if vmSpec, ok := is.ImportSpec.(*types.VirtualMachineImportSpec); ok {
		vmSpec.ConfigSpec.Annotation = spec.Annotation
		vmSpec.ConfigSpec.ExtraConfig = mergeExtraConfig(vmSpec.ConfigSpec.ExtraConfig, descriptorExtraConfig(env), spec.ExtraConfig)
		if spec.MarkIncomplete {
			vmSpec.ConfigSpec.ExtraConfig = append(vmSpec.ConfigSpec.ExtraConfig, createMarkerOption())
		}
	} else if spec.Annotation != "" || spec.MarkIncomplete {
		return "", fmt.Errorf("%s: descriptor is a vApp, not a single VM", shown)
	}

	// The datastore must have room before the upload starts: vSphere would fail the upload
	// (or the VM later, on a thin disk) when the datastore fills up.
	need := importNeed(env, is.ImportSpec)
	if err := c.checkSpace(ctx, place.Datastore, need, spec.Preflight.ExtraBytes, "the disks of "+shown); err != nil {
		return "", err
	}

	gen := c.rt.generation.Load()
	lease, err := place.ResourcePool.ImportVApp(ctx, is.ImportSpec, place.Folder, place.Host)
	if err != nil {
		return "", fmt.Errorf("import of %q: vSphere refused to create the VM: %w", spec.Name, err)
	}
	if leaseHook != nil {
		leaseHook(lease.Reference())
	}
	lostErr := func(err error) error {
		return &leaseLostError{name: spec.Name, lease: lease.Value, err: err}
	}
	var info *nfc.LeaseInfo
	err = waitAgain(ctx, "NFC lease "+lease.Value, func() (err error) {
		info, err = lease.Wait(ctx, is.FileItem)
		return err
	})
	if err != nil {
		lost := c.leaseLost(ctx, lease, gen)
		c.abortImport(ctx, lease, nil, err, lost)
		switch {
		case lost:
			return "", lostErr(err)
		case fault.Is(err, &types.FileAlreadyExists{}) || fault.Is(err, &types.DuplicateName{}):
			return "", fmt.Errorf("import of %q: a VM or VM files of that name already exist on datastore %s: %w", spec.Name, place.Datastore.Name(), err)
		case ctx.Err() != nil:
			return "", fmt.Errorf("import of %q cancelled before the upload started: %w", spec.Name, ctx.Err())
		}
		return "", fmt.Errorf("import of %q: %w", spec.Name, err)
	}
	if err := c.uploadDisks(ctx, spec, src, ahead, lease, info); err != nil {
		lost := c.leaseLost(ctx, lease, gen)
		c.abortImport(ctx, lease, info, err, lost)
		if lost {
			return "", lostErr(err)
		}
		return "", err
	}
	if err := lease.Complete(ctx); err != nil {
		lost := c.leaseLost(ctx, lease, gen)
		c.abortImport(ctx, lease, info, err, lost)
		if lost {
			return "", lostErr(err)
		}
		return "", fmt.Errorf("import of %q: completing the upload: %w", spec.Name, err)
	}
	return info.Entity.Value, nil
}

// uploadDisks streams the files vSphere asked for to the lease, each checked against the
// manifest (when there is one ahead of the disks) after its last byte, before the next; a
// manifest or certificate after the disks is read at the end and checked before this returns.
// A mismatch returns before the lease is completed, and the caller aborts it.
func (c *Client) uploadDisks(ctx context.Context, spec *importJob, src ovfSource, ahead *aheadFiles, lease *nfc.Lease, info *nfc.LeaseInfo) error {
	shown := Redact(spec.Source)
	var total int64
	pending := map[string]nfc.FileItem{}
	for _, item := range info.Items {
		total += item.Size
		pending[item.Path] = item
	}
	updater := lease.StartUpdater(ctx, info)
	defer updater.Done()
	prog := startProgress(ctx, fmt.Sprintf("uploading %s to %q", shown, spec.Name), total)
	defer prog.Finish()

	late := &lateFiles{ahead: ahead}
	// The digests of each file sent, when no manifest came ahead of the disks: one may come
	// after them.
	sent := map[string]map[string][]byte{}
	err := src.each(func(name string, size int64, r io.Reader) error {
		item, ok := pending[name]
		if !ok {
			// Anything vSphere did not ask for is skipped, unread, but a manifest or certificate
			// after the disks, which is read to be checked below.
			if err := late.read(name, r); err != nil {
				return fmt.Errorf("%s: %w", shown, err)
			}
			return nil
		}
		delete(pending, name)
		body := &entryReader{r: r, prog: prog, lease: leaseFeed{ctx: ctx, sink: item.Sink(), size: size}, closed: make(chan struct{})}
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
		err := c.upload(ctx, item, body, size)
		// net/http may go on reading the body after vSphere answered (a server may answer before
		// it has read the whole request, and net/http does not wait for the body to be sent):
		// its digest, byte count and read error are taken once net/http closed it. It always
		// does, on success and on error (http.Client.Do), and soap.Client.Upload hands it to Do
		// unless the lease's URL does not parse, which url.URL.String cannot make happen.
		select {
		case <-body.closed:
		case <-ctx.Done():
			return fmt.Errorf("import of %q cancelled after %d bytes: %w", spec.Name, prog.done.Load(), ctx.Err())
		}
		if err == nil && (body.err == nil || errors.Is(body.err, io.EOF)) {
			// Also a file that vSphere took whole but that was not read to its declared size
			// is compared: its digest cannot match, and it must not slip through.
			if ahead.mf != nil {
				if err := ahead.mf.check(name, body.hashes[0].h.Sum(nil)); err != nil {
					return fmt.Errorf("%s: %w", shown, err)
				}
			} else if len(body.hashes) > 0 {
				sent[name] = body.sums()
			}
			// The updater counts a closed sink as this file done.
			close(item.Sink())
		}
		switch {
		case (err != nil || body.err != nil) && ctx.Err() != nil:
			// Cancellation shows up on whichever side notices first (the source's read or
			// the upload); either way it is a cancellation, not a bad archive.
			return fmt.Errorf("import of %q cancelled after %d bytes: %w", spec.Name, prog.done.Load(), ctx.Err())
		case errors.Is(body.err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%s: disk %q is truncated: the archive ends after %d of its %d bytes", shown, name, body.n, size)
		case body.err != nil && !errors.Is(body.err, io.EOF):
			return fmt.Errorf("%s: reading disk %q: %w", shown, name, body.err)
		case err != nil:
			return fmt.Errorf("import of %q: uploading disk %q: %w", spec.Name, name, err)
		}
		return nil
	}, pending)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(pending) {
		return fmt.Errorf("%s: disk %q named in the descriptor is not in the archive", shown, name)
	}
	if err := spec.checkLate(ahead, late, sent); err != nil {
		return fmt.Errorf("%s: %w", shown, err)
	}
	tflog.Info(ctx, "OVA upload done", map[string]any{"vm": spec.Name, "bytes": prog.done.Load(), "mib_per_s": prog.Rate()})
	return nil
}

// upload sends one file of the appliance to its lease URL. It is
// nfc.Lease.Upload (same method, content type and headers) without the
// progress reader that Lease.Upload always puts in front of the body:
// govmomi's progress.Reader hands a report to two goroutines on every read
// (32 KiB) and keeps each report of the last second in a list to compute a
// rate. At 1 GB/s that is ~100k goroutine hand-offs a second and a list of
// ~30k reports: the import's peak RSS grew 8 MiB from 256 MiB to 4 GiB of
// disk because of it, and govc, which uses it, pays the same. Progress goes
// to vSphere through the lease updater from entryReader instead, one report
// per percent.
func (c *Client) upload(ctx context.Context, item nfc.FileItem, body io.Reader, size int64) error {
	opts := soap.Upload{ContentLength: size}
	if item.Create {
		// Non-disk files (an ISO, say) are PUT and overwrite, as in Lease.Upload.
		opts.Method = http.MethodPut
		opts.Headers = map[string]string{"Overwrite": "t"}
	} else {
		opts.Method = http.MethodPost
		opts.Type = "application/x-vnd.vmware-streamVmdk"
	}
	return c.vim.Upload(ctx, body, item.URL, &opts)
}

// entryReader counts bytes for progress and remembers the source's own read
// error, so a truncated archive is reported as such and not as an HTTP error.
type entryReader struct {
	r     io.Reader
	prog  *progressLog
	lease leaseFeed
	// hashes are computed over the bytes read, in the goroutine that sends them: the CPU it
	// costs (about 0.3 s per 256 MiB for SHA256 here) is what a hashing goroutine of its own
	// cost too (BenchmarkImportFileSHA256), and a link to vSphere slower than SHA256 (over
	// 1 GB/s on one core with SHA-NI) does not notice it. One hash when the manifest came
	// ahead of the disks; lateHashes when it may come after them.
	hashes []algHash
	n      int64
	err    error
	// closed is closed when net/http is done with the body (Close); Read and the hashes are
	// not used after that.
	closed    chan struct{}
	closeOnce sync.Once
}

// algHash is a hash with the manifest's name of its algorithm.
type algHash struct {
	alg string
	h   hash.Hash
}

func (e *entryReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	for _, h := range e.hashes {
		h.h.Write(p[:n]) // never fails
	}
	e.n += int64(n)
	e.prog.add(n)
	e.lease.at(e.n)
	if err != nil {
		e.err = err
	}
	return n, err
}

// Close is called by net/http when it no longer reads the body: the request's Body is this
// reader itself (http.NewRequest keeps an io.ReadCloser as it is), and the transport closes it
// always, on success and on error, maybe after Do returned.
func (e *entryReader) Close() error {
	e.closeOnce.Do(func() { close(e.closed) })
	return nil
}

// sums returns the digests computed, by algorithm.
func (e *entryReader) sums() map[string][]byte {
	out := map[string][]byte{}
	for _, h := range e.hashes {
		out[h.alg] = h.h.Sum(nil)
	}
	return out
}

// leaseFeed tells the lease updater (nfc.Lease.StartUpdater) how far one
// file has got: a report each time its whole percent goes up, so at most 100
// per file. The updater sends HttpNfcLeaseProgress every 2 s, which keeps
// the lease alive whatever it says; these reports make it say how far the
// upload is, so the import task in vCenter shows it.
type leaseFeed struct {
	ctx  context.Context
	sink chan<- progress.Report
	size int64
	sent int64 // the last percent reported
}

func (l *leaseFeed) at(n int64) {
	if l.size <= 0 {
		return
	}
	pct := min(100*n/l.size, 100)
	if pct <= l.sent {
		return
	}
	l.sent = pct
	select {
	case l.sink <- percentReport(pct):
	case <-l.ctx.Done():
	}
}

// percentReport is a progress.Report that carries only a percentage: all the
// lease updater reads.
type percentReport float32

func (r percentReport) Percentage() float32 { return float32(r) }
func (r percentReport) Detail() string      { return "" }
func (r percentReport) Error() error        { return nil }

// abortImport aborts the lease and destroys whatever VM it already created.
// It runs on a fresh context so a cancelled ctx still cleans up. A lost lease
// (gone with its session) cannot be aborted or waited on: only the VM is
// removed, when it is known.
func (c *Client) abortImport(ctx context.Context, lease *nfc.Lease, info *nfc.LeaseInfo, cause error, lost bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var entity *types.ManagedObjectReference
	switch {
	case info != nil:
		entity = &info.Entity
	case !lost:
		// Cancelled while the lease was initializing: vSphere goes on
		// creating the VM, so wait for it to exist and then remove it. (A VM
		// of a lost lease has no lease to wait on; it keeps its CreateMarker,
		// when asked for, and is known by it.)
		if li, err := lease.Wait(ctx, nil); err == nil {
			entity = &li.Entity
		}
	}
	if !lost {
		fault := &types.LocalizedMethodFault{Fault: &types.SystemError{Reason: cause.Error()}, LocalizedMessage: cause.Error()}
		if err := lease.Abort(ctx, fault); err != nil {
			tflog.Warn(ctx, "aborting NFC lease failed", map[string]any{"lease": lease.Value, "error": err.Error()})
		}
	}
	if entity != nil && entity.Type == "VirtualMachine" {
		if err := c.Destroy(ctx, entity.Value); err != nil {
			tflog.Warn(ctx, "removing the half-imported VM failed", map[string]any{"vm": entity.Value, "error": err.Error()})
		}
	}
}

func descriptorExtraConfig(env *ovf.Envelope) map[string]string {
	out := map[string]string{}
	if env.VirtualSystem == nil {
		return out
	}
	for _, hw := range env.VirtualSystem.VirtualHardware {
		for _, c := range hw.ExtraConfig {
			out[c.Key] = c.Value
		}
	}
	return out
}

// mergeExtraConfig adds keys not already in the import spec. vCenter copies
// the descriptor's vmw:ExtraConfig itself; vcsim does not, so doing it here
// makes both behave the same.
func mergeExtraConfig(have []types.BaseOptionValue, add ...map[string]string) []types.BaseOptionValue {
	seen := map[string]bool{}
	for _, o := range have {
		seen[o.GetOptionValue().Key] = true
	}
	for _, m := range add {
		for k, v := range m {
			if !seen[k] {
				have = append(have, &types.OptionValue{Key: k, Value: v})
				seen[k] = true
			}
		}
	}
	return have
}

// aheadFiles is what the import knows of the OVA's manifest and signature before the disks.
type aheadFiles struct {
	mf     *manifest     // nil: no manifest ahead of the disks
	mfFile *securityFile // its bytes, which a certificate after the disks signs
	cert   string        // the name of a certificate ahead of the disks, verified; "" for none
	// desc is the descriptor, checked against a manifest that comes after the disks.
	descName string
	desc     []byte
	// mayComeLate: the source is an archive, in which a manifest or certificate may follow
	// the disks (OVF 1.x allows it).
	mayComeLate bool
}

// checkAhead checks what can be checked before vSphere hears of the VM: the signature of the
// manifest, when the OVA is signed, and the descriptor against the manifest.
func (j *importJob) checkAhead(src ovfSource, descName string, desc []byte) (*aheadFiles, error) {
	a := &aheadFiles{descName: path.Base(descName), desc: desc}
	mfFile, certFile, err := src.security(descName)
	if err != nil {
		return nil, err
	}
	if t, ok := src.(*tarSource); ok && !t.whole {
		a.mayComeLate = true
	}
	if certFile == nil && !a.mayComeLate {
		// All of the OVA's manifest and certificate is known, and it is not signed.
		if err := j.unsigned(mfFile != nil); err != nil {
			return nil, err
		}
	}
	if mfFile == nil {
		if certFile != nil {
			return nil, &SignatureError{Cert: certFile.name, Reason: "the OVA has no manifest (.mf) ahead of it for it to sign"}
		}
		return a, nil // a manifest may come after the disks (checkLate)
	}
	if certFile != nil {
		if err := j.verify(certFile, mfFile); err != nil {
			return nil, err
		}
		a.cert = certFile.name
	}
	mf, err := parseManifest(mfFile.name, mfFile.data)
	if err != nil {
		return nil, err
	}
	if err := checkDescriptor(mf, a.descName, desc); err != nil {
		return nil, err
	}
	a.mf, a.mfFile = mf, mfFile
	return a, nil
}

// verify checks the signature cert makes over the manifest mf, and says a warning it gives.
func (j *importJob) verify(cert, mf *securityFile) error {
	warning, err := verifySignature(cert.name, cert.data, mf.name, mf.data, j.roots)
	if err != nil {
		return err
	}
	if warning != "" {
		j.warn(warning)
	}
	return nil
}

// checkDescriptor compares the descriptor with its manifest entry.
func checkDescriptor(mf *manifest, descName string, desc []byte) error {
	h, err := mf.hasher(descName)
	if err != nil {
		return err
	}
	h.Write(desc)
	return mf.check(descName, h.Sum(nil))
}

// lateAlgorithms are the digests computed over every disk of an archive without a manifest
// ahead of its disks, for a manifest that may come after them: SHA1, the only one OVF 1.x
// (which allows a manifest at the end) knows, and SHA256, ovftool's default. Both run over
// 1 GB/s on one core with SHA-NI; SHA512 runs at about 400 MB/s here and would slow down the
// upload of every OVA without a manifest for the rare late SHA512 one, which is refused instead.
var lateAlgorithms = []string{"SHA1", "SHA256"}

func lateHashes() []algHash {
	out := make([]algHash, 0, len(lateAlgorithms))
	for _, alg := range lateAlgorithms {
		out = append(out, algHash{alg, digests[alg]()})
	}
	return out
}

// lateFiles are a manifest and a certificate found after the disks.
type lateFiles struct {
	ahead    *aheadFiles
	mf, cert *securityFile
}

// read takes a file that vSphere did not ask for: a manifest or certificate is read (to be
// checked by checkLate), anything else is skipped.
func (l *lateFiles) read(name string, r io.Reader) error {
	var slot **securityFile
	var ahead string
	switch strings.ToLower(path.Ext(name)) {
	case ".mf":
		slot = &l.mf
		if l.ahead.mfFile != nil {
			ahead = l.ahead.mfFile.name
		}
	case ".cert":
		slot, ahead = &l.cert, l.ahead.cert
	default:
		return nil
	}
	if ahead == "" && *slot != nil {
		ahead = (*slot).name
	}
	if ahead != "" {
		return fmt.Errorf("archive has two %s files (%q and %q, after the disks): the OVA was altered or badly packed: get it again from its publisher", path.Ext(name), ahead, path.Base(name))
	}
	f, err := readSecurityFile(r, name)
	if err != nil {
		return err
	}
	*slot = f
	return nil
}

// checkLate checks, after the last disk and before the lease is completed, what came after
// the disks: the files sent (their digests in sent) and the descriptor against a manifest
// there, and a certificate there. With ova_ca_file, an OVA whose signature was not verified is
// refused: the user said a signed OVA is expected. Otherwise an OVA without a manifest is
// imported with a warning.
func (j *importJob) checkLate(a *aheadFiles, late *lateFiles, sent map[string]map[string][]byte) error {
	signed := a.cert != ""
	switch {
	case late.mf != nil:
		if late.cert != nil {
			if err := j.verify(late.cert, late.mf); err != nil {
				return err
			}
			signed = true
		}
		mf, err := parseManifest(late.mf.name, late.mf.data)
		if err != nil {
			return err
		}
		if err := checkDescriptor(mf, a.descName, a.desc); err != nil {
			return err
		}
		for _, name := range sortedKeys(sent) {
			if _, err := mf.hasher(name); err != nil {
				return err
			}
			alg := mf.algorithm(name)
			got, ok := sent[name][alg]
			if !ok {
				return fmt.Errorf("the manifest %q comes after the disks and gives file %q a %s digest: one pass over the archive computes only %s for a manifest there. "+
					"Repack the OVA with the manifest right after the descriptor (as ovftool writes it) or with %s digests",
					mf.name, name, alg, strings.Join(lateAlgorithms, " and "), strings.Join(lateAlgorithms, " or "))
			}
			if err := mf.check(name, got); err != nil {
				return err
			}
		}
	case late.cert != nil && a.mfFile != nil:
		if err := j.verify(late.cert, a.mfFile); err != nil {
			return err
		}
		signed = true
	case late.cert != nil:
		return &SignatureError{Cert: late.cert.name, Reason: "the OVA has no manifest (.mf) for it to sign"}
	}
	if !signed {
		if err := j.unsigned(a.mf != nil || late.mf != nil); err != nil {
			return err
		}
	}
	if a.mf == nil && late.mf == nil {
		j.warn(fmt.Sprintf("%s has no manifest (.mf): its files were imported without a check of their digests, so a corrupt or altered OVA would not have been noticed. "+
			"Ask its publisher for an OVA with a manifest (ovftool writes one by default).", Redact(j.Source)))
	}
	return nil
}

// unsigned refuses an unsigned OVA when ova_ca_file is set: the user said a signed one is
// expected. hasManifest says whether the OVA has a manifest.
func (j *importJob) unsigned(hasManifest bool) error {
	if j.CAFile == "" {
		return nil
	}
	what := "it has no certificate (.cert) signing its manifest"
	if !hasManifest {
		what = "it has no manifest (.mf) and no certificate (.cert)"
	}
	return &SignatureError{Reason: fmt.Sprintf("ova_ca_file = %q asks for an OVA signed by a publisher that CA vouches for, but %s. "+
		"Get the signed OVA from its publisher, or remove ova_ca_file to import an unsigned one", j.CAFile, what)}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// securityFile is an OVA's manifest or certificate, read whole (a few KiB).
type securityFile struct {
	name string
	data []byte
}

// maxSecurityFile bounds what is read of a manifest or a certificate.
const maxSecurityFile = 1 << 20

func readSecurityFile(r io.Reader, name string) (*securityFile, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSecurityFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxSecurityFile {
		return nil, fmt.Errorf("%s is larger than 1 MiB: not a manifest or certificate", name)
	}
	return &securityFile{name: path.Base(name), data: data}, nil
}

// ovfSource yields the descriptor, then each file in the order it can be
// read without going back.
type ovfSource interface {
	descriptor() (name string, data []byte, err error)
	// security returns the manifest and certificate that come before the disks (nil
	// when absent), after descriptor and before each.
	security(descName string) (mf, cert *securityFile, err error)
	// each calls fn for the files of the appliance; want lists the ones
	// vSphere asked for (a directory source opens just those).
	each(fn func(name string, size int64, r io.Reader) error, want map[string]nfc.FileItem) error
	Close() error
}

// isURL reports whether s is an http(s) URL; a URL's scheme is case-insensitive (RFC 3986
// 3.1), and url.Parse, which the plan-time check uses, takes HTTPS:// as https://.
func isURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https"))
}

// Redact is how a source appears in logs and errors: a URL (of any scheme) without its
// credentials and query (a pre-signed download URL carries its token there); a path as it is.
func Redact(source string) string {
	scheme, _, ok := strings.Cut(source, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/\\") {
		return source
	}
	u, err := url.Parse(source)
	if err != nil {
		// Its user info or query cannot be told apart: show none of it.
		return scheme + "://… (an unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "…", false
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

func (c *Client) openSource(ctx context.Context, source string) (ovfSource, error) {
	if source == "" {
		return nil, errors.New("no OVA/OVF source given")
	}
	base := source
	if isURL(source) {
		u, err := url.Parse(source)
		if err != nil {
			return nil, fmt.Errorf("invalid OVA URL %s", Redact(source))
		}
		base = u.Path
	}
	if strings.EqualFold(path.Ext(base), ".ovf") {
		d := &dirSource{c: c, ctx: ctx, source: source}
		return d, nil
	}
	rc, _, err := c.open(ctx, source)
	if err != nil {
		return nil, err
	}
	t := &tarSource{source: Redact(source), rc: rc, tr: tar.NewReader(rc)}
	if !isURL(source) {
		t.path = source
	}
	return t, nil
}

// open returns the bytes of a local file or URL, with errors in user terms.
func (c *Client) open(ctx context.Context, source string) (io.ReadCloser, int64, error) {
	if !isURL(source) {
		f, err := os.Open(source)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, notExist{fmt.Errorf("OVA/OVF file %q does not exist", source)}
		}
		if err != nil {
			return nil, 0, fmt.Errorf("cannot open %q: %w", source, err)
		}
		st, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return nil, 0, err
		}
		if st.IsDir() {
			_ = f.Close()
			return nil, 0, fmt.Errorf("%q is a directory, not an OVA/OVF file", source)
		}
		return f, st.Size(), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("invalid URL %s", Redact(source))
	}
	res, err := c.http.Do(req)
	if err != nil {
		// net/http's error repeats the whole URL: keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("cannot download %s: %w", Redact(source), err)
	}
	if res.StatusCode != http.StatusOK {
		_ = res.Body.Close()
		err := fmt.Errorf("cannot download %s: HTTP %s", Redact(source), res.Status)
		if res.StatusCode == http.StatusNotFound {
			err = notExist{err}
		}
		return nil, 0, err
	}
	return res.Body, res.ContentLength, nil
}

// notExist is a file or URL that is not there (fs.ErrNotExist), so that an optional one
// (a manifest beside a descriptor) can be told from one that failed to be read.
type notExist struct{ error }

func (notExist) Is(target error) bool { return target == fs.ErrNotExist }

type tarSource struct {
	source string
	path   string // a local file's, which can be looked ahead in; "" for a URL
	rc     io.ReadCloser
	tr     *tar.Reader
	next   *tar.Header // read by security, not yet given to each
	// whole: security has seen every entry of the archive (a local file), so a manifest or
	// certificate after the disks was read already and each skips it.
	whole bool
}

func (t *tarSource) descriptor() (string, []byte, error) {
	h, err := t.tr.Next()
	if errors.Is(err, io.EOF) {
		return "", nil, fmt.Errorf("%s: archive is empty: no .ovf descriptor", t.source)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s: not a valid OVA (tar) archive: %w", t.source, err)
	}
	if !strings.EqualFold(path.Ext(h.Name), ".ovf") {
		return "", nil, fmt.Errorf("%s: archive has no .ovf descriptor as its first entry (found %q); an OVA must start with its descriptor", t.source, h.Name)
	}
	const maxDescriptor = 16 << 20
	data, err := io.ReadAll(io.LimitReader(t.tr, maxDescriptor+1))
	if err != nil {
		return "", nil, fmt.Errorf("%s: reading descriptor %s: %w", t.source, h.Name, err)
	}
	if len(data) > maxDescriptor {
		return "", nil, fmt.Errorf("%s: descriptor %s is larger than 16 MiB", t.source, h.Name)
	}
	return h.Name, data, nil
}

// security reads the entries after the descriptor while they are a manifest or a
// certificate, as the OVF spec (and ovftool) place them. In a local file without a manifest or
// certificate there, it looks for them after the disks (OVF 1.x allows it), which is cheap: a second reader of the file
// seeks over the disks' bytes (tar.Reader seeks when it can) and reads the headers only. A URL
// cannot be looked ahead in: the import then hashes the disks for a manifest that may come.
func (t *tarSource) security(string) (mf, cert *securityFile, err error) {
	mf, cert, err = securityEntries(t.tr, func(h *tar.Header) bool { t.next = h; return true })
	if err != nil || (mf != nil && cert != nil) || t.path == "" {
		return mf, cert, err
	}
	f, err := os.Open(t.path)
	if err != nil {
		return mf, cert, nil //nolint:nilerr // as for a URL: the disks are hashed for a manifest that may come
	}
	defer f.Close()
	tr := tar.NewReader(f)
	if _, err := tr.Next(); err != nil { // the descriptor, read already
		return nil, nil, fmt.Errorf("reading archive: %w", err)
	}
	lateMF, lateCert, err := securityEntries(tr, func(*tar.Header) bool { return false })
	if err != nil {
		// A damaged archive: the pass that streams the disks says what is wrong with it, and
		// checks whatever manifest it reaches.
		return mf, cert, nil //nolint:nilerr // reported by each
	}
	t.whole = true
	return lateMF, lateCert, nil
}

// securityEntries reads the manifest and certificate among tr's next entries, until other
// returns true for an entry that is neither (it is given that entry's header) or the end.
func securityEntries(tr *tar.Reader, other func(*tar.Header) bool) (mf, cert *securityFile, err error) {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return mf, cert, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading archive: %w", err)
		}
		var slot **securityFile
		switch strings.ToLower(path.Ext(h.Name)) {
		case ".mf":
			slot = &mf
		case ".cert":
			slot = &cert
		default:
			if other(h) {
				return mf, cert, nil
			}
			continue
		}
		if *slot != nil {
			return nil, nil, fmt.Errorf("archive has two %s files (%q and %q): the OVA was altered or badly packed: get it again from its publisher", path.Ext(h.Name), (*slot).name, path.Base(h.Name))
		}
		if *slot, err = readSecurityFile(tr, h.Name); err != nil {
			return nil, nil, err
		}
	}
}

func (t *tarSource) each(fn func(string, int64, io.Reader) error, want map[string]nfc.FileItem) error {
	// Read to the end even after the last wanted disk: the trailer is a few
	// KiB and a web server sees the whole archive served exactly once.
	for {
		h, err := t.next, error(nil)
		if h != nil {
			t.next = nil
		} else {
			h, err = t.tr.Next()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: reading archive: %w", t.source, err)
		}
		if ext := strings.ToLower(path.Ext(h.Name)); t.whole && (ext == ".mf" || ext == ".cert") {
			continue // read and checked ahead
		}
		if err := fn(path.Base(h.Name), h.Size, t.tr); err != nil {
			return err
		}
	}
}

func (t *tarSource) Close() error { return t.rc.Close() }

// dirSource is a .ovf with its files beside it (directory or URL prefix).
type dirSource struct {
	c      *Client
	ctx    context.Context
	source string
}

// sibling is the file name beside the descriptor. Beside a URL it keeps the descriptor's
// query, which is how a pre-signed or token-protected download authorizes each file.
func (d *dirSource) sibling(name string) string {
	if isURL(d.source) {
		u, _ := url.Parse(d.source)
		ref, err := url.Parse(name)
		if err != nil {
			return d.source + "/../" + name
		}
		sib := u.ResolveReference(ref)
		if sib.RawQuery == "" {
			sib.RawQuery = u.RawQuery
		}
		return sib.String()
	}
	return filepath.Join(filepath.Dir(d.source), filepath.FromSlash(name))
}

func (d *dirSource) descriptor() (string, []byte, error) {
	rc, _, err := d.c.open(d.ctx, d.source)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	name := path.Base(d.source)
	if isURL(d.source) {
		// The name, not the query (a token) that follows it.
		u, _ := url.Parse(d.source)
		name = path.Base(u.Path)
	}
	return name, data, err
}

// security opens the manifest and certificate beside the descriptor (name.mf, name.cert), as
// ovftool writes them; either may be absent.
func (d *dirSource) security(descName string) (mf, cert *securityFile, err error) {
	base := strings.TrimSuffix(path.Base(descName), path.Ext(descName))
	read := func(name string) (*securityFile, error) {
		rc, _, err := d.c.open(d.ctx, d.sibling(name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return readSecurityFile(rc, name)
	}
	if mf, err = read(base + ".mf"); err != nil {
		return nil, nil, err
	}
	cert, err = read(base + ".cert")
	return mf, cert, err
}

func (d *dirSource) each(fn func(string, int64, io.Reader) error, want map[string]nfc.FileItem) error {
	for name := range want {
		rc, size, err := d.c.open(d.ctx, d.sibling(name))
		if err != nil {
			return fmt.Errorf("%s: file %q named in the descriptor: %w", Redact(d.source), name, err)
		}
		if size < 0 {
			size = want[name].Size
		}
		err = fn(name, size, rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *dirSource) Close() error { return nil }

// objectVM is a small helper for the VM object of a moid.
func (c *Client) objectVM(moid string) *object.VirtualMachine {
	return object.NewVirtualMachine(c.vim, types.ManagedObjectReference{Type: "VirtualMachine", Value: moid})
}
