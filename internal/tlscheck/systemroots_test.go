package tlscheck_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

// A leaf issued directly by a root the machine trusts needs no chain: no warning for it, while
// a leaf from an unknown root still gets one. Go reads the system's roots once per process
// (SSL_CERT_FILE names them), so the check runs in a child process of the test binary that
// trusts a root made for the test and nothing else.
func TestIssuerTrustedBySystem(t *testing.T) {
	const child = "TLSCHECK_SYSTEM_ROOTS_CHILD"
	if os.Getenv(child) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIssuerTrustedBySystem$", "-test.v")
		cmd.Env = append(os.Environ(), child+"="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestIssuerTrustedBySystem") {
			t.Fatalf("child test failed (%v):\n%s", err, out)
		}
		return
	}
	dir := os.Getenv(child)
	trusted := must(tlstest.NewCA("Trusted Root"))
	unknown := must(tlstest.NewCA("Unknown Root"))
	rootFile := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(rootFile, []byte(trusted.CertPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	// Set before the first read of the system's roots in this process.
	t.Setenv("SSL_CERT_FILE", rootFile)
	t.Setenv("SSL_CERT_DIR", filepath.Join(dir, "none"))

	const summary = "Issuer of the certificate missing from the chain"
	for _, c := range []struct {
		name string
		ca   *tlstest.CA
		warn bool
	}{{"issued by a trusted root", trusted, false}, {"issued by an unknown root", unknown, true}} {
		leaf := must(c.ca.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}}))
		res := tlscheck.Check(tlscheck.Input{CertificatePEM: leaf.ChainPEM, PrivateKeyPEM: leaf.KeyPEM, PublicHostname: "chat.example.com"})
		warned := false
		for _, w := range res.Warnings {
			warned = warned || w.Summary == summary
		}
		if len(res.Errors) > 0 || warned != c.warn {
			t.Errorf("%s: errors %v, warnings %v; want the issuer warning: %v", c.name, res.Errors, res.Warnings, c.warn)
		}
	}
}
