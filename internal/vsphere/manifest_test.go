package vsphere

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

// The import checks every file it reads against the OVA's manifest, and a signed OVA's
// signature, with OVAs built here. Each refused import leaves no VM and no lease in vCenter.
func TestImportManifest(t *testing.T) {
	c := connect(t)
	ca, err := ovatest.NewCA("Test Publisher CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA, err := ovatest.NewCA("Someone Else CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCAFile := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(otherCAFile, otherCA.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ca.Signer("Test Publisher", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ca.Signer("Old Publisher", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	base := ovatest.Options{Name: "hipchat", DataBytes: 2 << 20, Seed: 7}
	with := func(f func(o *ovatest.Options)) ovatest.Options {
		o := base
		f(&o)
		return o
	}
	otherDigest := func(file string) string {
		sum := sha256.Sum256([]byte("other bytes than " + file))
		return hex.EncodeToString(sum[:])
	}
	digest := func(o ovatest.Options, alg, file string) string {
		d, err := ovatest.Digest(o, alg, file)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	desc := ovatest.DescriptorFileName(base)
	badDisk := with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.WrongDigest = ovatest.DiskFileName })
	badDiskOVA := writeOVA(t, badDisk)
	srv := serveDir(t, filepath.Dir(badDiskOVA))

	type importCase struct {
		name   string
		o      ovatest.Options
		url    string // import from this URL of the bad-disk OVA instead of the file
		viaURL bool   // import the case's OVA from an http URL
		caFile string // ImportSpec.CAFile
		fault  string // a method of vcsim made to fail
		// wantErr is the error a refused import returns (every part); "" for an import that succeeds.
		wantErr []string
		// noLease: refused before vSphere heard of the VM.
		noLease  bool
		wantWarn string // a warning the import gives ("" for none)
	}
	cases := []importCase{
		{name: "SHA256 manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256" })},
		{name: "SHA1 manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA1" })},
		{name: "SHA512 manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA512" })},
		// A file the manifest lists but the import does not read is not checked (as govc).
		{name: "manifest lists a file not in the OVA", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.ExtraManifest = "SHA256(hipchat-2.iso)= 0000000000000000000000000000000000000000000000000000000000000000\n"
		})},
		{name: "no manifest", o: base, wantWarn: "has no manifest (.mf): its files were imported without a check of their digests"},
		// A manifest after the disks (OVF 1.x) is checked all the same, before the lease is
		// completed: the disk was hashed with SHA1 and SHA256 as it streamed.
		{name: "manifest after the disk", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.ManifestAtEnd = true })},
		{name: "SHA1 manifest after the disk", o: with(func(o *ovatest.Options) { o.Manifest = "SHA1"; o.ManifestAtEnd = true })},
		// ova_ca_file says a signed OVA is expected: an unsigned one is refused.
		{name: "no manifest, CA given", o: base, caFile: caFile, noLease: true,
			wantErr: []string{"the OVA is refused: ova_ca_file = " + fmt.Sprintf("%q", caFile) + " asks for an OVA signed by a publisher that CA vouches for, but it has no manifest (.mf) and no certificate (.cert)"}},
		{name: "manifest without certificate, CA given", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256" }), caFile: caFile, noLease: true,
			wantErr: []string{"asks for an OVA signed by a publisher that CA vouches for, but it has no certificate (.cert) signing its manifest", "remove ova_ca_file"}},
		// From a URL, what follows the disks is known only once they were sent: the refusal
		// comes before the lease is completed.
		{name: "no manifest, CA given, from a URL", o: base, caFile: caFile, viaURL: true, fault: "HttpNfcLeaseComplete",
			wantErr: []string{"asks for an OVA signed by a publisher that CA vouches for, but it has no manifest (.mf) and no certificate (.cert)"}},
		{name: "manifest without certificate, CA given, from a URL", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256" }), caFile: caFile,
			viaURL: true, fault: "HttpNfcLeaseComplete",
			wantErr: []string{"asks for an OVA signed by a publisher that CA vouches for, but it has no certificate (.cert) signing its manifest"}},
		// The scheme of a URL is case-insensitive (RFC 3986): HTTP:// is a URL, not a path.
		{name: "bad disk digest from an upper-case URL", o: badDisk, url: strings.Replace(srv.URL, "http://", "HTTP://", 1) + "/a.ova",
			wantErr: []string{srv.URL + "/a.ova: file disk1.vmdk does not match the manifest hipchat.mf"}},
		{name: "manifest lists the disk twice", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.ExtraManifest = "SHA256(./disk1.vmdk)= " + otherDigest(ovatest.DiskFileName) + "\n"
		}), noLease: true, wantErr: []string{`manifest "hipchat.mf" lists file "disk1.vmdk" twice`}},
		{name: "bad disk digest", o: badDisk,
			// Completing the lease fails: the digest must be compared before it is tried.
			fault: "HttpNfcLeaseComplete",
			wantErr: []string{"file disk1.vmdk does not match the manifest hipchat.mf: SHA256 expected " + otherDigest(ovatest.DiskFileName) +
				" (from the manifest), got " + digest(base, "SHA256", ovatest.DiskFileName) + " (computed over the file as read)"}},
		{name: "bad disk digest from a URL", o: badDisk, url: srv.URL + "/a.ova",
			wantErr: []string{srv.URL + "/a.ova: file disk1.vmdk does not match the manifest hipchat.mf: SHA256 expected " + otherDigest(ovatest.DiskFileName)}},
		{name: "bad SHA512 disk digest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA512"; o.WrongDigest = ovatest.DiskFileName }),
			wantErr: []string{"file disk1.vmdk does not match the manifest hipchat.mf: SHA512 expected ", "got " + digest(base, "SHA512", ovatest.DiskFileName)}},
		{name: "bad descriptor digest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.WrongDigest = desc }), noLease: true,
			wantErr: []string{"file hipchat.ovf does not match the manifest hipchat.mf: SHA256 expected " + otherDigest(desc) +
				" (from the manifest), got " + digest(base, "SHA256", desc)}},
		{name: "disk not in the manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.UnlistedDisk = true }), noLease: true,
			wantErr: []string{"file disk1.vmdk is not listed in the manifest hipchat.mf, which lists hipchat.ovf"}},
		{name: "signed, CA given", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.Signer = signer }), caFile: caFile},
		{name: "signed, CA given, bad disk digest", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.Signer = signer
			o.WrongDigest = ovatest.DiskFileName
		}), caFile: caFile, wantErr: []string{"file disk1.vmdk does not match the manifest hipchat.mf"}},
		{name: "signed and tampered", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.Signer = signer; o.TamperManifest = true }),
			caFile: caFile, noLease: true,
			wantErr: []string{`the signature of the OVA (hipchat.cert) is refused: the manifest hipchat.mf does not match the signature made by "Test Publisher"`}},
		{name: "signed by a CA not trusted by the system", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.Signer = signer }),
			noLease: true,
			wantErr: []string{`the signature of the OVA (hipchat.cert) is refused: the certificate of "Test Publisher" does not chain to the system's trusted CAs`, "give the publisher's CA in ova_ca_file"}},
		{name: "signed by a CA other than the one given", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.Signer = signer }),
			caFile: otherCAFile, noLease: true,
			wantErr: []string{`the certificate of "Test Publisher" does not chain to the CAs of ova_ca_file`}},
		{name: "signed with an expired certificate", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.Signer = expired }),
			caFile: caFile, wantWarn: fmt.Sprintf(`signed by "Old Publisher" (hipchat.cert), whose certificate expired on %s`, time.Now().Add(-24*time.Hour).UTC().Format(time.DateOnly))},
	}
	// A manifest or certificate after the disks is read ahead in a local file (seeking over the
	// disks), and so refused before vSphere hears of the VM; from a URL it is reached after
	// the disks and checked before the lease is completed.
	lateCases := []struct {
		name    string
		o       ovatest.Options
		caFile  string
		wantErr []string
		fileErr []string // the error from a file, when not wantErr
		fileOK  bool     // a file imports (its manifest read ahead)
		// diskErr: the error is a disk's digest, found as it streams, after the lease was made.
		diskErr bool
	}{
		{name: "manifest after the disk, bad disk digest", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.ManifestAtEnd = true
			o.WrongDigest = ovatest.DiskFileName
		}),
			wantErr: []string{"file disk1.vmdk does not match the manifest hipchat.mf: SHA256 expected " + otherDigest(ovatest.DiskFileName) +
				" (from the manifest), got " + digest(base, "SHA256", ovatest.DiskFileName)}, diskErr: true},
		{name: "manifest after the disk, bad descriptor digest", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA1"
			o.ManifestAtEnd = true
			o.WrongDigest = desc
		}),
			wantErr: []string{"file hipchat.ovf does not match the manifest hipchat.mf: SHA1 expected "}},
		{name: "SHA512 manifest after the disk", o: with(func(o *ovatest.Options) { o.Manifest = "SHA512"; o.ManifestAtEnd = true }),
			// A file's is read ahead, whatever its algorithm.
			wantErr: []string{`the manifest "hipchat.mf" comes after the disks and gives file "disk1.vmdk" a SHA512 digest`, "Repack the OVA with the manifest right after the descriptor"}, fileOK: true},
		{name: "signed, manifest and certificate after the disk", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.Signer = signer
			o.ManifestAtEnd = true
		}), caFile: caFile},
		{name: "signed and tampered, manifest and certificate after the disk", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.Signer = signer
			o.ManifestAtEnd = true
			o.TamperManifest = true
		}), caFile: caFile,
			wantErr: []string{`the signature of the OVA (hipchat.cert) is refused: the manifest hipchat.mf does not match the signature made by "Test Publisher"`}},
		{name: "signed, certificate after the disk", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.Signer = signer; o.CertAtEnd = true }),
			caFile: caFile},
		{name: "signed and tampered, certificate after the disk", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.Signer = signer
			o.CertAtEnd = true
			o.TamperManifest = true
		}), caFile: caFile,
			// From a URL, the tampered line (the disk's) is refused as the disk streams, before the
			// signature at the end is reached; a file's signature is verified ahead.
			wantErr: []string{"file disk1.vmdk does not match the manifest hipchat.mf"},
			fileErr: []string{`the signature of the OVA (hipchat.cert) is refused: the manifest hipchat.mf does not match the signature made by "Test Publisher"`}},
		{name: "signed by a CA other than the one given, certificate after the disk", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.Signer = signer
			o.CertAtEnd = true
		}), caFile: otherCAFile,
			wantErr: []string{`the certificate of "Test Publisher" does not chain to the CAs of ova_ca_file`}},
	}
	for _, lc := range lateCases {
		fileErr := lc.wantErr
		if lc.fileErr != nil {
			fileErr = lc.fileErr
		}
		if lc.fileOK {
			fileErr = nil
		}
		// Completing the lease fails: what is checked after it was made must be checked before.
		fault := func(wantErr []string, afterLease bool) string {
			if wantErr != nil && afterLease {
				return "HttpNfcLeaseComplete"
			}
			return ""
		}
		// From a file, refused before vSphere hears of the VM (no lease), but for a disk's digest.
		fileAfterLease := lc.diskErr && lc.fileErr == nil
		cases = append(cases, importCase{name: lc.name, o: lc.o, caFile: lc.caFile, wantErr: fileErr,
			noLease: fileErr != nil && !fileAfterLease, fault: fault(fileErr, fileAfterLease)})
		cases = append(cases, importCase{name: lc.name + " from a URL", o: lc.o, caFile: lc.caFile, wantErr: lc.wantErr,
			viaURL: true, fault: fault(lc.wantErr, true)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer vcsim.Service.ClearFaultRules()
			src := writeOVA(t, tc.o)
			if tc.url != "" {
				src = tc.url
			}
			if tc.viaURL {
				src = serveDir(t, filepath.Dir(src)).URL + "/a.ova"
			}
			if tc.fault != "" {
				injectFault(tc.fault)(context.Background(), nil)
			}
			var mu sync.Mutex
			var warnings []string
			name := "mf-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			drainLeases()
			id, err := c.ImportOVA(context.Background(), ImportSpec{Name: name, Source: src, CAFile: tc.caFile, Placement: Placement{Cluster: "DC0_C0"},
				Warn: func(w string) { mu.Lock(); defer mu.Unlock(); warnings = append(warnings, w) }})
			leases := drainLeases()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("import refused: %v", err)
				}
				if derr := c.Destroy(context.Background(), id); derr != nil {
					t.Errorf("Destroy: %v", derr)
				}
			} else {
				if err == nil {
					_ = c.Destroy(context.Background(), id)
					t.Fatal("import succeeded")
				}
				t.Logf("error: %v", err)
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error does not contain %q", want)
					}
				}
				if tc.noLease && len(leases) > 0 {
					t.Errorf("vSphere was asked for %d leases before the import was refused", len(leases))
				}
				if !tc.noLease && len(leases) != 1 {
					t.Errorf("%d leases, want the one the upload was refused in", len(leases))
				}
				assertNothingLeft(t, c, name, leases)
			}
			switch {
			case tc.wantWarn == "" && len(warnings) > 0:
				t.Errorf("warnings %q, want none", warnings)
			case tc.wantWarn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tc.wantWarn)):
				t.Errorf("warnings %q, want one with %q", warnings, tc.wantWarn)
			}
		})
	}
}

