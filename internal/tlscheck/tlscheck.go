// Package tlscheck checks the reverse proxy's TLS inputs (a PEM certificate chain, its PEM
// private key and the cluster's public hostname) before anything is deployed, so that a
// certificate NGINX would refuse, or one that browsers and chat clients would refuse, fails
// the plan instead of the apply.
//
// It is pure Go (crypto/x509, crypto/tls) and talks to nothing. Each finding names the input
// it concerns, so that a caller can attach it to the right attribute.
package tlscheck

import (
	"bytes"
	"crypto/dsa" //nolint:staticcheck // only to measure a DSA key found in a certificate
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Field names an input of Check.
type Field string

const (
	Certificate    Field = "certificate"     // Input.CertificatePEM
	PrivateKey     Field = "private_key"     // Input.PrivateKeyPEM
	PublicHostname Field = "public_hostname" // Input.PublicHostname
)

// DefaultExpiryWarning is how close to its end a certificate may be before Check warns:
// 30 days leaves time to renew and rotate before clients start refusing it.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// Input is what Check looks at. Empty strings are not checked, so a plan whose values are not
// known yet can still check the others.
type Input struct {
	CertificatePEM string   // the leaf first, then intermediates, as NGINX's ssl_certificate takes them
	PrivateKeyPEM  string   // PKCS#1, PKCS#8 or SEC 1 (EC); never echoed in a finding
	PublicHostname string   // the DNS name clients use; the certificate must cover it
	NodeHostnames  []string // the Hipchat nodes' own hostnames, which must differ from the public one

	Now           time.Time     // time.Now() when zero
	ExpiryWarning time.Duration // DefaultExpiryWarning when zero
}

// Finding is one problem with one input.
type Finding struct {
	Field   Field
	Summary string // short, for a diagnostic's title
	Detail  string // what is wrong and what to do
}

func (f Finding) String() string { return string(f.Field) + ": " + f.Summary + ": " + f.Detail }

// Result is what Check found. Errors must stop a plan; Warnings should be shown.
type Result struct {
	Errors   []Finding
	Warnings []Finding

	// Chain is the parsed certificate chain, leaf first (nil when it did not parse).
	Chain []*x509.Certificate
}

// Err joins the errors into one error, or returns nil when there are none.
func (r Result) Err() error {
	var errs []error
	for _, f := range r.Errors {
		errs = append(errs, errors.New(f.String()))
	}
	return errors.Join(errs...)
}

func (r *Result) fail(f Field, summary, format string, args ...any) {
	r.Errors = append(r.Errors, Finding{Field: f, Summary: summary, Detail: fmt.Sprintf(format, args...)})
}

func (r *Result) warn(f Field, summary, format string, args ...any) {
	r.Warnings = append(r.Warnings, Finding{Field: f, Summary: summary, Detail: fmt.Sprintf(format, args...)})
}

// Check runs every check whose inputs are present.
func Check(in Input) Result {
	var r Result
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	warnBefore := in.ExpiryWarning
	if warnBefore <= 0 {
		warnBefore = DefaultExpiryWarning
	}

	if in.CertificatePEM != "" {
		chain, err := ParseChain(in.CertificatePEM)
		if err != nil {
			r.fail(Certificate, "Invalid certificate", "%v", err)
		} else {
			r.Chain = chain
			r.checkChain(chain, now, warnBefore)
		}
	}
	var keyOK bool
	if in.PrivateKeyPEM != "" {
		if err := parseKey(in.PrivateKeyPEM); err != nil {
			r.fail(PrivateKey, "Invalid private key", "%v", err)
		} else {
			keyOK = true
		}
	}
	if r.Chain != nil && keyOK {
		// tls.X509KeyPair is what a Go server, and in effect NGINX's SSL_CTX_check_private_key,
		// do: the key's public half must be the leaf's.
		if _, err := tls.X509KeyPair([]byte(in.CertificatePEM), []byte(in.PrivateKeyPEM)); err != nil {
			r.fail(PrivateKey, "Private key does not match the certificate",
				"the private key is not the key of the certificate %q (%v); give the key the certificate was issued for", subject(r.Chain[0]), err)
		}
	}

	if in.PublicHostname != "" {
		host := strings.TrimSuffix(in.PublicHostname, ".")
		if r.Chain != nil {
			// VerifyHostname applies RFC 6125: SAN DNS names only (no Common Name fallback),
			// a wildcard covers exactly one leftmost label.
			if err := r.Chain[0].VerifyHostname(host); err != nil {
				r.fail(PublicHostname, "Certificate does not cover the public hostname",
					"%q is not among the certificate's names %s; clients would refuse the connection", host, names(r.Chain[0]))
			}
		}
		for _, n := range in.NodeHostnames {
			if strings.EqualFold(strings.TrimSuffix(n, "."), host) {
				r.fail(PublicHostname, "Public hostname is a node's hostname",
					"%q is also the hostname of a Hipchat node behind the proxy; the guide asks for node names that differ from the public DNS name, so that logs and troubleshooting can tell them apart", host)
			}
		}
	}
	return r
}

func (r *Result) checkChain(chain []*x509.Certificate, now time.Time, warnBefore time.Duration) {
	for i, c := range chain {
		what := "the certificate"
		if i > 0 {
			what = fmt.Sprintf("certificate %d of the chain (%q)", i+1, subject(c))
		}
		switch {
		case now.Before(c.NotBefore):
			r.fail(Certificate, "Certificate not yet valid", "%s is valid only from %s (now %s); check the clocks or wait",
				what, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		case now.After(c.NotAfter):
			r.fail(Certificate, "Certificate expired", "%s expired on %s; renew it", what, c.NotAfter.UTC().Format(time.RFC3339))
		case c.NotAfter.Sub(now) < warnBefore:
			r.warn(Certificate, "Certificate expires soon", "%s expires on %s, in %d days; renew and rotate it before then",
				what, c.NotAfter.UTC().Format(time.RFC3339), int(math.Ceil(c.NotAfter.Sub(now).Hours()/24)))
		}
		r.checkStrength(c, what, i == 0)
		if i > 0 {
			// NGINX sends the chain as given; a client cannot build a path through a
			// certificate that did not sign the one before it. A SHA-1 signature cannot be
			// checked (Go refuses it as insecure) and is already refused above.
			var insecure x509.InsecureAlgorithmError
			if err := chain[i-1].CheckSignatureFrom(c); err != nil && !errors.As(err, &insecure) {
				r.fail(Certificate, "Certificate chain out of order",
					"certificate %d (%q) did not issue certificate %d (%q): %v; put the leaf first, then each issuer",
					i+1, subject(c), i, subject(chain[i-1]), err)
			}
		}
	}
	if len(r.Errors) == 0 {
		r.checkIssuerPresent(chain, now)
	}
}

// OpenSSL's default security level on Debian 12 and Ubuntu 22.04 and later is 2 (112 bits): its
// SSL_CTX_use_certificate and SSL_CTX_set0_chain, which NGINX calls at start and reload, refuse
// a certificate whose key or signature is weaker. Measured with the lab's NGINX 1.22.1 and
// OpenSSL 3.0 (`nginx -t`): an RSA-1024 leaf fails with "ee key too small", an RSA-1024
// intermediate or root in the chain with "ca key too small", a leaf signed with SHA-1 by its CA
// with "ca md too weak"; RSA-2048, ECDSA P-224 and P-256 and Ed25519 keys pass, and so does a
// self-signed certificate's own signature, which OpenSSL does not check.
const (
	// MinRSABits is OpenSSL's documented minimum for RSA and DSA keys at level 2. OpenSSL's own
	// estimate of an RSA key's strength lets keys from 1963 bits pass (measured), but no CA
	// issues such sizes and the documentation says 2048: the provider asks for 2048.
	MinRSABits = 2048
	// MinECBits is OpenSSL's minimum for elliptic-curve keys at level 2.
	MinECBits = 224
)

// checkStrength refuses a key or a signature that NGINX (OpenSSL at security level 2) would.
func (r *Result) checkStrength(c *x509.Certificate, what string, leaf bool) {
	reason := "ca key too small"
	if leaf {
		reason = "ee key too small"
	}
	var weak string
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSABits {
			weak = fmt.Sprintf("an RSA key of %d bits", n)
		}
	case *dsa.PublicKey:
		if n := k.P.BitLen(); n < MinRSABits {
			weak = fmt.Sprintf("a DSA key of %d bits", n)
		}
	case *ecdsa.PublicKey:
		if n := k.Curve.Params().BitSize; n < MinECBits {
			weak = fmt.Sprintf("an elliptic-curve key of %d bits", n)
		}
	}
	if weak != "" {
		r.fail(Certificate, "Certificate key too weak for NGINX",
			"%s has %s; NGINX refuses it at OpenSSL's default security level 2 (%q), which asks for RSA keys of at least %d bits or elliptic-curve keys of at least %d bits: issue the certificate for an RSA-2048 (or larger) or ECDSA P-256 key",
			what, weak, reason, MinRSABits, MinECBits)
	}
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		if !selfSigned(c) {
			r.fail(Certificate, "Certificate signature too weak for NGINX",
				"%s is signed with %s; NGINX refuses it at OpenSSL's default security level 2 (\"ca md too weak\"): have it reissued with a SHA-256 signature",
				what, c.SignatureAlgorithm)
		}
	}
}

