// Package tlstest issues throw-away certificate authorities and certificates for tests: a
// root, optional intermediates and leaves with chosen names, validity and key type, all in
// PEM as a user would paste them into a configuration.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"time"
)

// KeyType chooses the key algorithm of an issued certificate.
type KeyType int

const (
	ECDSA   KeyType = iota // P-256
	RSA                    // 2048 bits
	RSA1024                // too weak for OpenSSL's default security level: NGINX refuses it
)

// CA is a certificate authority that can issue leaves and intermediates.
type CA struct {
	Cert    *x509.Certificate
	CertPEM string
	key     crypto.Signer
	chain   string // PEM of this CA and its issuers up to (not including) the root
}

// Leaf is an issued server certificate.
type Leaf struct {
	Cert     *x509.Certificate
	CertPEM  string // the leaf alone
	ChainPEM string // the leaf followed by the intermediates, as NGINX's ssl_certificate takes it
	KeyPEM   string // PKCS#8
}

// Options of an issued certificate. Zero values give a certificate valid from an hour ago for
// a year, with an ECDSA key.
type Options struct {
	DNSNames  []string
	IPs       []net.IP
	NotBefore time.Time
	NotAfter  time.Time
	Key       KeyType
	// SignatureAlgorithm of the issuer's signature; zero lets crypto/x509 choose (SHA-256 or
	// better). x509.ECDSAWithSHA1 makes a certificate NGINX refuses ("ca md too weak").
	SignatureAlgorithm x509.SignatureAlgorithm
}

// NewCA makes a self-signed root CA.
func NewCA(name string) (*CA, error) {
	key, err := newKey(ECDSA)
	if err != nil {
		return nil, err
	}
	tmpl := template(name, Options{NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour)})
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	c, der, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: c, CertPEM: encode("CERTIFICATE", der), key: key}, nil
}

// Pool is a certificate pool trusting this CA only, for a client's RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Intermediate issues a CA certificate signed by ca.
func (ca *CA) Intermediate(name string) (*CA, error) { return ca.IntermediateWithKey(name, ECDSA) }

// IntermediateWithKey issues a CA certificate signed by ca, for a key of the given type.
func (ca *CA) IntermediateWithKey(name string, k KeyType) (*CA, error) {
	key, err := newKey(k)
	if err != nil {
		return nil, err
	}
	tmpl := template(name, Options{NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour)})
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	c, der, err := sign(tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	p := encode("CERTIFICATE", der)
	return &CA{Cert: c, CertPEM: p, key: key, chain: p + ca.chain}, nil
}

// Issue makes a server certificate signed by ca.
func (ca *CA) Issue(o Options) (*Leaf, error) {
	key, err := newKey(o.Key)
	if err != nil {
		return nil, err
	}
	name := "leaf"
	if len(o.DNSNames) > 0 {
		name = o.DNSNames[0]
	}
	tmpl := template(name, o)
	tmpl.DNSNames, tmpl.IPAddresses = o.DNSNames, o.IPs
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	c, der, err := sign(tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	p := encode("CERTIFICATE", der)
	return &Leaf{Cert: c, CertPEM: p, ChainPEM: p + ca.chain, KeyPEM: encode("PRIVATE KEY", pk)}, nil
}

func template(cn string, o Options) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	if na.IsZero() {
		na = time.Now().Add(365 * 24 * time.Hour)
	}
	return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: nb, NotAfter: na, SignatureAlgorithm: o.SignatureAlgorithm}
}

// sign makes the certificate tmpl describes, for pub, signed by signer as parent, and returns
// it both parsed and in DER.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, []byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, der, err
}

func newKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case RSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func encode(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
