// Command hipchatdc-lab runs the provider's lab (internal/lab) in the foreground for demos and
// manual work: an in-process vCenter simulator and one guest sandbox per powered-on VM.
//
//	hipchatdc-lab start --dir D [--private] [--esxi N]   runs until SIGINT/SIGTERM or "stop"
//	hipchatdc-lab stop --dir D                stops the lab running in D and waits for it
//
// start writes D/lab.env (shell export lines) and D/lab.json with how to reach vSphere and the
// guests, and D/lab.pid. The lab's own files live in D/lab and are removed at stop.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/ovatest"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("hipchatdc-lab: ")
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "folder for lab.env, lab.json, lab.pid and the lab's files (required)")
	private := fs.Bool("private", false, "put node/data-store guests on a private network behind a jump host")
	esxi := fs.Int("esxi", 0, "start: also serve N standalone ESXi hosts (no vCenter), HIPCHATDC_ESX1_SERVER... in lab.env")
	kind := fs.String("kind", lab.KindDebian, "ova: the guest kind the lab boots for VMs from this OVA (node, debian, debian-bare)")
	diskGiB := fs.Int("disk-gib", 40, "ova: declared capacity of the OVA's disk")
	dataMiB := fs.Int64("data-mib", 1, "ova: payload written into the disk (what an upload moves)")
	out := fs.String("out", "", "ova: where to write the OVA")
	release := fs.String("release", "", "ova: kind node: the release the node's page names (release: R), to tell two OVAs apart in an upgrade")
	failSelfCheck := fs.Bool("fail-selfcheck", false, "ova: kind node: a broken release whose \"hipchat datacenter selfcheck\" always fails")
	_ = fs.Parse(os.Args[2:])
	var err error
	if os.Args[1] == "ova" {
		if *out == "" {
			usage()
		}
		err = writeOVA(*out, *kind, *diskGiB, *dataMiB, *release, *failSelfCheck)
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	if *dir == "" {
		usage()
	}
	switch os.Args[1] {
	case "start":
		err = start(*dir, *private, *esxi)
	case "stop":
		err = stop(*dir)
	default:
		usage()
	}
	if err != nil {
		log.Fatal(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hipchatdc-lab start --dir DIR [--private] [--esxi N]\n       hipchatdc-lab stop --dir DIR\n       hipchatdc-lab ova --out FILE.ova [--kind node|debian|debian-bare] [--disk-gib N] [--data-mib N] [--release R] [--fail-selfcheck]\n\nstart reads "+lab.EnvNFCBandwidth+" (e.g. 110MiB/s) and "+lab.EnvBootDelay+" (e.g. node=30s)")
	os.Exit(2)
}

func start(dir string, private bool, esxi int) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pidFile := filepath.Join(dir, "lab.pid")
	if pid, err := readPID(pidFile); err == nil && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("a lab already runs in %s (pid %d)", dir, pid)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	opts := lab.Options{Dir: filepath.Join(dir, "lab"), PrivateNetwork: private, StandaloneESXi: esxi, Logf: log.Printf}
	// A realistic network, for benchmarks: see lab.EnvNFCBandwidth and lab.EnvBootDelay.
	var delays map[string]time.Duration
	if v := os.Getenv(lab.EnvNFCBandwidth); v != "" {
		if opts.NFCBandwidth, err = lab.ParseBandwidth(v); err != nil {
			return fmt.Errorf("%s: %w", lab.EnvNFCBandwidth, err)
		}
	}
	if v := os.Getenv(lab.EnvBootDelay); v != "" {
		if delays, err = lab.ParseBootDelays(v); err != nil {
			return fmt.Errorf("%s: %w", lab.EnvBootDelay, err)
		}
	}
	l, err := lab.Start(context.Background(), opts)
	if err != nil {
		return err
	}
	for kind, d := range delays {
		l.SetBootDelay(kind, d)
	}
	env := l.Env()
	if err := writeFiles(dir, env); err != nil {
		_ = l.Stop()
		return err
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		_ = l.Stop()
		return err
	}
	fmt.Print(summary(l, env, dir, private, os.Getpid()))

	sig := <-sigs
	log.Printf("%v: stopping", sig)
	for _, f := range []string{"lab.env", "lab.json"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	err = l.Stop()
	_ = os.Remove(pidFile)
	return err
}

// summary is what start prints: what a configuration for the lab needs (placement, the
// network's gateway and the addresses left free for static ones) and how to use it.
func summary(l *lab.Lab, env map[string]string, dir string, private bool, pid int) string {
	var b strings.Builder
	v := l.VSphere()
	fmt.Fprintf(&b, `hipchatdc lab running (pid %d)
  vSphere:  %s  user %s  password %s  CA %s
  place VMs in datacenter %s, pool %s, datastore %s, network %q`, pid, v.URL, v.User, v.Password, v.CAFile,
		v.Datacenter, v.ResourcePool, v.Datastore, v.Network)
	if private {
		fmt.Fprintf(&b, " (private: %q, jump host %s)", v.PrivateNetwork, env["HIPCHATDC_SSH_BASTION_HOST"])
	}
	for i, e := range l.StandaloneESXi() {
		fmt.Fprintf(&b, "\n  ESXi %d:   %s  host %s (datacenter %s, no cluster), datastore %s, network %q, same user and password, CA %s",
			i+1, e.URL, e.Host, e.Datacenter, e.Datastore, e.Network, e.CAFile)
	}
	first, last := l.StaticRange()
	fmt.Fprintf(&b, `
  network:  %s  gateway %s  static addresses %s to %s (ipv4_netmask = %d)
            VMs get their first address from .%d up; no DNS or NTP server: dns_servers and ntp_servers are written, not used
  guests:   extraConfig %s = node | debian | debian-bare
  use:      . %s    then terraform apply, ssh -F "$HIPCHATDC_SSH_CONFIG" root@ADDRESS, or govc ls (make govc builds the pinned govc)
  stop:     Ctrl-C, or hipchatdc-lab stop --dir %s
`, l.PublicSubnet(), l.HostAddress(), first, last, l.PublicSubnet().Bits(), lab.FirstBootstrapHost,
		lab.KindKey, filepath.Join(dir, "lab.env"), dir)
	return b.String()
}

func writeFiles(dir string, env map[string]string) error {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# hipchatdc lab: source this file (. lab.env)\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
	}
	if err := os.WriteFile(filepath.Join(dir, "lab.env"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	j, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "lab.json"), append(j, '\n'), 0o600)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func readPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// stop signals the lab running in dir and waits until it has removed everything.
func stop(dir string) error {
	pid, err := readPID(filepath.Join(dir, "lab.pid"))
	if err != nil {
		return fmt.Errorf("no lab running in %s: %w", dir, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("lab process %d is gone", pid)
		}
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("lab process %d did not stop", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// writeOVA writes a small OVA whose VMs the lab boots as guests of the given kind: the lab's
// stand-ins for the Hipchat OVA (kind node) and a Debian server OVA (kind debian). Each carries
// a SHA256 manifest, as a publisher's OVA does, so the import checks it. A node OVA may name its
// release (two OVAs of an upgrade) and be a broken release whose self-check fails.
func writeOVA(path, kind string, diskGiB int, dataMiB int64, release string, failSelfCheck bool) error {
	extra := map[string]string{lab.KindKey: kind}
	if release != "" {
		extra[lab.ReleaseKey] = release
	}
	if failSelfCheck {
		extra[lab.SelfCheckKey] = lab.SelfCheckFails
	}
	return ovatest.Write(path, ovatest.Options{
		Name: "lab-" + kind, NumCPUs: 2, MemoryMB: 4096, DiskCapacityGiB: diskGiB, DataBytes: dataMiB << 20, Manifest: "SHA256",
		ExtraConfig: extra,
	})
}
