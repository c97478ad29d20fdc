package spec

import (
	"net/netip"
	"strings"
	"testing"
)

func TestHardwareMinimums(t *testing.T) {
	cases := []struct {
		role             Role
		cpus, mem, disk  int64
		wantErrSubstring string
	}{
		{RoleNode, 8, 16384, 40, ""},
		{RoleNode, 4, 16384, 40, "needs at least 8 vCPU; got 4"},
		{RoleNode, 8, 16383, 40, "at least 16384 MiB"},
		{RoleNode, 8, 16384, 39, "at least 40 GB"},
		{RoleDataStores, 8, 16384, 60, ""},
		{RoleDataStores, 8, 16384, 59, "at least 60 GB"},
		{RoleReverseProxy, 2, 2048, 0, ""},
		{RoleReverseProxy, 1, 2048, 0, "the reverse proxy needs at least 2 vCPU"},
		{RoleReverseProxy, 2, 1024, 0, "at least 2048 MiB (2 GB)"},
	}
	for _, c := range cases {
		var msgs []string
		for _, err := range []error{CheckNumCPUs(c.role, c.cpus), CheckMemory(c.role, c.mem), CheckDisk(c.role, c.disk)} {
			if err != nil {
				msgs = append(msgs, err.Error())
			}
		}
		got := strings.Join(msgs, "\n")
		if c.wantErrSubstring == "" && got != "" {
			t.Errorf("%s %d/%d/%d: unexpected %q", c.role, c.cpus, c.mem, c.disk, got)
		}
		if c.wantErrSubstring != "" && !strings.Contains(strings.ReplaceAll(got, " (small-scale guide, hardware requirements)", ""), c.wantErrSubstring) {
			t.Errorf("%s %d/%d/%d: got %q, want it to contain %q", c.role, c.cpus, c.mem, c.disk, got, c.wantErrSubstring)
		}
	}
}

func TestNFSAndGrow(t *testing.T) {
	if err := CheckNFSVolume(39); err == nil || !strings.Contains(err.Error(), "at least 40 GB") {
		t.Errorf("39 GB: %v", err)
	}
	if err := CheckNFSVolume(40); err != nil {
		t.Errorf("40 GB: %v", err)
	}
	if err := CheckGrow(60, 50); err == nil || !strings.Contains(err.Error(), "cannot shrink") {
		t.Errorf("shrink: %v", err)
	}
	if err := CheckGrow(60, 60); err != nil {
		t.Errorf("same: %v", err)
	}
}

func TestCheckDatabaseName(t *testing.T) {
	cases := map[string]string{
		"hipchat_postgres":                "",
		"hipchat1":                        "",              // exactly 8
		"h23456789012345678901234567890":  "",              // exactly 30
		"hipchat":                         "7 characters",  // 7
		"h234567890123456789012345678901": "31 characters", // 31
		"1hipchat_db":                     "start with a letter",
		"hipchat db":                      "found \" \"",
		"hipchät_db":                      "found \"ä\"",
		"ähipchat_db":                     "start with a letter",
		"hip-chat.db_1":                   "",
	}
	for name, want := range cases {
		err := CheckDatabaseName(name)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: unexpected %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: got %v, want %q", name, err, want)
		}
	}
}

func TestCheckDatabaseUser(t *testing.T) {
	for name, want := range map[string]string{
		"hipchat_user": "",
		"postgres":     "superuser",
		"Postgres":     "superuser",
		"pg_monitor":   "reserved",
		"Hipchat":      "lowercase",
		"9user":        "lowercase",
	} {
		err := CheckDatabaseUser(name)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: got %v, want %q", name, err, want)
		}
	}
}

