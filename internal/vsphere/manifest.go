package vsphere

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // SHA1 manifests exist (older ovftool); they are checked, not trusted for signatures.
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/vmware/govmomi/vapi/library"
)

// An OVF package's manifest (.mf) gives the digest of each of its files, one line each, as
// `openssl dgst` writes them: `SHA256(disk1.vmdk)= 0f3a…`. The import checks every file it
// reads against it: the descriptor before vSphere sees it, each disk as it streams to the NFC
// lease (the digest is computed on the bytes on their way, in the goroutine that sends them:
// no second read, no temporary file), compared after its last byte and before the lease is
// completed, so that a mismatch aborts the lease and vSphere discards the VM.
//
// Policy, with govc (`import.ova -m`) and ovftool as the reference:
//   - a file the import reads that the manifest does not list is refused, as govc does (the
//     manifest vouches for nothing it does not name);
//   - a file the manifest lists but the import does not read (a file of another deployment
//     option, a file vSphere did not ask for) is not checked: what is deployed is what matters;
//   - an OVA without a manifest imports, with a warning;
//   - a manifest (and certificate) after the disks, which OVF 1.x allows, is read when the
//     archive reaches it: each disk is hashed with SHA1 and SHA256 as it streams (no manifest
//     being known yet), and everything is compared with it, and its signature verified, before
//     the lease is completed. A late SHA512 manifest is refused (see lateAlgorithms);
//   - with ova_ca_file, an OVA whose manifest is not signed by a certificate that chains to it
//     is refused;
//   - digests are SHA1, SHA256 or SHA512 (the OVF spec's); any other is refused.

// manifest is an OVF package's parsed .mf.
type manifest struct {
	name string // the .mf file's name, for messages
	sums map[string]*library.Checksum
}

// parseManifest reads a manifest with govmomi's parser (the one govc uses).
func parseManifest(name string, data []byte) (*manifest, error) {
	sums, err := library.ReadManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("manifest %s has no line of the form SHA256(file)= digest", name)
	}
	m := &manifest{name: name, sums: map[string]*library.Checksum{}}
	for _, file := range sortedKeys(sums) {
		clean := path.Clean(file)
		if _, twice := m.sums[clean]; twice {
			// Which of the two digests would be compared depends on map order: refuse both.
			return nil, fmt.Errorf("manifest %q lists file %q twice (also as another spelling of the same path): the OVA was altered or badly packed: get it again from its publisher", name, clean)
		}
		m.sums[clean] = sums[file]
	}
	return m, nil
}

var digests = map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}

// hasher returns the hash to compute over file, of the algorithm its manifest entry names.
func (m *manifest) hasher(file string) (hash.Hash, error) {
	sum, ok := m.sums[path.Clean(file)]
	if !ok {
		return nil, fmt.Errorf("file %s is not listed in the manifest %s, which lists %s: a manifest must cover every file of the package; the OVA was altered or badly packed: get it again from its publisher",
			file, m.name, strings.Join(m.names(), ", "))
	}
	newHash, ok := digests[strings.ToUpper(sum.Algorithm)]
	if !ok {
		return nil, fmt.Errorf("manifest %s gives file %s a %q digest: only SHA1, SHA256 and SHA512 are known", m.name, file, sum.Algorithm)
	}
	return newHash(), nil
}

// algorithm is the name of the digest the manifest gives file, in upper case.
func (m *manifest) algorithm(file string) string {
	return strings.ToUpper(m.sums[path.Clean(file)].Algorithm)
}

// names are the files the manifest lists, sorted so that messages are the same every time.
func (m *manifest) names() []string {
	return sortedKeys(m.sums)
}

// check compares the digest computed over file with its manifest entry.
func (m *manifest) check(file string, got []byte) error {
	sum := m.sums[path.Clean(file)]
	want, err := hex.DecodeString(sum.Checksum)
	if err != nil || !bytes.Equal(want, got) {
		return &DigestError{File: file, Manifest: m.name, Algorithm: strings.ToUpper(sum.Algorithm), Want: sum.Checksum, Got: hex.EncodeToString(got)}
	}
	return nil
}

// DigestError is a file of the OVA whose digest is not the one its manifest gives.
type DigestError struct {
	File, Manifest, Algorithm string
	Want, Got                 string // hex
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("file %s does not match the manifest %s: %s expected %s (from the manifest), got %s (computed over the file as read); "+
		"the file is corrupt or was altered after the manifest was made: download the OVA again from its publisher",
		e.File, e.Manifest, e.Algorithm, e.Want, e.Got)
}

// SignatureError is a signed OVA whose signature or certificate is refused.
type SignatureError struct {
	Cert   string // the .cert file's name
	Reason string
}

func (e *SignatureError) Error() string {
	if e.Cert == "" {
		return "the OVA is refused: " + e.Reason
	}
	return fmt.Sprintf("the signature of the OVA (%s) is refused: %s", e.Cert, e.Reason)
}

// CAFileError is an ova_ca_file that cannot be used.
type CAFileError struct {
	Path string
	Err  error
}

func (e *CAFileError) Error() string {
	return fmt.Sprintf("CA file %q for the OVA's signature: %v", e.Path, e.Err)
}