// An OVF with its files beside it: the manifest beside the descriptor is checked too.
func TestImportManifestBesideOVF(t *testing.T) {
	c := connect(t)
	o := ovatest.Options{Name: "hipchat", DataBytes: 1 << 20, Manifest: "SHA256", WrongDigest: ovatest.DiskFileName}
	dir := t.TempDir()
	if err := ovatest.Extract(writeOVA(t, o), dir); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{filepath.Join(dir, "hipchat.ovf"), serveDir(t, dir).URL + "/hipchat.ovf"} {
		drainLeases()
		id, err := c.ImportOVA(context.Background(), ImportSpec{Name: "mf-ovf", Source: src, Placement: Placement{Cluster: "DC0_C0"}})
		if err == nil {
			_ = c.Destroy(context.Background(), id)
			t.Fatalf("%s: import succeeded", src)
		}
		if !strings.Contains(err.Error(), "file disk1.vmdk does not match the manifest hipchat.mf") {
			t.Errorf("%s: error %v", src, err)
		}
		assertNothingLeft(t, c, "mf-ovf", drainLeases())
	}
}

// An .ovf URL with a query (a token, a pre-signed download): the descriptor is named by the
// URL's path, its manifest and disk are fetched with the same query, and no message shows it.
func TestImportOVFURLWithQuery(t *testing.T) {
	c := connect(t)
	const token = "SECRET-TOKEN"
	serve := func(o ovatest.Options, remove string) string {
		dir := t.TempDir()
		if err := ovatest.Extract(writeOVA(t, o), dir); err != nil {
			t.Fatal(err)
		}
		if remove != "" {
			if err := os.Remove(filepath.Join(dir, remove)); err != nil {
				t.Fatal(err)
			}
		}
		files := http.FileServer(http.Dir(dir))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// As a token-protected download: every file needs the token.
			if r.URL.Query().Get("token") != token {
				http.Error(w, "no token", http.StatusForbidden)
				return
			}
			files.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/hipchat.ovf?token=" + token
	}
	o := ovatest.Options{Name: "hipchat", DataBytes: 1 << 20, Manifest: "SHA256"}
	bad := o
	bad.WrongDigest = ovatest.DiskFileName
	for _, tc := range []struct {
		name, src string
		wantErr   string // "" for an import that succeeds
	}{
		{"good", serve(o, ""), ""},
		{"bad disk digest", serve(bad, ""), "file disk1.vmdk does not match the manifest hipchat.mf"},
		{"disk missing", serve(o, ovatest.DiskFileName), `/hipchat.ovf?…: file "disk1.vmdk" named in the descriptor: cannot download`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drainLeases()
			id, err := c.ImportOVA(context.Background(), ImportSpec{Name: "mf-ovf-query", Source: tc.src, Placement: Placement{Cluster: "DC0_C0"}})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("import refused: %v", err)
				}
				if err := c.Destroy(context.Background(), id); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil {
				_ = c.Destroy(context.Background(), id)
				t.Fatal("import succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), token) {
				t.Errorf("error %q: want %q, without the token", err, tc.wantErr)
			}
			assertNothingLeft(t, c, "mf-ovf-query", drainLeases())
		})
	}
}

