package redis

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

func TestRenderGolden(t *testing.T) {
	c := Config{Address: netip.MustParseAddr("10.0.0.20"), Password: `s3cret "quoted" \ tab	end`}
	got := Render(c)
	guesttest.Golden(t, "redis.conf.golden", got)

	// The file parses back to what was asked, with Redis's own quoting rules.
	m, err := ParseConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	if m["requirepass"] != c.Password {
		t.Errorf("requirepass parsed back as %q, want %q", m["requirepass"], c.Password)
	}
	if m["port"] != "6379" || m["bind"] != "10.0.0.20 127.0.0.1" {
		t.Errorf("port %q bind %q", m["port"], m["bind"])
	}
	for _, s := range spec.RedisPersistence {
		if m[s.Name] != s.Value {
			t.Errorf("%s = %q, the guide says %q", s.Name, m[s.Name], s.Value)
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, pw := range []string{"plain", `a"b`, `back\slash`, "new\nline", "ünïcode", "'single'", "sp ace", "\x01\x7f"} {
		args, err := splitArgs("requirepass " + quote(pw))
		if err != nil || len(args) != 2 || args[1] != pw {
			t.Errorf("%q: got %q, %v", pw, args, err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Address: netip.MustParseAddr("10.0.0.20"), Password: "x"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"no password": {Address: ok.Address},
		"no address":  {Password: "x"},
		"bad port":    {Address: ok.Address, Password: "x", Port: 70000},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// marker is the start of a section line of this recipe, as guest.EchoSection prints it.
const marker = "@@hipchatdc-redis@@ "

func TestParseReadOutput(t *testing.T) {
	c := Config{Address: netip.MustParseAddr("10.0.0.20"), Password: "pw"}
	conf := Render(c)
	live := "OK\nbind\n10.0.0.20 127.0.0.1\nport\n6379\nappendonly\nno\nappendfsync\neverysec\nno-appendfsync-on-rewrite\nno\n" +
		"auto-aof-rewrite-min-size\n67108864\nauto-aof-rewrite-percentage\n100\nstop-writes-on-bgsave-error\nyes\n" +
		"rdbcompression\nyes\nmaxclients\n10000\nrepl-timeout\n60\n"
	out := marker + "conf\n" + conf + "\n" + marker + "live\n" + live + marker + "info\nOK\r\n# Server\r\nredis_version:7.0.15\r\nprocess_id:42\r\n" +
		marker + "binary\nRedis server v=7.0.14 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n\n" + marker + "end\n" +
		"@@hipchatdc-postgres@@ other\nnot ours\n"
	st, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Config != conf || !st.Running || st.PID != 42 || st.Version != "7.0.15" || st.Password != "pw" || st.Address() != c.Address {
		t.Fatalf("parsed %+v", st)
	}
	if d := st.Drift(c); len(d) != 0 {
		t.Errorf("no drift expected, got %q", d)
	}

	// A setting changed at runtime (CONFIG SET) is drift even though the file is right.
	st2, _ := Parse(strings.Replace(out, "appendonly\nno", "appendonly\nyes", 1))
	if d := st2.Drift(c); len(d) != 1 || !strings.Contains(d[0], "appendonly") {
		t.Errorf("drift %q", d)
	}
	// A wrong password: not running as far as the provider can tell, and said why.
	st3, _ := Parse(strings.Replace(out, live, "WRONGPASS invalid username-password pair or user is disabled.\n", 1))
	if st3.Running || !strings.Contains(st3.LiveError, "WRONGPASS") {
		t.Errorf("wrong password parsed as %+v", st3)
	}
	// No server answers: the version is the installed binary's.
	if st3.Version != "7.0.14" {
		t.Errorf("version without a running server: %q, want the binary's 7.0.14", st3.Version)
	}
	// The file edited by hand.
	st4, _ := Parse(strings.Replace(out, "maxclients 10000", "maxclients 50", 1))
	if d := st4.Drift(c); len(d) == 0 || !strings.Contains(d[0], "maxclients") {
		t.Errorf("drift %q", d)
	}
}

func TestParseServerVersion(t *testing.T) {
	for out, want := range map[string]string{
		// Debian 12's redis-server 7.0.15, as the lab has it.
		"Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n": "7.0.15",
		// Debian 9's redis-server, the guide's 3.2.
		"Redis server v=3.2.6 sha=00000000:0 malloc=jemalloc-3.6.0 bits=64 build=826601c992442478\n": "3.2.6",
		"":                                 "", // redis-server not installed
		"sh: 1: redis-server: not found\n": "",
		"Redis server v= sha=00000000:0 bits=64\n": "",
	} {
		if got := ParseServerVersion(out); got != want {
			t.Errorf("ParseServerVersion(%q) = %q, want %q", out, got, want)
		}
	}
}