func TestNetworkRules(t *testing.T) {
	if _, err := CheckIPv4("10.0.0.100"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"10.0.0", "fd00::1", "127.0.0.1", "0.0.0.0", "hipchat"} {
		if _, err := CheckIPv4(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := CheckPrivate(netip.MustParseAddr("8.8.8.8")); err == nil || !strings.Contains(err.Error(), "allow_public_ipv4") {
		t.Errorf("public: %v", err)
	}
	if err := CheckPrivate(netip.MustParseAddr("192.168.1.5")); err != nil {
		t.Error(err)
	}
	p, err := CheckPrefix(netip.MustParseAddr("10.0.0.100"), 24)
	if err != nil || p.String() != "10.0.0.100/24" {
		t.Fatalf("prefix: %v %v", p, err)
	}
	if _, err := CheckPrefix(netip.MustParseAddr("10.0.0.1"), 31); err == nil {
		t.Error("/31 accepted")
	}
	if err := CheckGateway(p, "10.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := CheckGateway(p, "10.0.1.1"); err == nil || !strings.Contains(err.Error(), "outside the network 10.0.0.0/24") {
		t.Errorf("outside: %v", err)
	}
	if err := CheckGateway(p, "10.0.0.100"); err == nil {
		t.Error("own address accepted as gateway")
	}
}

func TestHostAndGatewayAddresses(t *testing.T) {
	for _, c := range []struct {
		prefix, gateway  string
		wantAddr, wantGw string
	}{
		{"10.0.0.100/24", "10.0.0.1", "", ""},
		{"10.0.0.255/24", "10.0.0.1", "10.0.0.255 is the broadcast address of 10.0.0.0/24, not a host address; the hosts of 10.0.0.0/24 are 10.0.0.1 to 10.0.0.254", ""},
		{"10.0.0.0/24", "10.0.0.1", "10.0.0.0 is the network address of 10.0.0.0/24, not a host address", ""},
		{"10.0.0.103/30", "10.0.0.101", "10.0.0.103 is the broadcast address of 10.0.0.100/30, not a host address; the hosts of 10.0.0.100/30 are 10.0.0.101 to 10.0.0.102", ""},
		{"10.0.0.102/30", "10.0.0.101", "", ""},
		{"10.0.0.100/24", "10.0.0.255", "", "gateway 10.0.0.255 is the broadcast address of 10.0.0.0/24, not a host that can route"},
		{"10.0.0.100/24", "10.0.0.0", "", "gateway 10.0.0.0 is the network address of 10.0.0.0/24"},
		{"172.16.5.9/12", "172.31.255.255", "", "gateway 172.31.255.255 is the broadcast address of 172.16.0.0/12"},
		{"172.16.5.9/12", "172.16.0.1", "", ""},
		// A /31 is a point-to-point link (RFC 3021) and a /32 a single host: no network or
		// broadcast address, both addresses of a /31 are hosts'.
		{"10.0.0.0/31", "10.0.0.1", "", ""},
		{"10.0.0.1/31", "10.0.0.0", "", ""},
		{"10.0.0.7/32", "10.0.0.7", "", "is the node's own address"},
	} {
		p := netip.MustParsePrefix(c.prefix)
		if err := CheckHostAddress(p); c.wantAddr == "" && err != nil || c.wantAddr != "" && (err == nil || !strings.Contains(err.Error(), c.wantAddr)) {
			t.Errorf("address %s: got %v, want %q", p, err, c.wantAddr)
		}
		if err := CheckGateway(p, c.gateway); c.wantGw == "" && err != nil || c.wantGw != "" && (err == nil || !strings.Contains(err.Error(), c.wantGw)) {
			t.Errorf("address %s, gateway %s: got %v, want %q", p, c.gateway, err, c.wantGw)
		}
	}
}

func TestVSphereLimits(t *testing.T) {
	for _, c := range []struct {
		cpus, mem int64
		want      string
	}{
		{768, 16384, ""},
		{769, 16384, "vSphere allows at most 768 vCPUs per VM (vSphere 8 configuration maximums); got 769"},
		{1000000, 16384, "got 1000000"},
		{8, 16385, "vSphere requires memory in multiples of 4 MB; use 16384 or 16388"},
		{8, 16386, "use 16384 or 16388"},
		{8, 2, "vSphere requires memory in multiples of 4 MB; use 4"},
		{8, 4, ""},
	} {
		var msgs []string
		for _, err := range []error{CheckVSphereNumCPUs(c.cpus), CheckVSphereMemory(c.mem)} {
			if err != nil {
				msgs = append(msgs, err.Error())
			}
		}
		got := strings.Join(msgs, "\n")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%d vCPUs, %d MiB: got %q, want %q", c.cpus, c.mem, got, c.want)
		}
	}
}

func TestCheckHostnameForm(t *testing.T) {
	for name, want := range map[string]string{
		"node-1.example.com":  "",
		"Node-1.example.com":  `hostname "Node-1.example.com": DNS ignores case but the guest keeps its host name as written, so it would differ from what DNS and the other hosts use; use "node-1.example.com"`,
		"node-1.example.com.": `hostname "node-1.example.com.": a trailing dot marks a fully qualified DNS name but is no part of the guest's host name; use "node-1.example.com"`,
		"NODE-1.example.com.": `; use "node-1.example.com"`,
	} {
		err := CheckHostnameForm(name)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: got %v, want %q", name, err, want)
		}
	}
}