// earlyAnswer is vSphere answering a disk's upload before it has read the whole body: it reads
// half the body, answers 200 OK and then, when rest is set, reads the other half after the
// answer, as net/http's transport may still be sending the body after Do returned (when not,
// it closes the body unread).
type earlyAnswer struct {
	next http.RoundTripper
	rest bool
}

func (e earlyAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.Contains(req.URL.Path, "/nfc/") {
		return e.next.RoundTrip(req)
	}
	if _, err := io.CopyN(io.Discard, req.Body, req.ContentLength/2); err != nil {
		return nil, err
	}
	finish := func() {
		if e.rest {
			_, _ = io.Copy(io.Discard, req.Body)
		}
		_ = req.Body.Close()
	}
	if e.rest {
		go finish()
	} else {
		finish()
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: http.NoBody, Request: req, Header: http.Header{}}, nil
}

// A disk's digest is the digest of every byte sent, whenever vSphere answers: a disk that
// vSphere took after half its bytes is refused (its digest cannot match the manifest's), and
// one whose last bytes net/http sends after vSphere answered is compared once they are sent.
func TestImportDigestOfWhatWasSent(t *testing.T) {
	o := ovatest.Options{Name: "hipchat", DataBytes: 2 << 20, Seed: 3, Manifest: "SHA256"}
	src := writeOVA(t, o)
	for _, tc := range []struct {
		name    string
		rest    bool
		wantErr string
	}{
		{"answer after half the disk", false, "file disk1.vmdk does not match the manifest hipchat.mf: SHA256 expected " + mustDigest(t, o)},
		{"answer before the last bytes are sent", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t)
			c.vim.Transport = earlyAnswer{next: c.vim.Transport, rest: tc.rest}
			drainLeases()
			id, err := c.ImportOVA(context.Background(), ImportSpec{Name: "mf-early-answer", Source: src, Placement: Placement{Cluster: "DC0_C0"}})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("import refused: %v", err)
				}
				if err := c.Destroy(context.Background(), id); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil {
				_ = c.Destroy(context.Background(), id)
				t.Fatal("import succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q: want %q", err, tc.wantErr)
			}
			assertNothingLeft(t, c, "mf-early-answer", drainLeases())
		})
	}
}

func mustDigest(t *testing.T, o ovatest.Options) string {
	d, err := ovatest.Digest(o, o.Manifest, ovatest.DiskFileName)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
