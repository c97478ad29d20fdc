package hipchat

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
)

func example() DataStores {
	return DataStores{
		PostgresHost: "10.0.0.20", Database: "hipchat_postgres", User: "hipchat_user", Password: `pg "pass" \ <&> word`,
		RedisHost: "10.0.0.20", RedisPassword: "r3dis pass'word",
		NFSExport: "10.0.0.20:/srv/hipchat-nfs", PublicURL: "https://chat.example.com",
	}
}

func TestRenderGolden(t *testing.T) {
	d := example()
	got, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	guesttest.Golden(t, "datacenter.json.golden", string(got))

	ipv6 := example()
	ipv6.PostgresHost, ipv6.PostgresPort, ipv6.RedisHost, ipv6.RedisPort = "fd00::20", 6432, "redis.internal", 6380
	got, err = Render(ipv6)
	if err != nil {
		t.Fatal(err)
	}
	guesttest.Golden(t, "datacenter-ports.json.golden", string(got))

	// The same values give the same bytes: Apply compares bytes to decide whether to act.
	again, _ := Render(example())
	first, _ := Render(d)
	if !bytes.Equal(first, again) {
		t.Error("Render is not deterministic")
	}
	var m map[string]any
	if err := json.Unmarshal(first, &m); err != nil || m["database-password"] != d.Password {
		t.Errorf("not JSON with the password as typed: %v %v", err, m)
	}
}

func TestParseConfigRoundTrip(t *testing.T) {
	for _, d := range []DataStores{example(), func() DataStores {
		d := example()
		d.PostgresHost, d.PostgresPort, d.RedisPort = "fd00::20", 6432, 6380
		return d
	}()} {
		b, err := Render(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseConfig(b)
		if err != nil {
			t.Fatal(err)
		}
		want := d
		want.PostgresPort, want.RedisPort = d.postgresPort(), d.redisPort()
		if got != want {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	// A broken file's error must not quote its content (it may be a password).
	_, err := ParseConfig([]byte(`{"database-password": "s3cret`))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("broken JSON: %v", err)
	}
	_, err = ParseConfig([]byte(`{"database-password": 12345678}`))
	if err == nil || strings.Contains(err.Error(), "12345678") {
		t.Errorf("wrong type: %v", err)
	}
}

func TestValidateNamesEachProblemWithoutPasswords(t *testing.T) {
	d := DataStores{
		PostgresHost: "db host", PostgresPort: 70000, Database: "hc", User: "postgres", Password: "",
		RedisHost: "", RedisPassword: "",
		NFSExport: "10.0.0.20/srv", PublicURL: "ftp://chat.example.com",
	}
	err := d.Validate()
	if err == nil {
		t.Fatal("invalid values accepted")
	}
	for _, want := range []string{"postgres host", "70000", "database name", "superuser", "database password is empty",
		"redis host is empty", "Redis password is empty", "must be host:/path", "public URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	ok := example()
	if err := ok.Validate(); err != nil {
		t.Errorf("valid values refused: %v", err)
	}
	if _, err := Render(d); err == nil {
		t.Error("Render accepted invalid values")
	}
}

func TestParseAndDrift(t *testing.T) {
	d := example()
	c := Commands{}.WithDefaults()
	rendered, _ := Render(d)
	site := strings.Replace(string(rendered), "{\n", "{\n  \"appliance-only\": \"x\",\n", 1)
	m := func(name string) string { return guest.SectionMarker(recipe, name) + "\n" }
	out := "other recipe output\n" +
		m("config") + "present 600 root:root\n" + string(rendered) + "\n" +
		m("site") + "present 600 root:root\n" + site + "\n" +
		guest.SectionMarker("redis", "conf") + "\nport 6379\n" +
		m("unverified") + "no\n" + m("end")
	st, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ConfigPresent || !bytes.Equal(st.Config, rendered) || !st.SitePresent || st.Unverified {
		t.Fatalf("state %+v", st)
	}
	if drift := st.Drift(d, c); len(drift) != 0 {
		t.Errorf("drift on a node as rendered: %q", drift)
	}

	other := d
	other.Password, other.RedisHost = "another password", "10.0.0.21"
	drift := strings.Join(st.Drift(other, c), "\n")
	for _, want := range []string{"database-password", "redis-server", SiteFile} {
		if !strings.Contains(drift, want) {
			t.Errorf("drift does not name %s: %s", want, drift)
		}
	}
	if strings.Contains(drift, d.Password) || strings.Contains(drift, other.Password) {
		t.Errorf("drift shows a password: %s", drift)
	}

	st.ConfigMode, st.Unverified = "644", true
	drift = strings.Join(st.Drift(d, c), "\n")
	if !strings.Contains(drift, "mode 644") || !strings.Contains(drift, "self-check has not passed") {
		t.Errorf("drift: %s", drift)
	}

	absent, err := Parse(m("config") + "absent\n" + m("site") + "absent\n" + m("unverified") + "yes\n" + m("end"))
	if err != nil || absent.ConfigPresent || absent.SitePresent || !absent.Unverified {
		t.Fatalf("%+v %v", absent, err)
	}
	if len(absent.Drift(d, c)) != 3 {
		t.Errorf("drift of an unconfigured node: %q", absent.Drift(d, c))
	}
	if _, err := Parse(m("config") + "absent\n"); err == nil {
		t.Error("truncated output accepted")
	}
}

func TestCommands(t *testing.T) {
	c := Commands{ConfigFile: "/hipchat/config/it's.json"}.WithDefaults()
	if got := c.configureLine(); got != `hipchat datacenter configure --file '/hipchat/config/it'\''s.json'` {
		t.Errorf("configure line %s", got)
	}
	for _, bad := range []string{"relative.json", "/hipchat/../etc/x.json", SiteFile} {
		if err := (Commands{ConfigFile: bad}).Validate(); err == nil {
			t.Errorf("config file %q accepted", bad)
		}
	}
	if (Commands{}).WithDefaults().ConfigFile != DefaultConfigFile {
		t.Error("default config file")
	}
}
