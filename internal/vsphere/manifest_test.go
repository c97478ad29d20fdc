package vsphere

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

	cases := []struct {
		name   string
		o      ovatest.Options
		url    bool   // import from an http URL instead of the file
		caFile string // ImportSpec.CAFile
		fault  string // a method of vcsim made to fail
		// wantErr is the error a refused import returns (every part); "" for an import that succeeds.
		wantErr []string
		// noLease: refused before vSphere heard of the VM.
		noLease  bool
		wantWarn string // a warning the import gives ("" for none)
	}{
		{name: "SHA256 manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256" })},
		{name: "SHA1 manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA1" })},
		{name: "SHA512 manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA512" })},
		// A file the manifest lists but the import does not read is not checked (as govc).
		{name: "manifest lists a file not in the OVA", o: with(func(o *ovatest.Options) {
			o.Manifest = "SHA256"
			o.ExtraManifest = "SHA256(hipchat-2.iso)= 0000000000000000000000000000000000000000000000000000000000000000\n"
		})},
		{name: "no manifest", o: base, wantWarn: "has no manifest (.mf): its files were imported without a check of their digests"},
		{name: "manifest after the disk", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.ManifestAtEnd = true }),
			wantWarn: "its manifest (hipchat.mf) comes after its disks"},
		{name: "bad disk digest", o: badDisk,
			// Completing the lease fails: the digest must be compared before it is tried.
			fault: "HttpNfcLeaseComplete",
			wantErr: []string{"file disk1.vmdk does not match the manifest hipchat.mf: SHA256 expected " + otherDigest(ovatest.DiskFileName) +
				" (from the manifest), got " + digest(base, "SHA256", ovatest.DiskFileName) + " (computed over the file as read)"}},
		{name: "bad disk digest from a URL", o: badDisk, url: true,
			wantErr: []string{srv.URL + "/a.ova: file disk1.vmdk does not match the manifest hipchat.mf: SHA256 expected " + otherDigest(ovatest.DiskFileName)}},
		{name: "bad SHA512 disk digest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA512"; o.WrongDigest = ovatest.DiskFileName }),
			wantErr: []string{"file disk1.vmdk does not match the manifest hipchat.mf: SHA512 expected ", "got " + digest(base, "SHA512", ovatest.DiskFileName)}},
		{name: "bad descriptor digest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.WrongDigest = desc }), noLease: true,
			wantErr: []string{"file hipchat.ovf does not match the manifest hipchat.mf: SHA256 expected " + otherDigest(desc) +
				" (from the manifest), got " + digest(base, "SHA256", desc)}},
		{name: "disk not in the manifest", o: with(func(o *ovatest.Options) { o.Manifest = "SHA256"; o.UnlistedDisk = true }),
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
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer vcsim.Service.ClearFaultRules()
			src := writeOVA(t, tc.o)
			if tc.url {
				src = srv.URL + "/a.ova"
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
