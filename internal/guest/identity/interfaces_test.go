package identity

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRenderInterfacesGolden(t *testing.T) {
	addr := netip.MustParsePrefix("10.0.0.100/24")
	gw := netip.MustParseAddr("10.0.0.1")
	dns := []string{"10.0.0.2", "10.0.0.3"}
	inputs, err := filepath.Glob("testdata/*.input")
	must(t, err)
	if len(inputs) < 4 {
		t.Fatalf("found only %d inputs", len(inputs))
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".input")
		t.Run(name, func(t *testing.T) {
			existing, err := os.ReadFile(in)
			must(t, err)
			got := RenderInterfaces(string(existing), addr, gw, dns)
			guesttest.Golden(t, name+".golden", got)

			// What was written parses back to what was asked.
			s, err := ParseInterfaces(got)
			must(t, err)
			if !s.Auto || s.Method != "static" || s.Address != addr || s.Gateway != gw || !slices.Equal(s.DNS, dns) {
				t.Errorf("parsed back %+v", s)
			}
			// Rendering again is a fixed point: an unchanged identity rewrites nothing.
			if again := RenderInterfaces(got, addr, gw, dns); again != got {
				t.Errorf("second render differs:\n%s", again)
			}
		})
	}
}

func TestRenderStanzaIsTheGuides(t *testing.T) {
	got := RenderStanza(netip.MustParsePrefix("10.0.0.100/24"), netip.MustParseAddr("10.0.0.1"), nil)
	want := "auto eth0\niface eth0 inet static\naddress 10.0.0.100\nnetmask 255.255.255.0\ngateway 10.0.0.1\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseInterfaces(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Stanza
	}{
		{"dhcp-ubuntu.input", Stanza{Auto: true, Method: "dhcp"}},
		{"static-with-others.input", Stanza{Auto: true, Method: "static", Address: netip.MustParsePrefix("10.0.0.5/16"),
			Gateway: netip.MustParseAddr("10.0.0.254"), DNS: []string{"10.0.0.53"}}},
		{"guide-with-comments.input", Stanza{Auto: true, Method: "static", Address: netip.MustParsePrefix("10.0.0.100/24"),
			Gateway: netip.MustParseAddr("10.0.0.1")}},
		{"empty.input", Stanza{}},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		must(t, err)
		got, err := ParseInterfaces(string(b))
		must(t, err)
		if got.Auto != tc.want.Auto || got.Method != tc.want.Method || got.Address != tc.want.Address ||
			got.Gateway != tc.want.Gateway || !slices.Equal(got.DNS, tc.want.DNS) {
			t.Errorf("%s: got %+v, want %+v", tc.file, got, tc.want)
		}
	}
	if _, err := ParseInterfaces("iface eth0 inet static\nnetmask 255.0.255.0\n"); err == nil {
		t.Error("a non-contiguous netmask was accepted")
	}
}

func TestNetmask(t *testing.T) {
	for bits, want := range map[int]string{0: "0.0.0.0", 8: "255.0.0.0", 23: "255.255.254.0", 24: "255.255.255.0", 32: "255.255.255.255"} {
		if got := Netmask(bits); got != want {
			t.Errorf("Netmask(%d) = %s, want %s", bits, got, want)
		}
		if n, err := maskBits(want); err != nil || n != bits {
			t.Errorf("maskBits(%s) = %d, %v", want, n, err)
		}
	}
}

func TestRenderHostsGolden(t *testing.T) {
	debian := "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n\n# IPv6\n::1\tlocalhost ip6-localhost\n10.0.0.9\tdata.example.com\n"
	got := RenderHosts(debian, "hipchat-worker-1.example.com", "debian")
	guesttest.Golden(t, "hosts.golden", got)
	if !hostsHasEntry(got, "hipchat-worker-1.example.com") || strings.Contains(got, "debian") {
		t.Errorf("hosts not as the guide asks:\n%s", got)
	}
	if again := RenderHosts(got, "hipchat-worker-1.example.com", "hipchat-worker-1.example.com"); again != got {
		t.Errorf("second render differs:\n%s", again)
	}
}

