package backup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cronAccepts is whether Debian's cron reads schedule as a line of a crontab: `crontab -n`
// (dry run) parses the file as the daemon parses /etc/cron.d, and installs nothing. This
// machine's cron is the guests' (the lab's guests run its binaries; scripts/lab-packages.sh).
func cronAccepts(t *testing.T, schedule string) bool {
	t.Helper()
	crontab, err := exec.LookPath("crontab")
	if err != nil {
		t.Fatalf("Debian's cron is needed to check schedules against (scripts/lab-packages.sh installs it): %v", err)
	}
	f := filepath.Join(t.TempDir(), "crontab")
	if err := os.WriteFile(f, []byte(schedule+" true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(crontab, "-n", f).CombinedOutput()
	var exited *exec.ExitError
	if err != nil && !errors.As(err, &exited) {
		t.Fatal(err)
	}
	if err == nil && !strings.Contains(string(out), "successfully checked") {
		t.Fatalf("crontab -n exited 0 for %q without saying it checked the file: %s", schedule, out)
	}
	return err == nil
}

// The plan accepts a schedule only when the guest's cron runs it, and refuses some that cron
// accepts but would not run as written: those are listed, with the reason.
func TestParseScheduleAcceptsWhatCronRuns(t *testing.T) {
	refusedOnPurpose := map[string]string{
		"0 0 31 2 *":      "never falls in month", // cron takes it, and never runs it
		"0 0 30,31 2 *":   "never falls in month",
		"0 0 31 4,6 *":    "never falls in month",
		"0 0 5-1 * *":     "goes down", // a range going down
		"0 0 * * fri-mon": "goes down",
		"1-2-3 * * * *":   "is not *, a value or a range", // cron reads 1-2 and ignores -3
		"*/2/3 * * * *":   "is not *, a value or a range",
		"*-5 * * * *":     "is not *, a value or a range",
		"** * * * *":      "is not *, a value or a range",
		"@reboot":         "not a schedule cron can keep an interval for",
	}
	for _, s := range []string{
		"30 2 * * *", "*/15 * * * *", "0 3 * * sun", "0 3 * * 7", "0 3 * * 0-7", "0 3 * * 1-7/2", "0 3 * * 7-7", "0 3 * * mon-7", "0 3 * * sun-7",
		"0 3 * * MON-FRI", "0 3 * jan,Jul sun", "0 3 * JAN-DEC/2 *", "0 3 * * mOn", "0 3 * * 0007", "05 3 * * *", "0  3   * * *",
		"0 */6 1-15 jan,jul *", "0 0 1-5/2,10 * *", "0 0 * * 1,2-3,sat", "*/100 * * * *", "0-59/60 * * * *", "0 0 1-31/40 * *", "0 0 */2 * 1",
		"0 0 1,* * *", "*,5 * * * *", "0 0 29 2 *", "0 0 31 2 1",
		"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually",
		// Refused by cron.
		"5/15 0 * * *", "0 0 * * 1/2", "0 0 * * 8", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "1-60 * * * *", "*/0 * * * *",
		"1-5/0 * * * *", "0 0 * * ?", "0 0 * * Monday", "0 0 * * mo", "0 0 mon * *", "0 0 * 1 jan", "0 0 * * */mon", "0 0 -1 * *", "0 0 1- * *",
		"0 0 1, * *", "0 0 ,1 * *", "@every 1h", "@DAILY", "@Daily", "0 0 * * 99999999999", "0 0 * * * *", "0 0 * *",
		// Accepted by cron, refused on purpose (above).
		"0 0 31 2 *", "0 0 30,31 2 *", "0 0 31 4,6 *", "0 0 5-1 * *", "0 0 * * fri-mon", "1-2-3 * * * *", "*/2/3 * * * *", "*-5 * * * *", "** * * * *", "@reboot",
	} {
		_, err := ParseSchedule(s)
		cron := cronAccepts(t, s)
		why, onPurpose := refusedOnPurpose[s]
		switch {
		case err == nil && !cron:
			t.Errorf("%q: accepted at plan time, refused by cron", s)
		case err != nil && cron && !onPurpose:
			t.Errorf("%q: refused at plan time (%v), run by cron", s, err)
		case err != nil && onPurpose && !strings.Contains(err.Error(), why):
			t.Errorf("%q: %v; want the reason %q", s, err, why)
		case err == nil && onPurpose:
			t.Errorf("%q: accepted; want it refused: %s", s, why)
		}
	}
}

// The staleness computation counts the runs cron makes: with day-of-month "*/2" (starting
// with '*') and day-of-week 1, cron runs on odd days that are Mondays, not on every odd day
// and every Monday; and day-of-week 7 is Sunday.
func TestRunDriftCountsCronsRuns(t *testing.T) {
	for _, c := range []struct {
		schedule       string
		finished       time.Time
		fresh, stopped time.Time
	}{
		// Mon 7 Dec 2026; then Mon 21 Dec and Mon 11 Jan 2027 (odd Mondays).
		{"0 0 */2 * 1", time.Date(2026, 12, 7, 0, 0, 5, 0, time.UTC), time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 11, 0, 1, 0, 0, time.UTC)},
		// Sun 6 Dec 2026; then Sundays 13 and 20 December.
		{"0 3 * * 7", time.Date(2026, 12, 6, 3, 0, 5, 0, time.UTC), time.Date(2026, 12, 20, 2, 0, 0, 0, time.UTC), time.Date(2026, 12, 20, 3, 1, 0, 0, time.UTC)},
		{"0 3 * * 5-7", time.Date(2026, 12, 6, 3, 0, 5, 0, time.UTC), time.Date(2026, 12, 12, 2, 0, 0, 0, time.UTC), time.Date(2026, 12, 12, 3, 1, 0, 0, time.UTC)},
	} {
		st := State{Status: &Status{OK: true, Finished: c.finished, Name: "hipchatdc-x"}}
		conf := Config{Schedule: c.schedule}
		if d := st.RunDrift(conf, c.fresh); len(d) != 0 {
			t.Errorf("%q, last backup %s, at %s: %v; want no drift (cron has run it at most once since)", c.schedule, c.finished, c.fresh, d)
		}
		if d := st.RunDrift(conf, c.stopped); len(d) != 1 || !strings.Contains(d[0], "backups have stopped") {
			t.Errorf("%q, last backup %s, at %s: %v; want backups stopped (two runs missed)", c.schedule, c.finished, c.stopped, d)
		}
	}
}

// A schedule valid for cron whose runs are further apart than robfig/cron's five-year search
// (29 February on a Sunday, cron's day fields ANDed by the leading *) has no due time: never
// drift, not a run found in the first years of the calendar.
func TestRunDriftRareSchedule(t *testing.T) {
	st := State{Status: &Status{OK: true, Finished: time.Date(2026, 12, 7, 0, 0, 5, 0, time.UTC), Name: "hipchatdc-x"}}
	if d := st.RunDrift(Config{Schedule: "0 0 29 2 */7"}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); len(d) != 0 {
		t.Errorf("RunDrift: %v; want none", d)
	}
}
