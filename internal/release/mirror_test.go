package release

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclsimple"
	"golang.org/x/mod/sumdb/dirhash"
)

// repoRoot is the module's root folder, two levels above this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	zipOnce sync.Once
	zipPath string
	zipErr  error
)

// releaseZip is this platform's release zip: HIPCHATDC_RELEASE_ZIP when CI built it already,
// else built here once with `make release-local`, which prints its path last.
func releaseZip(t *testing.T) string {
	t.Helper()
	zipOnce.Do(func() {
		if z := os.Getenv("HIPCHATDC_RELEASE_ZIP"); z != "" {
			zipPath = z
			return
		}
		cmd := exec.Command("make", "--no-print-directory", "-s", "release-local")
		cmd.Dir = repoRoot()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			zipErr = fmt.Errorf("make release-local: %w\n%s%s", err, out, stderr.Bytes())
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		zipPath = lines[len(lines)-1]
	})
	if zipErr != nil {
		t.Fatal(zipErr)
	}
	if _, err := os.Stat(zipPath); err != nil {
		t.Fatalf("release zip: %v", err)
	}
	return zipPath
}

var zipName = regexp.MustCompile(`^terraform-provider-hipchatdc_(.+)_([a-z0-9]+)_([a-z0-9]+)\.zip$`)

// zipVersion is the version in the zip's registry file name.
func zipVersion(t *testing.T, zip string) string {
	m := zipName.FindStringSubmatch(filepath.Base(zip))
	if m == nil {
		t.Fatalf("%s is not named terraform-provider-hipchatdc_VERSION_OS_ARCH.zip", zip)
	}
	if m[2] != runtime.GOOS || m[3] != runtime.GOARCH {
		t.Fatalf("%s is not for this platform (%s_%s)", zip, runtime.GOOS, runtime.GOARCH)
	}
	return m[1]
}

// mirror puts the zip into a new filesystem mirror with scripts/mirror.sh and returns the path of
// the CLI configuration it writes.
func mirror(t *testing.T, zip string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("./scripts/mirror.sh", dir, zip)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mirror.sh: %v\n%s", err, out)
	}
	return filepath.Join(dir, "terraformrc")
}

// workdir is a copy of examples/ and modules/ (module paths stay relative), as a user's checkout.
func workdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"examples", "modules"} {
		if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(), sub), dir).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", sub, err, out)
		}
	}
	return dir
}

// terraform runs the CLI in dir with the given CLI configuration and extra environment; it
// returns the combined output and whether the command succeeded.
func terraform(t *testing.T, rc, dir string, env []string, args ...string) (string, bool) {
	t.Helper()
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		t.Fatal("TF_ACC_TERRAFORM_PATH must name a terraform CLI (make test sets it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tf, append([]string{"-chdir=" + dir}, append(args, "-no-color")...)...)
	// Only the mirror's configuration decides where the provider comes from: a plugin cache or
	// another CLI configuration in the caller's environment would hide what is tested.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "TF_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), ctx.Err(), out.String())
	}
	return out.String(), err == nil
}

type lockFile struct {
	Providers []struct {
		Address     string   `hcl:"address,label"`
		Version     string   `hcl:"version"`
		Constraints *string  `hcl:"constraints,optional"`
		Hashes      []string `hcl:"hashes"`
	} `hcl:"provider,block"`
}

func readLock(t *testing.T, dir string) lockFile {
	t.Helper()
	var l lockFile
	if err := hclsimple.DecodeFile(filepath.Join(dir, ".terraform.lock.hcl"), nil, &l); err != nil {
		t.Fatalf("read the lock file: %v", err)
	}
	return l
}

// installed is where terraform init unpacks the provider.
func installed(dir, version string) string {
	return filepath.Join(dir, ".terraform", "providers", "registry.terraform.io", "hipchatdc", "hipchatdc",
		version, runtime.GOOS+"_"+runtime.GOARCH)
}

// TestMirror_initInstallsAndLocks installs the release zip from the mirror with a plain
// `terraform init` in examples/small-scale: the version of the zip, its h1: hash in the lock
// file, the binary unpacked, and `terraform validate` passes.
func TestMirror_initInstallsAndLocks(t *testing.T) {
	zip := releaseZip(t)
	version := zipVersion(t, zip)
	rc := mirror(t, zip)
	ex := filepath.Join(workdir(t), "examples", "small-scale")

	out, ok := terraform(t, rc, ex, nil, "init", "-input=false")
	if !ok {
		t.Fatalf("terraform init from the mirror failed:\n%s", out)
	}
	if want := "Installed hipchatdc/hipchatdc v" + version; !strings.Contains(out, want) {
		t.Errorf("terraform init did not say %q:\n%s", want, out)
	}
	// The hash a user's lock file records is the zip's: Terraform's h1: scheme is the Go module
	// dirhash of the archive's contents.
	h1, err := dirhash.HashZip(zip, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	lock := readLock(t, ex)
	if len(lock.Providers) != 1 || lock.Providers[0].Address != "registry.terraform.io/hipchatdc/hipchatdc" {
		t.Fatalf("lock file providers = %+v, want registry.terraform.io/hipchatdc/hipchatdc only", lock.Providers)
	}
	p := lock.Providers[0]
	if p.Version != version {
		t.Errorf("lock file version = %q, want %q", p.Version, version)
	}
	found := false
	for _, h := range p.Hashes {
		found = found || h == h1
	}
	if !found {
		t.Errorf("lock file hashes = %q, want the zip's %s", p.Hashes, h1)
	}
	bin := filepath.Join(installed(ex, version), "terraform-provider-hipchatdc_v"+version)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Errorf("provider not unpacked: %v", err)
	}

	if out, ok := terraform(t, rc, ex, nil, "validate"); !ok {
		t.Errorf("terraform validate failed:\n%s", out)
	}
}