func TestTimesyncdGolden(t *testing.T) {
	shipped, err := os.ReadFile("testdata/timesyncd-shipped.conf")
	must(t, err)
	got := RenderTimesyncd(string(shipped), []string{"time1.example.com", "10.0.0.123"})
	guesttest.Golden(t, "timesyncd.conf.golden", got)
	if s := parseTimesyncd(got); !slices.Equal(s, []string{"time1.example.com", "10.0.0.123"}) {
		t.Errorf("parsed back %v", s)
	}
	if again := RenderTimesyncd(got, []string{"time1.example.com", "10.0.0.123"}); again != got {
		t.Errorf("second render differs")
	}
	if got := RenderTimesyncd("", []string{"a"}); got != "[Time]\nNTP=a\n" {
		t.Errorf("from nothing: %q", got)
	}
}

func TestParseNTPConf(t *testing.T) {
	conf := "driftfile /var/lib/ntp/ntp.drift\nserver time1.example.com iburst\n#server old.example.com iburst\nserver time2.example.com iburst\nrestrict -4 default kod\n"
	if got := parseNTPConf(conf); !slices.Equal(got, []string{"time1.example.com", "time2.example.com"}) {
		t.Fatalf("got %v", got)
	}
}

// marker begins a section line of this recipe, as guest.EchoSection prints it.
const marker = "@@hipchatdc-identity@@"

func TestParseObservation(t *testing.T) {
	out := strings.Join([]string{
		marker + " interfaces", "auto lo", "iface lo inet loopback", "auto eth0", "iface eth0 inet static", "address 10.0.0.5", "netmask 255.255.255.0", "gateway 10.0.0.1", "",
		marker + " addr", "2: eth0    inet 10.0.0.7/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever", "",
		marker + " hostname", "node1.example.com", "",
		marker + " hosts", "127.0.0.1 localhost", "",
		marker + " ntp", "server a.example.com iburst", "",
		marker + " timezone", "Etc/UTC", "",
		marker + " localtime", "/usr/share/zoneinfo/Europe/Berlin", "",
		"@@hipchatdc-redis@@ conf", "port 6379", // another recipe's read, run in the same command
	}, "\n")
	o, err := parseObservation(out, Appliance)
	must(t, err)
	id := o.Identity
	// The kernel's address wins over the file's: that is where the guest answers.
	if id.Address != netip.MustParsePrefix("10.0.0.7/24") || id.Hostname != "node1.example.com" ||
		!slices.Equal(id.NTPServers, []string{"a.example.com"}) || id.Timezone != "Europe/Berlin" {
		t.Fatalf("identity %+v", id)
	}
	if len(o.Incomplete) != 3 { // address drift, missing hosts line, timezone files disagree
		t.Fatalf("incomplete = %q", o.Incomplete)
	}
	if _, err := parseObservation("garbage", Debian); err == nil {
		t.Fatal("output without sections was accepted")
	}
}

func TestValidateRefusesWhatCouldReachAShell(t *testing.T) {
	for _, bad := range []Identity{
		{Hostname: "a;reboot"},
		{Hostname: "$(id)"},
		{NTPServers: []string{"ok.example.com", "x,y"}},
		{Timezone: "../../etc/passwd"},
		{DNS: []string{"dns.example.com"}},
		{Address: netip.MustParsePrefix("fd00::1/64")},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted it", bad)
		}
	}
	good := Identity{Address: netip.MustParsePrefix("10.0.0.100/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
		DNS: []string{"10.0.0.2"}, Hostname: "hipchat-worker-1.example.com", NTPServers: []string{"time1.example.com", "10.0.0.123"}, Timezone: "UTC"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}