func TestNTPServerKey(t *testing.T) {
	for _, same := range [][2]string{
		{"time1.example.com", "TIME1.example.com."},
		{"10.0.0.1", "10.0.0.1"},
		{"::1", "0:0::1"},
	} {
		if NTPServerKey(same[0]) != NTPServerKey(same[1]) {
			t.Errorf("%q and %q are one server", same[0], same[1])
		}
	}
	if NTPServerKey("time1.example.com") == NTPServerKey("time2.example.com") {
		t.Error("two servers are one")
	}
}

func TestCheckHostname(t *testing.T) {
	for _, c := range []struct{ name, public, want string }{
		{"hipchat-worker-1.example.com", "hipchat.example.com", ""},
		{"hipchat", "", "resist"},
		{"hipchat.example.com", "", "resist"},
		{"chat.example.com", "CHAT.example.com.", "public DNS name"},
		{"-bad.example.com", "", "label"},
		{"bad_name", "", "label"},
		{"", "", "1 to 253"},
	} {
		err := CheckHostname(c.name, c.public)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q/%q: got %v, want %q", c.name, c.public, err, c.want)
		}
	}
}

func TestCheckNTPServer(t *testing.T) {
	for s, ok := range map[string]bool{
		"0.atlassian.pool.ntp.org": true, "10.0.0.1": true, "time1,time2": false, "": false, "bad host": false, "-x.example": false,
	} {
		if err := CheckNTPServer(s); (err == nil) != ok {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestRedisPersistenceIsTheGuidesList(t *testing.T) {
	var lines []string
	for _, s := range RedisPersistence {
		lines = append(lines, s.Name+" "+s.Value)
	}
	want := "appendonly no|appendfsync everysec|no-appendfsync-on-rewrite no|auto-aof-rewrite-min-size 64mb|auto-aof-rewrite-percentage 100|stop-writes-on-bgsave-error yes|rdbcompression yes|maxclients 10000|repl-timeout 60"
	if got := strings.Join(lines, "|"); got != want {
		t.Errorf("got %s", got)
	}
}

func TestIsGuideVersion(t *testing.T) {
	for _, c := range []struct {
		guide, version string
		want           bool
	}{
		{RedisGuideVersion, "3.2", true},
		{RedisGuideVersion, "3.2.6", true},
		{RedisGuideVersion, "3.20.1", false},
		{RedisGuideVersion, "7.0.15", false},
		{PostgresGuideMajor, "9.5.25", true},
		{PostgresGuideMajor, "9.6.1", false},
		{PostgresGuideMajor, "15.18", false},
		{RedisGuideVersion, "", false},
	} {
		if got := IsGuideVersion(c.guide, c.version); got != c.want {
			t.Errorf("IsGuideVersion(%q, %q) = %v, want %v", c.guide, c.version, got, c.want)
		}
	}
}

// TestCheckCPUSpeed: 2.8 GHz for the node and the data stores, 1 GHz for the proxy; exactly the
// minimum passes.
func TestCheckCPUSpeed(t *testing.T) {
	for _, c := range []struct {
		role Role
		mhz  int32
		want string
	}{
		{RoleNode, 2800, ""},
		{RoleNode, 2799, `a Hipchat node needs CPUs of 2.8 GHz or faster (small-scale guide, hardware requirements); host "esx" runs at 2799 MHz`},
		{RoleDataStores, 2294, "the data stores node needs CPUs of 2.8 GHz"},
		{RoleReverseProxy, 1000, ""},
		{RoleReverseProxy, 999, "the reverse proxy needs CPUs of 1.0 GHz"},
	} {
		err := CheckCPUSpeed(c.role, "esx", c.mhz)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s at %d MHz: %v, want %q", c.role, c.mhz, err, c.want)
		}
	}
}