// TestMirror_tamperedZipRefused: with the lock file of a genuine install, `terraform init` in a
// fresh checkout refuses a mirror whose zip was changed, installs nothing and leaves the lock
// file as it was; the genuine zip still installs with that lock file.
func TestMirror_tamperedZipRefused(t *testing.T) {
	zip := releaseZip(t)
	version := zipVersion(t, zip)
	genuine := mirror(t, zip)
	first := filepath.Join(workdir(t), "examples", "small-scale")
	if out, ok := terraform(t, genuine, first, nil, "init", "-input=false"); !ok {
		t.Fatalf("terraform init from the genuine mirror failed:\n%s", out)
	}
	lock, err := os.ReadFile(filepath.Join(first, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(zip)
	if err != nil {
		t.Fatal(err)
	}

	// checkout is a fresh copy of the examples with the lock file committed before.
	checkout := func(t *testing.T) string {
		ex := filepath.Join(workdir(t), "examples", "small-scale")
		if err := os.WriteFile(filepath.Join(ex, ".terraform.lock.hcl"), lock, 0o644); err != nil {
			t.Fatal(err)
		}
		return ex
	}
	// tampered writes content under the genuine zip's name and mirrors it.
	tampered := func(t *testing.T, content []byte) string {
		z := filepath.Join(t.TempDir(), filepath.Base(zip))
		if err := os.WriteFile(z, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return mirror(t, z)
	}
	refused := func(t *testing.T, rc string, want ...string) {
		ex := checkout(t)
		out, ok := terraform(t, rc, ex, nil, "init", "-input=false")
		if ok {
			t.Fatalf("terraform init installed a tampered zip:\n%s", out)
		}
		for _, w := range want {
			if !strings.Contains(strings.Join(strings.Fields(out), " "), w) {
				t.Errorf("terraform init's refusal does not say %q:\n%s", w, out)
			}
		}
		if _, err := os.Stat(installed(ex, version)); !os.IsNotExist(err) {
			t.Errorf("the tampered provider was unpacked into %s (stat: %v)", installed(ex, version), err)
		}
		if got, _ := os.ReadFile(filepath.Join(ex, ".terraform.lock.hcl")); !bytes.Equal(got, lock) {
			t.Errorf("terraform init changed the lock file:\n%s", got)
		}
	}

	t.Run("binary changed, zip still valid", func(t *testing.T) {
		// What an attacker who replaces the provider ships: a well-formed zip, one byte of the
		// binary different.
		refused(t, tampered(t, flipBinaryByte(t, orig)),
			"Error: Failed to install provider",
			"doesn't match any of the checksums previously recorded in the dependency lock file")
	})
	t.Run("one byte of the zip file changed", func(t *testing.T) {
		corrupt := bytes.Clone(orig)
		corrupt[len(corrupt)/2] ^= 0x01
		refused(t, tampered(t, corrupt), "Error: Failed to install provider", filepath.Base(zip))
	})
	t.Run("genuine zip with the same lock file", func(t *testing.T) {
		ex := checkout(t)
		if out, ok := terraform(t, genuine, ex, nil, "init", "-input=false"); !ok {
			t.Fatalf("terraform init refused the genuine zip:\n%s", out)
		}
	})
}

// TestMirror_providerLogsItsVersion: the installed binary carries the version goreleaser stamped
// (main.version) and says it in its log when Terraform configures it, as TF_LOG_PROVIDER=INFO
// shows a user. The vSphere server is a closed port: configuring fails after the log line.
func TestMirror_providerLogsItsVersion(t *testing.T) {
	zip := releaseZip(t)
	version := zipVersion(t, zip)
	rc := mirror(t, zip)
	dir := t.TempDir()
	// examples/resources holds fragments rendered into the docs: a configuration declares the
	// provider's source, as examples/small-scale does.
	example, err := os.ReadFile(filepath.Join(repoRoot(), "examples", "resources", "hipchatdc_node", "resource.tf"))
	if err != nil {
		t.Fatal(err)
	}
	config := `terraform {
  required_providers {
    hipchatdc = { source = "hipchatdc/hipchatdc" }
  }
}

provider "hipchatdc" {}
` + string(example)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, ok := terraform(t, rc, dir, nil, "init", "-input=false"); !ok {
		t.Fatalf("terraform init failed:\n%s", out)
	}
	out, _ := terraform(t, rc, dir, []string{"TF_LOG_PROVIDER=INFO", "VSPHERE_SERVER=127.0.0.1:1", "VSPHERE_USER=u", "VSPHERE_PASSWORD=p"},
		"plan", "-input=false")
	want := fmt.Sprintf("version=%q", version)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "configuring the hipchatdc provider:") && strings.Contains(line, want) {
			return
		}
	}
	t.Errorf("the provider's log has no line \"configuring the hipchatdc provider: ... %s\":\n%s", want, out)
}

// flipBinaryByte repacks a release zip with one byte of the provider binary changed; the other
// entries and every header stay as they were.
func flipBinaryByte(t *testing.T, orig []byte) []byte {
	t.Helper()
	r, err := zip.NewReader(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	flipped := false
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(f.Name, "terraform-provider-hipchatdc_v") {
			data[len(data)/2] ^= 0x01
			flipped = true
		}
		hdr := f.FileHeader
		// Stored, not deflated again: as valid a zip, and the test does not spend its time compressing.
		hdr.Method = zip.Store
		out, err := w.CreateHeader(&hdr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !flipped {
		t.Fatal("the release zip holds no terraform-provider-hipchatdc_v* binary")
	}
	return buf.Bytes()
}
