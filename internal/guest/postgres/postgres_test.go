package postgres

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
)

var testConfig = Config{
	Address: netip.MustParseAddr("10.0.0.20"), AllowedCIDR: netip.MustParsePrefix("10.0.0.0/24"),
	Database: "hipchat_postgres", User: "hipchat_user", Password: "it's a secret",
}

func TestRenderConfGolden(t *testing.T) {
	guesttest.Golden(t, "hipchatdc.conf.golden", RenderConf(testConfig))
}

func TestRenderHBAGolden(t *testing.T) {
	shipped, err := os.ReadFile("testdata/pg_hba.conf.debian")
	if err != nil {
		t.Fatal(err)
	}
	got := RenderHBA(string(shipped), testConfig, "15")
	guesttest.Golden(t, "pg_hba.conf.golden", got)
	if !strings.HasPrefix(got, string(shipped)) {
		t.Error("the shipped rules were not kept in front")
	}
	if !hbaHasLine(got, "host\thipchat_postgres\thipchat_user\t10.0.0.0/24\tscram-sha-256") {
		t.Error("rule missing")
	}
	if again := RenderHBA(got, testConfig, "15"); again != got {
		t.Errorf("second render differs:\n%s", again)
	}
	// A changed network replaces the block, it does not add a second one.
	c := testConfig
	c.AllowedCIDR = netip.MustParsePrefix("10.1.0.0/16")
	moved := RenderHBA(got, c, "15")
	if strings.Count(moved, hbaBegin) != 1 || strings.Contains(moved, "10.0.0.0/24") || !strings.Contains(moved, "10.1.0.0/16") {
		t.Errorf("moved:\n%s", moved)
	}
	if m := RenderHBA("", testConfig, "9.5"); !strings.Contains(m, "\tmd5") {
		t.Errorf("9.5 has no SCRAM: %s", m)
	}
}

func TestSetupSQLGolden(t *testing.T) {
	// The password is quoted as a SQL literal: the quote in it is doubled.
	guesttest.Golden(t, "setup.sql.golden", SetupSQL(testConfig, "15"))
}

func TestValidate(t *testing.T) {
	if err := testConfig.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"superuser":  func(c *Config) { c.User = "postgres" },
		"short name": func(c *Config) { c.Database = "hip" },
		"no cidr":    func(c *Config) { c.AllowedCIDR = netip.Prefix{} },
		"no pass":    func(c *Config) { c.Password = "" },
		"version":    func(c *Config) { c.Version = "15; rm -rf /" },
	} {
		c := testConfig
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPasswordMatchesMD5(t *testing.T) {
	// md5 verifier of password "secret" for user "hipchat_user": "md5" + md5("secrethipchat_user").
	st := State{passwordHash: "md5" + "f0791b717e6e8b8236d1413af05c8c0d"} // printf secrethipchat_user | md5sum
	if !st.PasswordMatches("hipchat_user", "secret") {
		t.Error("right password did not match")
	}
	if st.PasswordMatches("hipchat_user", "wrong") {
		t.Error("wrong password matched")
	}
}

func TestParseFindsTheDatabasesAndOwners(t *testing.T) {
	sec := func(name string) string { return "@@hipchatdc-postgres@@ " + name + "\n" }
	out := sec("major") + "15\n" + sec("cluster") + "15 main 5432 online postgres /var/lib/postgresql/15/main\n" +
		sec("conf") + "\n" + sec("hba") + "\n" +
		sec("sql") + "version|15.18\nencoding|UTF8\nmax_connections|1000\nuserdbs|2\nuserdb|hipchat_postgres|hipchat_user\nuserdb|other_db1|someone\n" +
		sec("dbsql") + sec("end")
	st, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"hipchat_postgres", "hipchat_user"}, {"other_db1", "someone"}}
	if st.UserDatabases != 2 || len(st.DatabaseOwners) != 2 || st.DatabaseOwners[0] != want[0] || st.DatabaseOwners[1] != want[1] || len(st.Errors) != 0 {
		t.Fatalf("parsed %d databases %v, errors %v", st.UserDatabases, st.DatabaseOwners, st.Errors)
	}
}

