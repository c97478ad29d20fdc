package backup

import (
	"strings"
	"testing"
	"time"
)

func TestParseScheduleNamesTheProblem(t *testing.T) {
	for _, ok := range []string{"30 2 * * *", "*/15 * * * *", "0 3 * * sun", "@daily", "0 */6 1-15 jan,jul *"} {
		if _, err := ParseSchedule(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for s, want := range map[string]string{
		"30 2 * *":              "it has 4 fields, cron takes 5",
		"30 25 * * *":           `hour "25": 25 is outside 0-23`,
		"@every 1h":             "@every is not a schedule cron",
		"30 2 * * *\n* * * * *": "on one line",
		"30 2 * * * rm -rf /":   "it has 8 fields",
		"TZ=UTC 30 2 * * *":     "only letters",
		"0 2 * * mnday":         `day-of-week "mnday": "mnday" is neither a number 0-7 nor a three-letter name (sun, mon, tue, wed, thu, fri, sat)`,
	} {
		_, err := ParseSchedule(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", s, err, want)
		}
	}
}

func TestRunDriftAfterTwoMissedRuns(t *testing.T) {
	c := Config{Schedule: "0 * * * *"}
	finished := time.Date(2026, 11, 30, 10, 0, 5, 0, time.UTC)
	st := State{Status: &Status{OK: true, Finished: finished, Name: "hipchatdc-20261130T100000Z"}}
	if d := st.RunDrift(c, finished.Add(119*time.Minute)); len(d) != 0 {
		t.Errorf("one missed hourly run is not drift yet: %v", d)
	}
	if d := st.RunDrift(c, finished.Add(121*time.Minute)); len(d) != 1 || !strings.Contains(d[0], "backups have stopped") {
		t.Errorf("two missed hourly runs: %v", d)
	}
	st.Status.OK, st.Status.Error = false, "destination: /backup does not exist or cannot be reached"
	if d := st.RunDrift(c, finished); len(d) != 1 || !strings.Contains(d[0], "failed: destination: /backup does not exist") {
		t.Errorf("failed run: %v", d)
	}
	if d := (State{}).RunDrift(c, finished); len(d) != 1 || !strings.Contains(d[0], "no backup has run yet") {
		t.Errorf("never ran: %v", d)
	}
}

func TestValidateRefusesDestinationsInsideTheDataStores(t *testing.T) {
	base := Config{Schedule: "@daily", Retention: 2, Database: "hipchat_postgres", NFSDir: "/srv/hipchat-nfs"}
	for p, want := range map[string]string{
		"/srv/hipchat-nfs":                  "/srv/hipchat-nfs",
		"/srv/hipchat-nfs/backups":          "/srv/hipchat-nfs",
		"/var/lib/postgresql/15/main/b":     "/var/lib/postgresql",
		"/var/lib/redis":                    "/var/lib/redis",
		"/srv/hipchat-nfs-backups":          "",
		"/var/backups/hipchatdc":            "",
		"/var/lib/postgresql-backups/daily": "",
	} {
		if got := InsideDataStores(p, base.NFSDir); got != want {
			t.Errorf("InsideDataStores(%q) = %q, want %q", p, got, want)
		}
		c := base
		c.Destination.Path = p
		err := c.Validate()
		if (err != nil) != (want != "") || (err != nil && !strings.Contains(err.Error(), "is inside "+want)) {
			t.Errorf("local destination %q: %v", p, err)
		}
		// On another host the path is that host's.
		c.Destination = Destination{Path: p, Host: "backup.example.com", User: "root", PrivateKey: "k", HostKey: "h"}
		if err := c.Validate(); err != nil {
			t.Errorf("remote destination %q: %v", p, err)
		}
	}
}

func TestValidateRefusesOptionLikeHosts(t *testing.T) {
	c := Config{Schedule: "@daily", Retention: 2, Database: "hipchat_postgres", NFSDir: "/srv/hipchat-nfs",
		Destination: Destination{Path: "/srv/backups", Host: "-v", User: "root", PrivateKey: "k", HostKey: "h"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "a host name or address") {
		t.Errorf("host %q: %v", c.Destination.Host, err)
	}
	c.Destination.Host, c.Destination.User = "backup.example.com", "-lroot"
	if err := c.Validate(); err == nil {
		t.Errorf("user %q accepted", c.Destination.User)
	}
}
