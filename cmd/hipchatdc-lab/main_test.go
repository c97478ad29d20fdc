package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// What `hipchatdc-lab start` prints is enough to write a configuration: the network, its
// gateway and the addresses left free for static ones (none of them one the lab hands out);
// and lab.env is enough to run the pinned govc (built as `make govc` builds it) against the
// lab, as the README says.
func TestStartPrintsWhatAConfigurationNeeds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: filepath.Join(dir, "lab")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Stop(); err != nil {
			t.Error(err)
		}
	}()
	env := l.Env()
	out := summary(l, env, dir, false, 1)
	first, last := l.StaticRange()
	for _, want := range []string{
		"network:  " + l.PublicSubnet().String(),
		"gateway " + l.HostAddress(),
		"static addresses " + first.String() + " to " + last.String() + " (ipv4_netmask = 24)",
		"govc ls",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("start prints no %q:\n%s", want, out)
		}
	}
	if !l.PublicSubnet().Contains(first) || !l.PublicSubnet().Contains(last) || netip.MustParseAddr(l.HostAddress()).Compare(first) >= 0 {
		t.Errorf("static range %s-%s is not a free part of %s (gateway %s)", first, last, l.PublicSubnet(), l.HostAddress())
	}
	if env["HIPCHATDC_LAB_GATEWAY"] != l.HostAddress() || env["HIPCHATDC_LAB_STATIC_RANGE"] != first.String()+"-"+last.String() {
		t.Errorf("lab.env: gateway %q, static range %q", env["HIPCHATDC_LAB_GATEWAY"], env["HIPCHATDC_LAB_STATIC_RANGE"])
	}
	// A VM the lab gives an address to gets one outside the static range.
	g, err := l.StartGuestVM(ctx, "lab-cmd-probe", lab.KindDebian)
	if err != nil {
		t.Fatal(err)
	}
	if a := netip.MustParseAddr(g.Address()); a.Compare(first) >= 0 {
		t.Errorf("the lab gave a VM %s, inside the static range %s-%s", a, first, last)
	}

	// govc, built as `make govc` builds it, with nothing but lab.env's GOVC_* settings.
	govc := filepath.Join(t.TempDir(), "govc")
	// Its own deadline: a cold build of govc's commands takes a minute on a busy machine.
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer bcancel()
	build := exec.CommandContext(bctx, "go", "build", "-trimpath", "-o", govc, ".")
	build.Dir = filepath.Join("..", "..", "tools", "govc")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building govc as make govc does: %v\n%s", err, b)
	}
	cmd := exec.CommandContext(bctx, govc, "ls", "vm")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		if strings.HasPrefix(k, "GOVC_") {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "/"+l.VSphere().Datacenter+"/vm/lab-cmd-probe") {
		t.Fatalf("govc ls vm with lab.env's settings: %v\n%s", err, b)
	}
}
