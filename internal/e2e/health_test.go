package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

// healthOutput is the root configuration's copy of hipchatdc_health's attributes.
type healthOutput struct {
	SelfCheckPassed       *bool              `json:"self_check_passed"`
	SelfCheckOutput       *string            `json:"self_check_output"`
	CertificateNotAfter   *string            `json:"certificate_not_after"`
	CertificateDaysLeft   *int64             `json:"certificate_days_left"`
	NFSSizeBytes          *int64             `json:"nfs_size_bytes"`
	NFSFreeBytes          *int64             `json:"nfs_free_bytes"`
	NFSFreePercent        *float64           `json:"nfs_free_percent"`
	PostgresDataDirectory *string            `json:"postgres_data_directory"`
	PostgresSizeBytes     *int64             `json:"postgres_size_bytes"`
	PostgresFreeBytes     *int64             `json:"postgres_free_bytes"`
	ClockOffsets          map[string]float64 `json:"clock_offsets"`
	MaxClockOffset        *float64           `json:"max_clock_offset"`
	LastBackupStatus      *string            `json:"last_backup_status"`
	LastBackupFinished    *string            `json:"last_backup_finished"`
	Problems              []string           `json:"problems"`
}

// deref is *p, or nil, for logging.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestAccModule_healthChecks deploys the module with a certificate 10 days from expiry, fills
// the data stores VM's NFS volume and sets the lab's NTP server 90 s ahead of the guests'
// clock; hipchatdc_health reports the days, the bytes and the offsets the guests really have,
// and `terraform plan` warns with the module's check block (certificate, NFS volume, clock,
// backup, and the node's self-check, which cannot write to a full share) and still succeeds.
// What cannot be read (VMs that do not answer, NTP answers lost) is reported in problems, a
// warning of its own, and the rest is still read.
func TestAccModule_healthChecks(t *testing.T) {
	// Not parallel: it skews the lab's NTP server (SetNTPOffset), which every other deployment's
	// health check reads.
	l := acctest.Lab(t)
	w := newWorkspace(t)
	v := l.VSphere()
	const dir = "healthcheck"
	if err := os.MkdirAll(filepath.Join(w.dir, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Ten and a half days: whole days left stay 10 for the next twelve hours, however slow
	// the run.
	leaf, err := w.ca.Issue(tlstest.Options{DNSNames: []string{"chat.example.com"}, NotAfter: time.Now().Add(10*24*time.Hour + 12*time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"expiring.pem": leaf.ChainPEM, "expiring.key": leaf.KeyPEM} {
		if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(n int) string { return acctest.LabAddress(t, l, false, n) }
	conf := fmt.Sprintf(`terraform {
  required_providers {
    hipchatdc = { source = "hipchatdc/hipchatdc" }
  }
}

module "cluster" {
  source = "../modules/small-scale-cluster"

  datacenter  = %q
  cluster     = %q
  datastore   = %q
  network     = %q
  hipchat_ova = %q
  server_ova  = %q
  gateway     = %q
  ntp_servers = [%q]

  node        = { name = "healthtest-node", hostname = "healthtest-node.example.com", address = %q }
  data_stores = { name = "healthtest-data", hostname = "healthtest-data.example.com", address = %q, nfs_server = "ganesha" }
  proxy       = { name = "healthtest-proxy", hostname = "healthtest-proxy.example.com", address = %q }

  public_hostname   = "chat.example.com"
  certificate_pem   = file("../expiring.pem")
  private_key_pem   = file("../expiring.key")
  database_password = "healthtest-db-secret"
  redis_password    = "healthtest-redis-secret"
}

# The same data source outside the check block, for the test to read its values. It reads the
# module's outputs, which are known at plan time (they come from variables): depends_on makes
# Terraform read it after the module's VMs are in place, as the module's check block is.
data "hipchatdc_health" "h" {
  depends_on = [module.cluster]

  node_address        = module.cluster.addresses.node
  data_stores_address = module.cluster.addresses.data_stores
  proxy_address       = module.cluster.addresses.proxy
  public_hostname     = "chat.example.com"
}

output "health" {
  value     = data.hipchatdc_health.h
  sensitive = true # the ssh block's password attributes (unset) are sensitive
}
`, v.Datacenter, v.Cluster, v.Datastore, v.Network, acctest.OVA(t, lab.KindNode, 40), acctest.OVA(t, lab.KindDebian, 60),
		acctest.Gateway(l, false), l.NTPServer(), addr(121), addr(122), addr(123))
	if err := os.WriteFile(filepath.Join(w.dir, dir, "main.tf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	w.mustTF(dir, "get")
	destroyed := false
	t.Cleanup(func() {
		l.SetNTPOffset(0)
		if !destroyed {
			_, _ = w.tf(dir, "destroy", "-auto-approve", "-input=false")
		}
	})
	start := time.Now()
	out, err := w.tf(dir, "apply", "-auto-approve", "-input=false", "-no-color")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply: %v", time.Since(start).Round(time.Millisecond))
	// The module's check block reads the VMs' attributes: Terraform defers its read to the
	// apply, after the VMs exist, instead of reading VMs that are not there yet in the plan.
	if strings.Contains(out, "could not be read") {
		t.Errorf("the apply's plan read the health of VMs not yet made:\n%s", out)
	}
	health := func() healthOutput {
		t.Helper()
		var h healthOutput
		if err := json.Unmarshal([]byte(w.mustTF(dir, "output", "-json", "health")), &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	// planned is the health that plan file p read, from the plan's output name.
	planned := func(p, name string) healthOutput {
		t.Helper()
		var plan struct {
			PlannedValues struct {
				Outputs map[string]struct {
					Value healthOutput `json:"value"`
				} `json:"outputs"`
			} `json:"planned_values"`
		}
		if err := json.Unmarshal([]byte(w.mustTF(dir, "show", "-json", p)), &plan); err != nil {
			t.Fatal(err)
		}
		return plan.PlannedValues.Outputs[name].Value
	}
	data := func(cmd string) string { return acctest.GuestExec(t, l, "healthtest-data", cmd) }
	// space is the file system of dir on the data stores VM as df sees it: size and available.
	space := func(dir string) (size, avail int64) {
		f := strings.Fields(data("stat -f -c '%S %b %a' " + dir))
		if len(f) != 3 {
			t.Fatalf("stat -f %s on the data stores VM: %q", dir, f)
		}
		n := make([]int64, 3)
		for i := range f {
			if n[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
				t.Fatal(err)
			}
		}
		return n[0] * n[1], n[0] * n[2]
	}

	// Right after the apply, read with the deployment: healthy but for the certificate.
	h := health()
	if len(h.Problems) != 0 || h.SelfCheckPassed == nil || !*h.SelfCheckPassed || h.NFSFreeBytes == nil || *h.NFSFreeBytes == 0 ||
		h.LastBackupStatus == nil || *h.LastBackupStatus != "never" || h.MaxClockOffset == nil || *h.MaxClockOffset > 1 {
		t.Errorf("health right after the apply: %+v", h)
	}

	// The faults, for real: a full NFS volume (the lab's tmpfs, made small first so that
	// filling it costs little memory), and NTP servers 90 s ahead of every guest.
	const nfsPath = "/srv/hipchat-nfs"
	data("mount -n -o remount,size=32m /srv && { dd if=/dev/zero of=" + nfsPath + "/filler bs=1M 2>/dev/null; true; }")
	nfsSize, nfsAvail := space(nfsPath)
	if nfsAvail != 0 {
		t.Fatalf("the NFS volume still has %d bytes free after filling it", nfsAvail)
	}
	const skew = 90 * time.Second
	l.SetNTPOffset(skew)

	out, err = w.tf(dir, "plan", "-input=false", "-no-color", "-out=faults.tfplan")
	if err != nil {
		t.Fatalf("plan failed: the health checks must only warn: %v", err)
	}
	for _, want := range []string{
		acctest.Wrapped(fmt.Sprintf("The certificate the proxy serves for chat.example.com expires in 10 days (%s), fewer than var.min_certificate_days = 30",
			leaf.Cert.NotAfter.UTC().Format(time.RFC3339))),
		acctest.Wrapped(fmt.Sprintf("The NFS volume of the data stores VM (%s) has 0 bytes free of %d (0.00%%), under var.min_free_percent = 10%%", nfsPath, nfsSize)),
		acctest.Wrapped("A VM's clock is off from its NTP servers by more than var.max_clock_offset = 1 s (seconds the guest is ahead, by VM:") +
			`\s+data_stores\s+-(89|90)\.\d{3},\s+node\s+-(89|90)\.\d{3},\s+proxy\s+-(89|90)\.\d{3}\)`,
		acctest.Wrapped("No backup has ever run on the data stores VM"),
		acctest.Wrapped("The Hipchat node's self-check fails (it cannot use its data stores): postgres: OK; redis: OK; nfs: FAILED"),
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("plan does not warn %s", want)
		}
	}
	if n := strings.Count(out, "Warning: Check block assertion failed"); n != 5 {
		t.Errorf("plan has %d check warnings, want 5 (certificate, NFS, clock, backup, self-check):\n%s", n, out)
	}

	// The values, as the data source read them in that plan, against what the guests have.
	h = planned("faults.tfplan", "health")
	t.Logf("health with the faults: certificate %v days (%v), NFS %v of %v bytes free (%v%%), Postgres %v of %v bytes free, clocks %v s, self-check %v, backup %v",
		deref(h.CertificateDaysLeft), deref(h.CertificateNotAfter), deref(h.NFSFreeBytes), deref(h.NFSSizeBytes), deref(h.NFSFreePercent),
		deref(h.PostgresFreeBytes), deref(h.PostgresSizeBytes), h.ClockOffsets, deref(h.SelfCheckPassed), deref(h.LastBackupStatus))
	if h.CertificateDaysLeft == nil || *h.CertificateDaysLeft != 10 || int64(math.Floor(time.Until(leaf.Cert.NotAfter).Hours()/24)) != 10 {
		t.Errorf("certificate_days_left = %v, want 10 (the certificate expires %s)", h.CertificateDaysLeft, leaf.Cert.NotAfter)
	}
	if h.CertificateNotAfter == nil || *h.CertificateNotAfter != leaf.Cert.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("certificate_not_after = %v, want %s", h.CertificateNotAfter, leaf.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if h.NFSSizeBytes == nil || *h.NFSSizeBytes != nfsSize || h.NFSFreeBytes == nil || *h.NFSFreeBytes != 0 || h.NFSFreePercent == nil || *h.NFSFreePercent != 0 {
		t.Errorf("NFS volume: size %v free %v (%v%%), the guest has %d bytes, 0 free", h.NFSSizeBytes, h.NFSFreeBytes, h.NFSFreePercent, nfsSize)
	}
	pgDir := data(`pg_lsclusters -h | awk '$2 == "main" { print $6 }'`)
	pgSize, pgAvail := space(pgDir)
	// The Postgres data directory's file system is shared with the host and its other work:
	// its size is exact, its free space may move a little between the two reads.
	if h.PostgresDataDirectory == nil || *h.PostgresDataDirectory != pgDir || h.PostgresSizeBytes == nil || *h.PostgresSizeBytes != pgSize ||
		h.PostgresFreeBytes == nil || math.Abs(float64(*h.PostgresFreeBytes-pgAvail)) > 256<<20 {
		t.Errorf("Postgres data directory: %v size %v free %v, the guest has %s with %d bytes, %d free", h.PostgresDataDirectory, h.PostgresSizeBytes, h.PostgresFreeBytes, pgDir, pgSize, pgAvail)
	}
	// Every guest shares the host's clock, so each is exactly 90 s behind the lab's NTP
	// server; the measurement is off by at most half its round trip, far below a second.
	for _, vm := range []string{"node", "data_stores", "proxy"} {
		if off, ok := h.ClockOffsets[vm]; !ok || math.Abs(off+skew.Seconds()) > 1 {
			t.Errorf("clock_offsets[%s] = %v (present %v), want %v", vm, off, ok, -skew.Seconds())
		}
	}
	if h.MaxClockOffset == nil || math.Abs(*h.MaxClockOffset-skew.Seconds()) > 1 {
		t.Errorf("max_clock_offset = %v, want %v", h.MaxClockOffset, skew.Seconds())
	}
	if h.SelfCheckPassed == nil || *h.SelfCheckPassed || h.SelfCheckOutput == nil || !strings.Contains(*h.SelfCheckOutput, "nfs: FAILED") {
		t.Errorf("self-check on a full share: passed %v, output %v", h.SelfCheckPassed, h.SelfCheckOutput)
	}
	if h.LastBackupStatus == nil || *h.LastBackupStatus != "never" || h.LastBackupFinished != nil || len(h.Problems) != 0 {
		t.Errorf("backup %v finished %v, problems %q: want never, null, none", h.LastBackupStatus, h.LastBackupFinished, h.Problems)
	}

	// What cannot be read is reported, not failed on. A VM whose SSH stops answering shows in
	// its resource's refresh too ("guest not verified", a planned change), and Terraform then
	// defers the check to the apply; so the faults here are ones the resources do not see: the
	// NTP server's answers to the proxy lost (dropped by an nftables table of its own beside the
	// provider's), and a
	// copy of the data source pointed at addresses where no VM answers.
	acctest.GuestExec(t, l, "healthtest-proxy", "nft add table inet healthtest && nft add chain inet healthtest in '{ type filter hook input priority 0; }' && nft add rule inet healthtest in udp sport 123 drop")
	nowhere := fmt.Sprintf(`data "hipchatdc_health" "nowhere" {
  node_address        = %q
  data_stores_address = %q
  proxy_address       = %q
  public_hostname     = "chat.example.com"
}

output "nowhere" {
  value     = data.hipchatdc_health.nowhere
  sensitive = true
}
`, addr(124), addr(125), addr(126))
	if err := os.WriteFile(filepath.Join(w.dir, dir, "nowhere.tf"), []byte(nowhere), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = w.tf(dir, "plan", "-input=false", "-no-color", "-out=unreachable.tfplan")
	if err != nil {
		t.Fatalf("plan with VMs that cannot be read failed: they must only warn: %v", err)
	}
	for _, want := range []string{
		`(?s)Warning: Check block assertion failed.*` + acctest.Wrapped(fmt.Sprintf("Part of the deployment's health could not be read: the reverse proxy (%s): none of its NTP servers answered: %s: timed out.", addr(123), l.NTPServer())),
		acctest.Wrapped("The certificate the proxy serves for chat.example.com expires in 10 days"),
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("plan with the proxy's NTP answers lost does not warn %s:\n%s", want, out)
		}
	}
	if h := planned("unreachable.tfplan", "health"); len(h.ClockOffsets) != 2 || h.CertificateDaysLeft == nil || len(h.Problems) != 1 {
		t.Errorf("health with the proxy's NTP answers lost: clock_offsets %v (want node and data_stores), days %v, problems %q", h.ClockOffsets, h.CertificateDaysLeft, h.Problems)
	}
	n := planned("unreachable.tfplan", "nowhere")
	if len(n.Problems) != 4 || n.SelfCheckPassed != nil || n.CertificateDaysLeft != nil || n.NFSFreeBytes != nil || n.LastBackupStatus != nil || len(n.ClockOffsets) != 0 {
		t.Errorf("health of VMs that do not exist: %+v", n)
	}
	for i, want := range []string{
		fmt.Sprintf("the Hipchat node (%s): cannot connect over SSH", addr(124)),
		fmt.Sprintf("the data stores VM (%s): cannot connect over SSH", addr(125)),
		fmt.Sprintf("the reverse proxy (%s): cannot connect over SSH", addr(126)),
		fmt.Sprintf("the reverse proxy (%s:443): no TLS handshake for chat.example.com", addr(126)),
	} {
		if i >= len(n.Problems) || !strings.HasPrefix(n.Problems[i], want) {
			t.Errorf("problems %q: want %q at %d", n.Problems, want, i)
		}
	}
	if err := os.Remove(filepath.Join(w.dir, dir, "nowhere.tf")); err != nil {
		t.Fatal(err)
	}

	w.mustTF(dir, "destroy", "-auto-approve", "-input=false")
	destroyed = true
	if n := acctest.VMCount(t, "healthtest-"); n != 0 {
		t.Errorf("%d VMs left after destroy", n)
	}
}