func (e *CAFileError) Unwrap() error { return e.Err }

// loadRoots returns the CAs a signed OVA's certificate must chain to: those of caFile, or
// the system's (nil) when caFile is empty.
func loadRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, &CAFileError{Path: caFile, Err: err}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, &CAFileError{Path: caFile, Err: errors.New("no PEM certificate in it")}
	}
	return pool, nil
}

// certLine is the first line of an ovftool .cert: the signature of the manifest.
var certLine = regexp.MustCompile(`^\s*(SHA1|SHA256|SHA384|SHA512)\(([^)]+)\)\s*=\s*([0-9a-fA-F]+)\s*$`)

// verifySignature checks a .cert (ovftool's format: `SHA256(name.mf)= <hex signature>`, then
// the signer's certificate and any intermediates in PEM) against the manifest it signs, and
// the certificate's chain against roots (nil: the system's). It returns a warning for a
// certificate that is valid but has expired since: an OVA's signature carries no time stamp,
// and a publisher's OVA outlives its signing certificate (vCenter warns about it too).
func verifySignature(certName string, certData []byte, mfName string, mf []byte, roots *x509.CertPool) (warning string, err error) {
	refuse := func(format string, a ...any) (string, error) {
		return "", &SignatureError{Cert: certName, Reason: fmt.Sprintf(format, a...)}
	}
	first, rest, _ := bytes.Cut(certData, []byte("\n"))
	m := certLine.FindSubmatch(first)
	if m == nil {
		return refuse("its first line is not of the form SHA256(%s)= <hex signature>", mfName)
	}
	alg, signed := string(m[1]), path.Base(string(m[2]))
	if signed != mfName {
		return refuse("it signs %q, but the manifest is %s", signed, mfName)
	}
	sig, err := hex.DecodeString(string(m[3]))
	if err != nil {
		return refuse("the signature is not hex: %v", err)
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return refuse("a certificate in it cannot be parsed: %v", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return refuse("it holds no PEM certificate")
	}
	leaf := certs[0]
	sigAlg, err := signatureAlgorithm(leaf, alg)
	if err != nil {
		return refuse("%v", err)
	}
	if err := leaf.CheckSignature(sigAlg, mf, sig); err != nil {
		return refuse("the manifest %s does not match the signature made by %q (%v): the manifest was altered after it was signed", mfName, leaf.Subject.CommonName, err)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	trust := "the system's trusted CAs"
	if roots != nil {
		trust = "the CAs of ova_ca_file"
	}
	_, err = leaf.Verify(opts)
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && time.Now().After(leaf.NotAfter) {
		// Valid in its time? The signature was made then; say it, and go on.
		opts.CurrentTime = leaf.NotAfter
		if _, err2 := leaf.Verify(opts); err2 == nil {
			return fmt.Sprintf("The OVA is signed by %q (%s), whose certificate expired on %s. The signature of its manifest is good and the certificate chains to %s as of that date, so the import goes on; ask the publisher for an OVA signed with a current certificate.",
				leaf.Subject.CommonName, certName, leaf.NotAfter.UTC().Format(time.DateOnly), trust), nil
		}
	}
	if err != nil {
		hint := "give the publisher's CA in ova_ca_file if you trust it"
		if roots != nil {
			hint = "check that ova_ca_file holds the CA that issued it"
		}
		return refuse("the certificate of %q does not chain to %s (%v): %s", leaf.Subject.CommonName, trust, err, hint)
	}
	return "", nil
}

// signatureAlgorithm is the x509 algorithm of a signature made with leaf's key over the
// digest alg names. SHA1 is refused: a SHA1 signature can be forged with a collision.
func signatureAlgorithm(leaf *x509.Certificate, alg string) (x509.SignatureAlgorithm, error) {
	type key struct {
		pk  x509.PublicKeyAlgorithm
		alg string
	}
	algs := map[key]x509.SignatureAlgorithm{
		{x509.RSA, "SHA256"}: x509.SHA256WithRSA, {x509.RSA, "SHA384"}: x509.SHA384WithRSA, {x509.RSA, "SHA512"}: x509.SHA512WithRSA,
		{x509.ECDSA, "SHA256"}: x509.ECDSAWithSHA256, {x509.ECDSA, "SHA384"}: x509.ECDSAWithSHA384, {x509.ECDSA, "SHA512"}: x509.ECDSAWithSHA512,
	}
	if alg == "SHA1" {
		return 0, errors.New("it is a SHA1 signature, which can be forged: ask the publisher for an OVA signed with SHA256 (ovftool --shaAlgorithm=SHA256)")
	}
	if leaf.PublicKeyAlgorithm == x509.Ed25519 {
		return x509.PureEd25519, nil
	}
	if a, ok := algs[key{leaf.PublicKeyAlgorithm, alg}]; ok {
		return a, nil
	}
	return 0, fmt.Errorf("a %s signature with a %s key is not supported", alg, leaf.PublicKeyAlgorithm)
}

// CheckCAFile reports whether caFile can serve as ImportSpec.CAFile, for plan-time checks.
func CheckCAFile(caFile string) error {
	_, err := loadRoots(caFile)
	return err
}
