package identity

import (
	"strings"
)

// hostsHasEntry reports whether /etc/hosts maps name to 127.0.0.1, as the guide asks.
func hostsHasEntry(hosts, name string) bool {
	for _, line := range strings.Split(hosts, "\n") {
		f := fields(line)
		if len(f) >= 2 && f[0] == "127.0.0.1" && contains(f[1:], name) {
			return true
		}
	}
	return false
}

// RenderHosts returns /etc/hosts with the guide's "127.0.0.1 NAME" line. A line that named
// only the previous hostname (Debian's "127.0.1.1 old" or an earlier line of ours) is
// dropped, so the old name does not linger; every other line stays.
func RenderHosts(hosts, name, previous string) string {
	var out []string
	lines := strings.Split(strings.TrimRight(hosts, "\n"), "\n")
	if hosts == "" {
		lines = nil
	}
	have := false
	for _, line := range lines {
		f := fields(line)
		if len(f) >= 2 && (f[0] == "127.0.0.1" || f[0] == "127.0.1.1") {
			if previous != "" && previous != name && len(f) == 2 && f[1] == previous {
				continue
			}
			if f[0] == "127.0.0.1" && contains(f[1:], name) {
				have = true
			}
		}
		out = append(out, line)
	}
	if !have {
		// Right after localhost, where a reader looks for it.
		entry := "127.0.0.1\t" + name
		at := len(out)
		for i, line := range out {
			if f := fields(line); len(f) >= 2 && f[0] == "127.0.0.1" {
				at = i + 1
				break
			}
		}
		out = append(out[:at], append([]string{entry}, out[at:]...)...)
	}
	return strings.Join(out, "\n") + "\n"
}

// parseNTPConf lists the `server X iburst` lines that `hipchat service --ntp-servers` keeps.
func parseNTPConf(conf string) []string {
	var r []string
	for _, line := range strings.Split(conf, "\n") {
		if f := fields(line); len(f) >= 2 && f[0] == "server" {
			r = append(r, f[1])
		}
	}
	return r
}

// parseTimesyncd reads NTP= from the [Time] section of timesyncd.conf.
func parseTimesyncd(conf string) []string {
	section := ""
	var r []string
	for _, line := range strings.Split(conf, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if v, ok := strings.CutPrefix(line, "NTP="); ok && section == "Time" {
			r = strings.Fields(v) // the last assignment wins, as in systemd
		}
	}
	return r
}

// RenderTimesyncd sets NTP= in the [Time] section, replacing an NTP= line or the shipped
// "#NTP=" placeholder, and adds the section when it is missing. Everything else stays.
func RenderTimesyncd(conf string, servers []string) string {
	want := "NTP=" + strings.Join(servers, " ")
	lines := strings.Split(strings.TrimRight(conf, "\n"), "\n")
	if conf == "" {
		lines = nil
	}
	section, placed := "", false
	timeAt, placeholderAt := -1, -1
	var out []string
	for _, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			section = strings.Trim(t, "[]")
			if section == "Time" {
				timeAt = len(out)
			}
		} else if section == "Time" && strings.HasPrefix(t, "NTP=") {
			if !placed {
				out = append(out, want)
				placed = true
			}
			continue
		} else if section == "Time" && strings.HasPrefix(t, "#NTP=") && placeholderAt < 0 {
			placeholderAt = len(out)
		}
		out = append(out, line)
	}
	switch {
	case placed:
	case placeholderAt >= 0:
		out = append(out[:placeholderAt+1], append([]string{want}, out[placeholderAt+1:]...)...)
	case timeAt >= 0:
		out = append(out[:timeAt+1], append([]string{want}, out[timeAt+1:]...)...)
	default:
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, "[Time]", want)
	}
	return strings.Join(out, "\n") + "\n"
}
