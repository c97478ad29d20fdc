// Package acctest runs the provider's acceptance tests against the embedded lab: one lab (vcsim
// plus real guests) per test binary, the provider served in-process to a real terraform CLI
// (terraform-plugin-testing, TF_ACC_TERRAFORM_PATH set by `make test`).
package acctest

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/provider"
)

var theLab *lab.Lab

// Main starts the lab for a test binary's acceptance tests (when TF_ACC is set, as `make test`
// does), runs the tests and tears everything down again. Use it from TestMain.
func Main(m *testing.M, o lab.Options) int {
	if os.Getenv("TF_ACC") == "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	l, err := lab.Start(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acctest: cannot start the lab:", err)
		return 1
	}
	theLab = l
	code := m.Run()
	provider.CloseSessions(context.Background())
	if err := l.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "acctest: lab stop:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Lab is the running lab.
func Lab(t testing.TB) *lab.Lab {
	t.Helper()
	if theLab == nil {
		t.Fatal("acctest: no lab: run with TF_ACC=1 (make test) and call acctest.Main from TestMain")
	}
	return theLab
}

// Factories serves the provider in-process to terraform.
func Factories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"hipchatdc": providerserver.NewProtocol6WithError(provider.New("test")()),
	}
}

// ProviderConfig is a provider block for the lab: vcsim's certificate trusted through ca_file,
// SSH as root with the lab's key, host keys checked against the lab's known_hosts.
func ProviderConfig(t testing.TB) string { return ProviderConfigFor(Lab(t)) }

// StartLab starts another lab for one test (for example in private-network mode) and stops it
// when the test ends.
func StartLab(t testing.TB, o lab.Options) *lab.Lab {
	t.Helper()
	l, err := lab.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// ProviderConfigFor is ProviderConfig for a given lab; in private mode its jump host is the
// bastion.
func ProviderConfigFor(l *lab.Lab) string {
	v, s := l.VSphere(), l.SSH()
	bastion := ""
	if s.JumpHost != nil {
		bastion = fmt.Sprintf("\n    bastion_host     = %q\n    bastion_host_key = %q", s.JumpHost.Address, s.JumpHost.HostKey)
	}
	return fmt.Sprintf(`
provider "hipchatdc" {
  vsphere_server = %q
  user           = %q
  password       = %q
  ca_file        = %q
  ssh {
    user             = "root"
    private_key      = file(%q)
    known_hosts_file = %q
    timeout          = "2m"%s
  }
}
`, v.Server, v.User, v.Password, v.CAFile, s.PrivateKeyFile, s.KnownHostsFile, bastion)
}

// ESXiProviderConfig is a provider block for the lab's standalone ESXi host i (0-based,
// lab.Options.StandaloneESXi), with the given alias ("" for none) and ProviderConfig's SSH
// settings.
func ESXiProviderConfig(l *lab.Lab, i int, alias string) string {
	e, s := l.StandaloneESXi()[i], l.SSH()
	if alias != "" {
		alias = fmt.Sprintf("\n  alias          = %q", alias)
	}
	return fmt.Sprintf(`
provider "hipchatdc" {%s
  vsphere_server = %q
  user           = %q
  password       = %q
  ca_file        = %q
  ssh {
    user             = "root"
    private_key      = file(%q)
    known_hosts_file = %q
    timeout          = "2m"
  }
}
`, alias, e.Server, e.User, e.Password, e.CAFile, s.PrivateKeyFile, s.KnownHostsFile)
}

// ovas are the OVAs made so far, by kind and capacity. The lock is held while one is written,
// so that a test running in parallel never reads a file another is still writing.
var ovas = struct {
	sync.Mutex
	paths map[string]string
}{paths: map[string]string{}}

// OVA returns the path of a small test OVA whose VM the lab boots as a guest of the given kind
// (lab.KindNode, lab.KindDebian, ...). Its disk declares capacityGiB. Generated once per binary.
func OVA(t testing.TB, kind string, capacityGiB int) string {
	t.Helper()
	key := fmt.Sprintf("%s-%d", kind, capacityGiB)
	ovas.Lock()
	defer ovas.Unlock()
	if p, ok := ovas.paths[key]; ok {
		return p
	}
	dir := filepath.Join(Lab(t).Dir(), "ovas")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, key+".ova")
	err := ovatest.Write(p, ovatest.Options{
		Name: "hipchat-" + strings.ReplaceAll(kind, "-", ""), NumCPUs: 2, MemoryMB: 4096, DiskCapacityGiB: capacityGiB,
		DataBytes: 1 << 20, ExtraConfig: map[string]string{lab.KindKey: kind},
		Manifest: "SHA256", // as a publisher's OVA: every import in the suites checks it
	})
	if err != nil {
		t.Fatal(err)
	}
	ovas.paths[key] = p
	return p
}

// ReleaseOVA returns the path of a node OVA (lab.KindNode, 40 GiB disk) of the given release:
// the node's page says "release: RELEASE". failSelfCheck makes it a broken release whose
// "hipchat datacenter selfcheck" fails. Generated once per binary. The seed differs per
// release, so two releases' disks differ as two real releases' do.
func ReleaseOVA(t testing.TB, release string, failSelfCheck bool) string {
	t.Helper()
	key := fmt.Sprintf("node-release-%s-%v", release, failSelfCheck)
	ovas.Lock()
	defer ovas.Unlock()
	if p, ok := ovas.paths[key]; ok {
		return p
	}
	dir := filepath.Join(Lab(t).Dir(), "ovas")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{lab.KindKey: lab.KindNode, lab.ReleaseKey: release}
	if failSelfCheck {
		extra[lab.SelfCheckKey] = lab.SelfCheckFails
	}
	seed := fnv.New64a()
	seed.Write([]byte(key))
	p := filepath.Join(dir, key+".ova")
	err := ovatest.Write(p, ovatest.Options{
		Name: "hipchat-node", NumCPUs: 2, MemoryMB: 4096, DiskCapacityGiB: 40,
		DataBytes: 1 << 20, Seed: seed.Sum64(), ExtraConfig: extra, Manifest: "SHA256",
	})
	if err != nil {
		t.Fatal(err)
	}
	ovas.paths[key] = p
	return p
}

// Wrapped is a regular expression matching msg as Terraform prints it: literally, but with a
// line break allowed wherever msg has a space, as Terraform wraps a diagnostic to the width of
// its terminal.
func Wrapped(msg string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(msg), " ", `\s+`)
}
