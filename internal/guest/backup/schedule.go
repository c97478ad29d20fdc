package backup

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// The schedule is a line of /etc/cron.d read by Debian's cron (3.0pl1, Vixie cron with
// Debian's patches), not by robfig/cron, whose grammar differs: it refuses day-of-week 7
// (Sunday to cron), reads "5/15" as 5-59/15 (cron refuses it), and ORs the day fields for
// "*/2 * 1" (cron ANDs them: a day field starting with '*' makes cron match both). So the
// line is parsed here as cron parses it, checked against `crontab -n` in the tests, and the
// sets it selects are handed to robfig/cron's SpecSchedule only to compute run times.

// scheduleHelp ends every schedule error: what a schedule looks like.
const scheduleHelp = "give cron's five fields (minute hour day-of-month month day-of-week, for example \"30 2 * * *\" for 02:30 daily) or one of @hourly, @daily, @weekly, @monthly, @yearly"

// cronField is one of a cron line's five time fields, as crontab(5) names it in its errors.
type cronField struct {
	name     string
	min, max int
	names    []string // three-letter names for min, min+1, ...: months and days of the week
}

var (
	cronFields = [5]cronField{
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day-of-month", min: 1, max: 31},
		{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
		// 0 and 7 are both Sunday.
		{name: "day-of-week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
	}
	// cronDescriptors are the @ shortcuts Debian's cron knows (lowercase only), as the five
	// fields they stand for; @reboot has no interval and is refused.
	cronDescriptors = map[string]string{
		"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
		"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
	}
	// cronPart is one element of a field's comma list: *, a value or a range, and a step.
	cronPart = regexp.MustCompile(`^(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?$`)
	// starBit is robfig/cron's mark of a day field written '*': with it on either day field,
	// a day must match both (cron's rule for a field starting with '*'). robfig/cron does not
	// export it; it is the bit its parser adds to day-of-month's 1-31 for "*".
	starBit = func() uint64 {
		s, err := cron.ParseStandard("* * * * *")
		if err != nil {
			panic(err)
		}
		return s.(*cron.SpecSchedule).Dom &^ bitRange(1, 31)
	}()
)

func bitRange(lo, hi int) uint64 {
	var b uint64
	for i := lo; i <= hi; i++ {
		b |= 1 << uint(i)
	}
	return b
}

// value reads one value of f: digits or, for months and days of the week, a three-letter
// name in any case.
func (f cronField) value(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && len(s) <= 4 {
		if n < f.min || n > f.max {
			return 0, fmt.Errorf("%d is outside %d-%d", n, f.min, f.max)
		}
		return n, nil
	}
	for i, name := range f.names {
		if strings.EqualFold(s, name) {
			return f.min + i, nil
		}
	}
	if f.names != nil {
		return 0, fmt.Errorf("%q is neither a number %d-%d nor a three-letter name (%s)", s, f.min, f.max, strings.Join(f.names[:f.max-f.min], ", "))
	}
	return 0, fmt.Errorf("%q is not a number %d-%d", s, f.min, f.max)
}

// parse reads one field as cron does: a comma list of *, N or N-M (low to high), each with an
// optional /STEP. It returns the values selected and whether the field starts with '*'.
func (f cronField) parse(s string) (uint64, bool, error) {
	var bits uint64
	for _, part := range strings.Split(s, ",") {
		m := cronPart.FindStringSubmatch(part)
		if m == nil {
			// Where cron reads a value and then skips the rest ("1-2-3", "*/2/3", "**"),
			// the rest is refused rather than ignored.
			return 0, false, fmt.Errorf("%q is not *, a value or a range low-high, with an optional /step", part)
		}
		lo, hi := f.min, f.max
		if m[1] == "" {
			var err error
			if lo, err = f.value(m[2]); err != nil {
				return 0, false, err
			}
			hi = lo
			if m[3] != "" {
				if hi, err = f.value(m[3]); err != nil {
					return 0, false, err
				}
				if hi < lo {
					return 0, false, fmt.Errorf("the range %q goes down; write it low-high, or as two ranges", part)
				}
			} else if m[4] != "" {
				return 0, false, fmt.Errorf("cron refuses a step after a single value (%q); write a range, %s-%d/%s", part, m[2], f.max, m[4])
			}
		}
		step := 1
		if m[4] != "" {
			n, err := strconv.Atoi(m[4])
			if err != nil || n < 1 || len(m[4]) > 4 {
				return 0, false, fmt.Errorf("the step in %q must be a number from 1", part)
			}
			step = n
		}
		for i := lo; i <= hi; i += step {
			bits |= 1 << uint(i)
		}
	}
	return bits, strings.HasPrefix(s, "*"), nil
}

// daysIn is the most days month m (1-12) has.
func daysIn(m int) int {
	return time.Date(2024, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() // 2024: a leap year
}

// ParseSchedule checks a schedule as Debian's cron reads a line of /etc/cron.d, and returns
// it for computing run times (in the location of the time given to Next). The error says what
// is wrong, without the attribute's name.
func ParseSchedule(s string) (cron.Schedule, error) {
	if strings.TrimSpace(s) != s || !cronChars.MatchString(s) {
		return nil, fmt.Errorf("only letters, digits, spaces and * / , - @ are allowed, on one line; %s", scheduleHelp)
	}
	fields := strings.Fields(s)
	if strings.HasPrefix(s, "@") {
		five, ok := cronDescriptors[s]
		switch {
		case fields[0] == "@reboot" || fields[0] == "@every":
			return nil, fmt.Errorf("%s is not a schedule cron can keep an interval for; %s", fields[0], scheduleHelp)
		case !ok:
			return nil, fmt.Errorf("cron does not know %q (its shortcuts are lowercase, alone on the line); %s", s, scheduleHelp)
		}
		fields = strings.Fields(five)
	}
	if len(fields) != 5 {
		return nil, fmt.Errorf("it has %d fields, cron takes 5; %s", len(fields), scheduleHelp)
	}
	var bits [5]uint64
	var star [5]bool
	for i, f := range cronFields {
		var err error
		if bits[i], star[i], err = f.parse(fields[i]); err != nil {
			return nil, fmt.Errorf("%s %q: %w; %s", f.name, fields[i], err, scheduleHelp)
		}
	}
	dom, month, dow := bits[2], bits[3], bits[4]
	if dow&(1<<7) != 0 { // 7 is Sunday, robfig/cron's 0
		dow = dow&^(1<<7) | 1
	}
	// A day field starting with '*' makes cron match both day fields; otherwise either.
	both := star[2] || star[4]
	if both {
		possible := false
		for m := 1; m <= 12; m++ {
			possible = possible || month&(1<<uint(m)) != 0 && dom&bitRange(1, daysIn(m)) != 0
		}
		if !possible {
			return nil, fmt.Errorf("day-of-month %q never falls in month %q: cron accepts it but never runs it; %s", fields[2], fields[3], scheduleHelp)
		}
		dom |= starBit
		dow |= starBit
	}
	return &cron.SpecSchedule{Second: 1, Minute: bits[0], Hour: bits[1], Dom: dom, Month: month, Dow: dow, Location: time.Local}, nil
}
