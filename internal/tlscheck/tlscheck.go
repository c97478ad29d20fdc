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
		if i > 0 {
			// NGINX sends the chain as given; a client cannot build a path through a
			// certificate that did not sign the one before it.
			if err := chain[i-1].CheckSignatureFrom(c); err != nil {
				r.fail(Certificate, "Certificate chain out of order",
					"certificate %d (%q) did not issue certificate %d (%q): %v; put the leaf first, then each issuer",
					i+1, subject(c), i, subject(chain[i-1]), err)
			}
		}
	}
}

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