// After an import the state has no password (the server cannot give it back): the drift says
// so, rather than that a password nobody changed differs.
func TestDriftOfAPasswordTheStateDoesNotKnow(t *testing.T) {
	st := State{UserExists: true, UserCanLogin: true, passwordHash: "md5" + "f0791b717e6e8b8236d1413af05c8c0d"}
	c := testConfig
	c.User, c.Password = "hipchat_user", ""
	got := strings.Join(st.databaseDrift(c), "; ")
	if want := `the password of user "hipchat_user" is not known to the state after import; the apply compares it with the configured one and changes it only if they do not match`; !strings.Contains(got, want) {
		t.Errorf("drift %q, want %q", got, want)
	}
	if strings.Contains(got, "differs") {
		t.Errorf("drift %q says the password differs", got)
	}
	c.Password = "wrong"
	if got := strings.Join(st.databaseDrift(c), "; "); !strings.Contains(got, "the password of user hipchat_user differs") {
		t.Errorf("a configured password that does not match: drift %q", got)
	}
}

// The guide wants the Postgres instance in UTC. A timezone changed behind the provider's back
// (ALTER SYSTEM writes postgresql.auto.conf, which wins over the provider's conf.d file) leaves
// the files as the provider wrote them: only the running server's setting shows it.
func TestDriftOfATimezoneSetBehindTheProvidersBack(t *testing.T) {
	sec := func(name string) string { return "@@hipchatdc-postgres@@ " + name + "\n" }
	c := testConfig
	out := func(tz string) string {
		return sec("major") + "15\n" + sec("cluster") + "15 main 5432 online postgres /var/lib/postgresql/15/main\n" +
			sec("conf") + RenderConf(c) + sec("hba") + RenderHBA("", c, "15") +
			sec("sql") + "version|15.18\nencoding|UTF8\nmax_connections|1000\nlisten_addresses|10.0.0.20,127.0.0.1\nport|5432\n" +
			tz + "pending_restart|\nuserdbs|1\nuserdb|hipchat_postgres|hipchat_user\n" +
			sec("dbsql") + sec("end")
	}
	utc := "setting|TimeZone|UTC|/etc/postgresql/15/main/conf.d/hipchatdc.conf\nsetting|log_timezone|Etc/UTC|/etc/postgresql/15/main/conf.d/hipchatdc.conf\n"
	st, err := Parse(out(utc))
	if err != nil {
		t.Fatal(err)
	}
	if d := st.timezoneDrift(); len(d) != 0 || st.Timezones["TimeZone"].Value != "UTC" {
		t.Fatalf("UTC (and Etc/UTC) read as %v, drift %q", st.Timezones, d)
	}
	berlin := "setting|TimeZone|Europe/Berlin|/var/lib/postgresql/15/main/postgresql.auto.conf\nsetting|log_timezone|UTC|/etc/postgresql/15/main/conf.d/hipchatdc.conf\n"
	st, err = Parse(out(berlin))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(st.Drift(c), "; ")
	if want := `timezone is "Europe/Berlin" (set in /var/lib/postgresql/15/main/postgresql.auto.conf), the guide requires UTC`; !strings.Contains(got, want) {
		t.Errorf("drift %q, want it to contain %q", got, want)
	}
	if strings.Contains(got, "log_timezone") || strings.Contains(got, "differs") {
		t.Errorf("drift %q names more than the timezone", got)
	}

	// ALTER DATABASE or ALTER ROLE timezones reach the Hipchat user's sessions (SHOW timezone
	// as that user) while the server's setting stays UTC.
	st, err = Parse(strings.Replace(out(utc), sec("dbsql"), sec("dbsql")+"can_create|t\ntz_override|database hipchat_postgres|Asia/Tokyo\ntz_override|all roles|UTC\n", 1))
	if err != nil {
		t.Fatal(err)
	}
	got = strings.Join(st.databaseDrift(c), "; ")
	if want := `database hipchat_postgres sets timezone "Asia/Tokyo" for the sessions of hipchat_user in hipchat_postgres, the guide requires UTC`; !strings.Contains(got, want) || strings.Contains(got, "all roles") {
		t.Errorf("drift %q, want it to contain %q and nothing on the UTC override", got, want)
	}
}
