package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

func TestMain(m *testing.M) {
	os.Exit(acctest.Main(m, lab.Options{StandaloneESXi: 2})) // ESXi: TestAccExample_standaloneESXi
}

// repoRoot is the module's root folder, two levels above this file.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	buildOnce sync.Once
	pluginDir string
	buildErr  error
)

// providerBinary builds the provider from this tree once per test binary.
func providerBinary(t testing.TB) string {
	buildOnce.Do(func() {
		pluginDir = filepath.Join(acctest.Lab(t).Dir(), "plugin")
		cmd := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "terraform-provider-hipchatdc"), ".")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return pluginDir
}

// workspace is a copy of examples/ and modules/ with a CLI configuration that points
// hipchatdc/hipchatdc at the freshly built provider, and the lab's settings in the environment.
type workspace struct {
	t   testing.TB
	dir string
	env []string
	ca  *tlstest.CA
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	terraform := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if terraform == "" {
		t.Fatal("TF_ACC_TERRAFORM_PATH must name a terraform CLI (make test sets it)")
	}
	l := acctest.Lab(t)
	dir := t.TempDir()
	for _, sub := range []string{"examples", "modules"} {
		if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), sub), dir).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", sub, err, out)
		}
	}
	rc := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(rc, []byte(fmt.Sprintf(`provider_installation {
  dev_overrides {
    "hipchatdc/hipchatdc" = %q
  }
  direct {}
}
`, providerBinary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")
	for k, v := range l.Env() {
		env = append(env, k+"="+v)
	}
	ca, err := tlstest.NewCA("e2e CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"chat.pem": leaf.ChainPEM, "chat.key": leaf.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &workspace{t: t, dir: dir, env: env, ca: ca}
}

// tf runs terraform in a folder of the workspace and returns its output; an error carries it.
// The bound catches a hung command, not a slow one: one apply or plan gets 10 minutes, and
// `terraform test`, which deploys and destroys the module several times in one command, 30
// (it was killed at 10 with the CPUs shared by two lab suites and eight busy loops).
func (w *workspace) tf(sub string, args ...string) (string, error) {
	bound := 10 * time.Minute
	if len(args) > 0 && args[0] == "test" {
		bound = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Getenv("TF_ACC_TERRAFORM_PATH"), append([]string{"-chdir=" + filepath.Join(w.dir, sub)}, args...)...)
	cmd.Env = w.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("terraform %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func (w *workspace) mustTF(sub string, args ...string) string {
	w.t.Helper()
	out, err := w.tf(sub, args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// smallScaleVars are the values examples/small-scale needs on the lab, as scripts/demo.sh
// writes them.
func (w *workspace) smallScaleVars(t *testing.T, prefix string, first int) string {
	l := acctest.Lab(t)
	v, s := l.VSphere(), l.SSH()
	return fmt.Sprintf(`datacenter           = %q
cluster              = %q
datastore            = %q
network              = %q
hipchat_ova          = %q
server_ova           = %q
gateway              = %q
ntp_servers          = [%q]
addresses            = { node = %q, data_stores = %q, proxy = %q }
nfs_server           = "ganesha"
certificate_file     = %q
private_key_file     = %q
database_password    = "e2e-db-secret"
redis_password       = "e2e-redis-secret"
ssh_private_key_file = %q
ssh_known_hosts_file = %q
`, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, lab.KindNode, 40), acctest.OVA(t, lab.KindDebian, 60),
		acctest.Gateway(l, false), acctest.Gateway(l, false),
		acctest.LabAddress(t, l, false, first), acctest.LabAddress(t, l, false, first+1), acctest.LabAddress(t, l, false, first+2),
		filepath.Join(w.dir, "chat.pem"), filepath.Join(w.dir, "chat.key"), s.PrivateKeyFile, s.KnownHostsFile)
}