// checkIssuerPresent warns when the leaf's issuer is not in the chain. NGINX sends the chain
// as given, and a client can only verify the leaf through an issuer it already has: a root it
// trusts, or an intermediate the server sends. Which of the two the issuer is cannot be told
// from the certificate, so this is a warning, and none when the issuer is a root this machine
// trusts (a leaf issued directly by a public root needs nothing more).
func (r *Result) checkIssuerPresent(chain []*x509.Certificate, now time.Time) {
	leaf := chain[0]
	if selfSigned(leaf) {
		return
	}
	for _, c := range chain[1:] {
		if bytes.Equal(c.RawSubject, leaf.RawIssuer) {
			return
		}
	}
	if issuedBySystemRoot(leaf, now) {
		return
	}
	issuer := leaf.Issuer.String()
	r.warn(Certificate, "Issuer of the certificate missing from the chain",
		"the certificate %q was issued by %q, whose certificate is not in the chain; a client that does not have it already (curl, Java, Go and most clients other than browsers) will fail to verify the certificate. "+
			"Append the issuer's certificate (the intermediate your CA gave with the certificate) after the leaf; if %q is a root CA that every client trusts, appending it too silences this warning",
		subject(leaf), issuer, issuer)
}

// issuedBySystemRoot reports whether one of the system's trusted roots signed leaf directly.
// Expiry and names are other checks' business, so only the signature counts here.
func issuedBySystemRoot(leaf *x509.Certificate, now time.Time) bool {
	roots, err := x509.SystemCertPool()
	if err != nil {
		return false
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// selfSigned is OpenSSL's test for a certificate whose signature it does not check: the
// issuer is the subject.
func selfSigned(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }

// ParseChain parses every CERTIFICATE block of a PEM chain, leaf first. Anything else in it
// (a private key pasted by mistake, garbage) is an error.
func ParseChain(pemText string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := []byte(pemText)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("the certificate contains a %q PEM block; only CERTIFICATE blocks belong in it (the private key goes in its own argument)", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the chain does not parse: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found; expected text starting with -----BEGIN CERTIFICATE-----")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("text after the last PEM CERTIFICATE block is not PEM")
	}
	return chain, nil
}

// parseKey checks that the text is exactly one private key in a form NGINX (OpenSSL) reads.
// Errors never quote the key.
func parseKey(pemText string) error {
	b, rest := pem.Decode([]byte(pemText))
	if b == nil {
		return errors.New("no PEM block found; expected text starting with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return errors.New("more than one PEM block; give the private key alone")
	}
	if b.Headers["Proc-Type"] != "" {
		return errors.New("the private key is encrypted; NGINX would ask for a passphrase at every start, give it unencrypted")
	}
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		_, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		_, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		_, err = x509.ParseECPrivateKey(b.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return errors.New("the private key is encrypted; NGINX would ask for a passphrase at every start, give it unencrypted")
	default:
		return fmt.Errorf("a %q PEM block is not a private key", b.Type)
	}
	if err != nil {
		return fmt.Errorf("the %s block does not parse: %w", b.Type, err)
	}
	return nil
}

// Fingerprint is the SHA-256 of a certificate's DER encoding in lowercase hex, as
// `openssl x509 -noout -fingerprint -sha256` shows it without the colons.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// LeafFingerprint is Fingerprint of the first certificate of a PEM chain.
func LeafFingerprint(pemText string) (string, error) {
	chain, err := ParseChain(pemText)
	if err != nil {
		return "", err
	}
	return Fingerprint(chain[0]), nil
}

func subject(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return s
	}
	return "no subject"
}

func names(c *x509.Certificate) string {
	var n []string
	n = append(n, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 {
		return "(none: the certificate has no subjectAltName; a Common Name alone is not accepted by today's clients)"
	}
	return "[" + strings.Join(n, ", ") + "]"
}
