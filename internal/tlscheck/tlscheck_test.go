package tlscheck_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

// must stops a test whose set-up failed (generating keys and certificates does not fail).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// want is one expected finding: its input and a piece of its text.
type want struct {
	field tlscheck.Field
	text  string
}

func TestCheck(t *testing.T) {
	now := time.Now()
	ca := must(tlstest.NewCA("Test Root"))
	inter := must(ca.Intermediate("Test Intermediate"))
	// Leaves come with their intermediate, as a public CA issues them; leaves issued directly
	// by the root are the cases about the issuer missing from the chain.
	issue := func(o tlstest.Options) *tlstest.Leaf { return must(inter.Issue(o)) }
	day := 24 * time.Hour

	good := issue(tlstest.Options{DNSNames: []string{"chat.example.com"}})
	rsaLeaf := issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, Key: tlstest.RSA})
	other := issue(tlstest.Options{DNSNames: []string{"other.example.com"}})
	wildcard := issue(tlstest.Options{DNSNames: []string{"*.example.com"}})
	expired := issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, NotBefore: now.Add(-400 * day), NotAfter: now.Add(-day)})
	future := issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, NotBefore: now.Add(day), NotAfter: now.Add(400 * day)})
	soon := issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, NotAfter: now.Add(10 * day)})
	viaInter := must(inter.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, Key: tlstest.RSA}))
	fromRoot := must(ca.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}}))
	rsa1024 := issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, Key: tlstest.RSA1024})
	sha1 := issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, SignatureAlgorithm: x509.ECDSAWithSHA1})
	weakInter := must(ca.IntermediateWithKey("Weak Intermediate", tlstest.RSA1024))
	viaWeakInter := must(weakInter.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}}))

	// The same keys in the forms `openssl genrsa` (PKCS#1) and `openssl ecparam -genkey` (SEC 1)
	// write.
	rsaKey := must(x509.ParsePKCS8PrivateKey(pemBytes(t, rsaLeaf.KeyPEM))).(*rsa.PrivateKey)
	rsaPKCS1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	ecKey := must(x509.ParsePKCS8PrivateKey(pemBytes(t, good.KeyPEM))).(*ecdsa.PrivateKey)
	ecSEC1 := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(ecKey))}))
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"

	cases := []struct {
		name           string
		in             tlscheck.Input
		errs, warnings []want
	}{
		{name: "ECDSA leaf covering the name", in: tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: good.KeyPEM, PublicHostname: "chat.example.com"}},
		{name: "RSA leaf", in: tlscheck.Input{CertificatePEM: rsaLeaf.ChainPEM, PrivateKeyPEM: rsaLeaf.KeyPEM, PublicHostname: "chat.example.com"}},
		{name: "RSA key in PKCS#1", in: tlscheck.Input{CertificatePEM: rsaLeaf.ChainPEM, PrivateKeyPEM: rsaPKCS1}},
		{name: "EC key in SEC 1", in: tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: ecSEC1}},
		{
			name: "encrypted key",
			in:   tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: encrypted},
			errs: []want{{tlscheck.PrivateKey, "the private key is encrypted"}},
		},
		{name: "name with a trailing dot", in: tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: good.KeyPEM, PublicHostname: "chat.example.com."}},
		{name: "chain with intermediate", in: tlscheck.Input{CertificatePEM: viaInter.ChainPEM, PrivateKeyPEM: viaInter.KeyPEM, PublicHostname: "chat.example.com"}},
		{name: "wildcard covers one label", in: tlscheck.Input{CertificatePEM: wildcard.ChainPEM, PrivateKeyPEM: wildcard.KeyPEM, PublicHostname: "chat.example.com"}},
		{
			name: "wildcard does not cover two labels",
			in:   tlscheck.Input{CertificatePEM: wildcard.ChainPEM, PrivateKeyPEM: wildcard.KeyPEM, PublicHostname: "a.chat.example.com"},
			errs: []want{{tlscheck.PublicHostname, `"a.chat.example.com" is not among the certificate's names [*.example.com]`}},
		},
		{
			name: "wildcard does not cover the bare domain",
			in:   tlscheck.Input{CertificatePEM: wildcard.ChainPEM, PublicHostname: "example.com"},
			errs: []want{{tlscheck.PublicHostname, `"example.com" is not among`}},
		},
		{
			name: "other name",
			in:   tlscheck.Input{CertificatePEM: other.ChainPEM, PrivateKeyPEM: other.KeyPEM, PublicHostname: "chat.example.com"},
			errs: []want{{tlscheck.PublicHostname, "[other.example.com]"}},
		},
		{
			name: "expired",
			in:   tlscheck.Input{CertificatePEM: expired.ChainPEM, PrivateKeyPEM: expired.KeyPEM, PublicHostname: "chat.example.com"},
			errs: []want{{tlscheck.Certificate, "the certificate expired on"}},
		},
		{
			name: "not yet valid",
			in:   tlscheck.Input{CertificatePEM: future.ChainPEM, PrivateKeyPEM: future.KeyPEM},
			errs: []want{{tlscheck.Certificate, "the certificate is valid only from"}},
		},
		{
			name:     "expires in 10 days: a warning, not an error",
			in:       tlscheck.Input{CertificatePEM: soon.ChainPEM, PrivateKeyPEM: soon.KeyPEM, PublicHostname: "chat.example.com"},
			warnings: []want{{tlscheck.Certificate, "in 10 days"}},
		},
		{
			name: "expires in 10 days, threshold 7 days",
			in:   tlscheck.Input{CertificatePEM: soon.ChainPEM, ExpiryWarning: 7 * day},
		},
		{
			name: "key of another certificate",
			in:   tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: other.KeyPEM},
			errs: []want{{tlscheck.PrivateKey, `not the key of the certificate "CN=chat.example.com"`}},
		},
		{
			name: "RSA key for an ECDSA certificate",
			in:   tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: rsaLeaf.KeyPEM},
			errs: []want{{tlscheck.PrivateKey, "not the key of the certificate"}},
		},
		{
			name: "garbage certificate",
			in:   tlscheck.Input{CertificatePEM: "hello", PrivateKeyPEM: good.KeyPEM},
			errs: []want{{tlscheck.Certificate, "no PEM CERTIFICATE block found"}},
		},
		{
			name: "garbage key",
			in:   tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			errs: []want{{tlscheck.PrivateKey, "the PRIVATE KEY block does not parse"}},
		},
		{
			name: "key pasted as certificate",
			in:   tlscheck.Input{CertificatePEM: good.KeyPEM, PrivateKeyPEM: good.KeyPEM},
			errs: []want{{tlscheck.Certificate, `contains a "PRIVATE KEY" PEM block`}},
		},
		{
			name: "certificate pasted as key",
			in:   tlscheck.Input{CertificatePEM: good.ChainPEM, PrivateKeyPEM: good.CertPEM},
			errs: []want{{tlscheck.PrivateKey, `a "CERTIFICATE" PEM block is not a private key`}},
		},
		{
			name: "chain out of order",
			in:   tlscheck.Input{CertificatePEM: inter.CertPEM + viaInter.CertPEM, PublicHostname: "chat.example.com"},
			errs: []want{
				{tlscheck.Certificate, `certificate 2 ("CN=chat.example.com") did not issue certificate 1 ("CN=Test Intermediate")`},
				{tlscheck.PublicHostname, "is not among the certificate's names (none"},
			},
		},
		{
			name: "public hostname is a node's hostname",
			in:   tlscheck.Input{CertificatePEM: good.ChainPEM, PublicHostname: "chat.example.com", NodeHostnames: []string{"hipchat-1.example.com", "CHAT.example.com."}},
			errs: []want{{tlscheck.PublicHostname, `"chat.example.com" is also the hostname of a Hipchat node`}},
		},
		{name: "nothing known yet", in: tlscheck.Input{}},
		{
			// What NGINX refuses at OpenSSL's default security level 2 (measured on the lab's
			// NGINX: TestOnLab in internal/guest/nginx): the error quotes OpenSSL's reason.
			name: "RSA key of 1024 bits",
			in:   tlscheck.Input{CertificatePEM: rsa1024.ChainPEM, PrivateKeyPEM: rsa1024.KeyPEM, PublicHostname: "chat.example.com"},
			errs: []want{{tlscheck.Certificate, `the certificate has an RSA key of 1024 bits; NGINX refuses it at OpenSSL's default security level 2 ("ee key too small"), which asks for RSA keys of at least 2048 bits`}},
		},
		{
			name: "intermediate with an RSA key of 1024 bits",
			in:   tlscheck.Input{CertificatePEM: viaWeakInter.ChainPEM, PrivateKeyPEM: viaWeakInter.KeyPEM},
			errs: []want{{tlscheck.Certificate, `certificate 2 of the chain ("CN=Weak Intermediate") has an RSA key of 1024 bits; NGINX refuses it at OpenSSL's default security level 2 ("ca key too small")`}},
		},
		{
			name: "leaf signed with SHA-1",
			in:   tlscheck.Input{CertificatePEM: sha1.ChainPEM, PrivateKeyPEM: sha1.KeyPEM},
			errs: []want{{tlscheck.Certificate, `the certificate is signed with ECDSA-SHA1; NGINX refuses it at OpenSSL's default security level 2 ("ca md too weak")`}},
		},
		{
			name: "self-signed with SHA-1: OpenSSL does not check a self-signature",
			in:   tlscheck.Input{CertificatePEM: selfSignedSHA1(t)},
		},
		{
			name: "RSA-2048 intermediate behind an ECDSA root: strong enough",
			in:   tlscheck.Input{CertificatePEM: rsaLeaf.ChainPEM, PrivateKeyPEM: rsaLeaf.KeyPEM},
		},
		{
			name: "leaf without its intermediate: a warning",
			in:   tlscheck.Input{CertificatePEM: viaInter.CertPEM, PrivateKeyPEM: viaInter.KeyPEM, PublicHostname: "chat.example.com"},
			warnings: []want{{tlscheck.Certificate,
				`the certificate "CN=chat.example.com" was issued by "CN=Test Intermediate", whose certificate is not in the chain; a client that does not have it already`}},
		},
		{
			name:     "leaf issued by the root, root not in the chain: the same warning",
			in:       tlscheck.Input{CertificatePEM: fromRoot.ChainPEM, PrivateKeyPEM: fromRoot.KeyPEM},
			warnings: []want{{tlscheck.Certificate, `if "CN=Test Root" is a root CA that every client trusts, appending it too silences this warning`}},
		},
		{
			name: "leaf issued by the root, root appended",
			in:   tlscheck.Input{CertificatePEM: fromRoot.ChainPEM + ca.CertPEM, PrivateKeyPEM: fromRoot.KeyPEM},
		},
		{
			name: "intermediate without its root: nothing to say",
			in:   tlscheck.Input{CertificatePEM: viaInter.ChainPEM, PrivateKeyPEM: viaInter.KeyPEM},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tlscheck.Check(c.in)
			compare(t, "error", r.Errors, c.errs)
			compare(t, "warning", r.Warnings, c.warnings)
			if (r.Err() == nil) != (len(c.errs) == 0) {
				t.Errorf("Err() = %v with %d expected errors", r.Err(), len(c.errs))
			}
			for _, f := range append(r.Errors, r.Warnings...) {
				if k := c.in.PrivateKeyPEM; k != "" && strings.Contains(f.String(), strings.Split(k, "\n")[1]) {
					t.Errorf("finding quotes the private key: %s", f)
				}
			}
		})
	}
}

