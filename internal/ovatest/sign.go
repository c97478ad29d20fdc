package ovatest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// CA is a certificate authority made for a test: it issues the certificates that sign test
// OVAs, as a publisher's code-signing CA would.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// Signer signs an OVA's manifest the way ovftool does (an RSA key, the .cert file holding the
// signature and then the PEM certificates, leaf first).
type Signer struct {
	Key   crypto.Signer
	Chain []*x509.Certificate // leaf first, then any intermediates
}

// newSerial is a random serial number, as CAs give them.
func newSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	return n
}

func newKey() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// NewCA makes a self-signed CA called name.
func NewCA(name string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: name},
		// Valid well before and after the certificates it issues, as a real CA is.
		NotBefore:             time.Now().AddDate(0, -1, 0),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key}, err
}

// PEM returns the CA's certificate in PEM, as a file given to ova_ca_file holds it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Signer issues a code-signing certificate called name, valid from notBefore to notAfter
// (zero: from an hour ago for a day).
func (ca *CA) Signer(name string, notBefore, notAfter time.Time) (*Signer, error) {
	if notBefore.IsZero() {
		notBefore, notAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &Signer{Key: key, Chain: []*x509.Certificate{cert}}, err
}

// certFile is the .cert entry for the manifest called mfName holding mf: ovftool's format,
// "SHA256(name.mf)= <hex signature>" and then the certificates in PEM.
func (s *Signer) certFile(mfName string, mf []byte) ([]byte, error) {
	sum := crypto.SHA256.New()
	sum.Write(mf)
	sig, err := s.Key.Sign(rand.Reader, sum.Sum(nil), crypto.SHA256)
	if err != nil {
		return nil, err
	}
	out := fmt.Appendf(nil, "SHA256(%s)= %x\n", mfName, sig)
	for _, c := range s.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out, nil
}