func compare(t *testing.T, kind string, got []tlscheck.Finding, want []want) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %ss, want %d: %v", len(got), kind, len(want), got)
		return
	}
	for i, w := range want {
		if got[i].Field != w.field || !strings.Contains(got[i].Detail, w.text) {
			t.Errorf("%s %d = %s\nwant field %s with %q", kind, i, got[i], w.field, w.text)
		}
	}
}

func pemBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("no PEM")
	}
	return b.Bytes
}

// selfSignedSHA1 is a self-signed RSA-2048 certificate signed with SHA-1, such as old
// `openssl req -x509 -sha1` made.
func selfSignedSHA1(t *testing.T) string {
	key := must(rsa.GenerateKey(rand.Reader, 2048))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chat.example.com"}, DNSNames: []string{"chat.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour), SignatureAlgorithm: x509.SHA1WithRSA,
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key))
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestLeafFingerprint(t *testing.T) {
	ca := must(tlstest.NewCA("Test Root"))
	inter := must(ca.Intermediate("Test Intermediate"))
	leaf := must(inter.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}}))
	got := must(tlscheck.LeafFingerprint(leaf.ChainPEM))
	if got != tlscheck.Fingerprint(leaf.Cert) || len(got) != 64 {
		t.Errorf("fingerprint of the chain %s, of the leaf %s", got, tlscheck.Fingerprint(leaf.Cert))
	}
	if got == tlscheck.Fingerprint(inter.Cert) {
		t.Error("fingerprint is the intermediate's")
	}
}
