package nginx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Memberships: hipchatdc_reverse_proxy_node adds one node to the proxy with a file of its own
// in MembersDir, which the site's upstream block includes. Two resources then never own one
// file, and a node can join and leave without the proxy resource changing: that is how a new
// node release replaces the old one without a failed request (create the new node, add it,
// remove the old one, destroy it).
const (
	// MembersDir holds one file per membership, "<host>_<port>.conf", each one server line.
	MembersDir = TLSDir + "/nodes"
	// DrainFile sets NGINX's worker_shutdown_timeout: how long workers retired by a reload
	// may keep serving the requests they hold before NGINX closes them. It is a main-context
	// directive, which the site (inside Debian's http block) cannot hold; Debian's and
	// Ubuntu's nginx.conf include modules-enabled/*.conf in the main context, so it goes there.
	DrainFile = "/etc/nginx/modules-enabled/hipchatdc-drain.conf"
	// DefaultDrainTimeout is how long removing a node waits for the requests it still serves.
	// Ordinary page loads and API calls take well under a second; a chat long-poll is answered
	// within this or times out and reconnects to a live node.
	DefaultDrainTimeout = 30 * time.Second
	// MaxDrainTimeout bounds drain_timeout: a destroy must not wait for hours.
	MaxDrainTimeout = time.Hour
	// No passive failure detection on a member (max_fails=0): next to another server in the
	// upstream (a node being replaced, or the placeholder of a site written by an earlier
	// version), NGINX would take the only live node out of service for fail_timeout after one
	// failed connection and answer 502 to everyone meanwhile (measured: a node back after a
	// restart got no request for 10 s). proxy_next_upstream already moves each request that
	// meets a failing node to a live one, and a node is taken out of the proxy (drained)
	// before it is destroyed, so nothing is gained by also marking it failed.
	// placeholderServer stands in the upstream block when it has no node at all, marked down:
	// NGINX refuses an upstream without servers, and a down server is never chosen (clients
	// get 502 until a membership is added).
	placeholderServer = "unix:/run/hipchatdc-no-node.sock"
	// PlaceholderFile holds placeholderServer for a site without nodes of its own, and exists
	// only while MembersDir holds no membership (placeholderScript keeps it so). It must not
	// stay next to a membership: NGINX retries a request whose kept-alive connection the node
	// closed (the node's web server reloading or restarting, its keep-alive timeout ending)
	// on a new connection to the same node only when the upstream has a single server; with
	// any other server, even a down one, that node counts as tried, and the request gets 502
	// ("no live upstreams"). The site includes it by a pattern (placeholderGlob), which NGINX
	// accepts when it matches no file.
	PlaceholderFile = TLSDir + "/no-node.conf"
	placeholderGlob = TLSDir + "/no-node*.conf"
)

// placeholderScript defines the shell function placeholder, which writes PlaceholderFile when
// the site includes it (it has no nodes of its own) and MembersDir holds no membership file,
// and removes it otherwise. The scripts that change the site or a membership call it, holding
// LockFile, before nginx -t, and again when they restore the previous files.
var placeholderScript = fmt.Sprintf(`placeholder() {
	for x in %s/*.conf; do
		[ -e "$x" ] && { rm -f %s; return; }
	done
	grep -qF 'include %s;' %s 2>/dev/null || { rm -f %[2]s; return; }
	[ -e %[2]s ] && return
	printf '# Managed by terraform-provider-hipchatdc: there while the site lists no node and no hipchatdc_reverse_proxy_node is listed (NGINX refuses an upstream without servers).\nserver %[5]s down;\n' > %[2]s.tmp && mv -f %[2]s.tmp %[2]s
}
`, MembersDir, PlaceholderFile, placeholderGlob, ConfFile, placeholderServer)

// placeholderMissingScript prints "missing" when the site needs the placeholder (no nodes of
// its own, no membership file) and PlaceholderFile is not there: the last membership file was
// removed by hand.
var placeholderMissingScript = fmt.Sprintf(`for x in %s/*.conf; do [ -e "$x" ] && exit 0; done
grep -qF 'include %s;' %s 2>/dev/null || exit 0
[ -e %s ] || echo missing
`, MembersDir, placeholderGlob, ConfFile, PlaceholderFile)

// Member is one node added to the proxy by hipchatdc_reverse_proxy_node.
type Member struct {
	Node  string        // IP or host name, optionally ":port" (DefaultPort when absent)
	Drain time.Duration // whole seconds; DefaultDrainTimeout when zero
}

// WithDefaults returns m with the node written as host:port and the drain timeout set.
func (m Member) WithDefaults() Member {
	if hp, err := NormalizeNode(m.Node); err == nil {
		m.Node = hp
	}
	if m.Drain == 0 {
		m.Drain = DefaultDrainTimeout
	}
	return m
}

// Validate checks that m can be written: the node ends up in an NGINX file and in a shell
// command, so only a well-formed address passes.
func (m Member) Validate() error {
	if _, err := NormalizeNode(m.Node); err != nil {
		return err
	}
	if m.Drain < 0 || m.Drain%time.Second != 0 || m.Drain > MaxDrainTimeout {
		return fmt.Errorf("drain timeout %s is not a whole number of seconds between 1 and %d", m.Drain, int(MaxDrainTimeout/time.Second))
	}
	return nil
}

// MemberFile is the file of the membership of node (as NormalizeNode writes it, or not).
func MemberFile(node string) string {
	if hp, err := NormalizeNode(node); err == nil {
		node = hp
	}
	// host:port as a file name: "[fd00::2]:80" -> "fd00__2_80"; the last "_" parts the port.
	name := strings.NewReplacer("[", "", "]", "", ":", "_", "/", "_").Replace(node)
	return MembersDir + "/" + name + ".conf"
}

// RenderMember returns the content of m's file (defaults applied). m must be valid.
func RenderMember(m Member) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	m = m.WithDefaults()
	return fmt.Sprintf(`# Managed by terraform-provider-hipchatdc (hipchatdc_reverse_proxy_node): removing this file removes the node from the proxy.
# drain_timeout %d
server %s max_fails=0;
`, int64(m.Drain/time.Second), m.Node), nil
}

var (
	memberServer = regexp.MustCompile(`(?m)^\s*server\s+(\S+)[^;]*;`)
	memberDrain  = regexp.MustCompile(`(?m)^# drain_timeout (\d+)$`)
	drainSetting = regexp.MustCompile(`worker_shutdown_timeout\s+(\d+)s\s*;`)
)

// ParseMember reads a membership file back: the node it lists and the drain timeout it
// records. ok is false when the file has no server line.
func ParseMember(conf string) (m Member, ok bool) {
	s := memberServer.FindStringSubmatch(conf)
	if s == nil {
		return m, false
	}
	m.Node = s[1]
	if d := memberDrain.FindStringSubmatch(conf); d != nil {
		n, _ := strconv.ParseInt(d[1], 10, 64)
		m.Drain = time.Duration(n) * time.Second
	}
	return m, true
}

// MemberState is what ReadMember finds on the proxy guest about one node.
type MemberState struct {
	File    string // where the membership of this node lives
	Present bool   // File exists
	Config  string // its content ("" when absent)
	Member  Member // parsed from it; valid when Present and the file has a server line

	SiteDeployed bool // hipchatdc_reverse_proxy's site is there
	SiteIncludes bool // and its upstream block includes MembersDir (written by a provider that knows memberships)
	InSiteNodes  bool // the node is also in hipchatdc_reverse_proxy's own nodes

	DrainTimeout time.Duration // worker_shutdown_timeout as NGINX loads it (nginx -T), 0 when not set
	Installed    bool
	Running      bool
	MasterPID    int
}

// MembersInclude is the line of the site that includes the membership files.
const MembersInclude = "include " + MembersDir + "/*.conf;"

// ReadMemberScript is the command ReadMember runs for node.
func ReadMemberScript(node string) string {
	section := func(name, cmd string) string {
		return guest.EchoSection("nginx-member", name) + cmd + " 2>/dev/null; echo\n"
	}
	return "# read reverse proxy node " + node + "\n" +
		section("file", "f="+guest.Quote(MemberFile(node))+`; [ -f "$f" ] && echo present && cat "$f"`) +
		section("site", "cat "+ConfFile) +
		// What NGINX loads, not only the file: a nginx.conf that does not include DrainFile's
		// directory leaves the setting unset.
		section("drain", `nginx -T 2>/dev/null | grep -v '^[[:space:]]*#' | grep worker_shutdown_timeout`) +
		section("installed", "command -v nginx") +
		section("pid", "p=$(cat "+PIDFile+") && kill -0 \"$p\" && echo \"$p\"") +
		guest.EchoSection("nginx-member", "end")
}

// ReadMember returns what the proxy has of node's membership, with one command.
func ReadMember(ctx context.Context, r Runner, node string) (MemberState, error) {
	if _, err := NormalizeNode(node); err != nil {
		return MemberState{}, err
	}
	out, err := r.Run(ctx, ReadMemberScript(node), nil)
	if err != nil {
		return MemberState{}, fmt.Errorf("read reverse proxy node %s: %w", node, err)
	}
	return ParseMemberState(string(out), node)
}

// ParseMemberState reads node's membership from the output of ReadMemberScript.
func ParseMemberState(out, node string) (MemberState, error) {
	sections := guest.Sections(out, "nginx-member")
	for _, s := range []string{"file", "site", "drain", "installed", "pid"} {
		if _, ok := sections[s]; !ok {
			return MemberState{}, fmt.Errorf("read reverse proxy node: output has no %s section", s)
		}
	}
	st := MemberState{
		File:      MemberFile(node),
		Installed: strings.TrimSpace(sections["installed"]) != "",
	}
	if body, ok := strings.CutPrefix(sections["file"], "present\n"); ok || strings.TrimSpace(sections["file"]) == "present" {
		st.Present = true
		st.Config = strings.TrimRight(body, "\n") + "\n"
		st.Member, _ = ParseMember(st.Config)
	}
	if site := sections["site"]; strings.TrimSpace(site) != "" {
		if s, err := ParseSite(site); err == nil {
			st.SiteDeployed = true
			st.SiteIncludes = strings.Contains(site, MembersInclude)
			hp, _ := NormalizeNode(node)
			for _, n := range s.Nodes {
				st.InSiteNodes = st.InSiteNodes || n == hp
			}
		}
	}
	if m := drainSetting.FindStringSubmatch(sections["drain"]); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		st.DrainTimeout = time.Duration(n) * time.Second
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(sections["pid"])); err == nil && pid > 0 {
		st.Running, st.MasterPID = true, pid
	}
	return st, nil
}

// Drift says, in words for the plan, how the proxy differs from m being a member.
func (s MemberState) Drift(m Member) []string {
	m = m.WithDefaults()
	var d []string
	want, _ := RenderMember(m)
	switch {
	case !s.Present:
		d = append(d, fmt.Sprintf("the membership file %s is missing: NGINX does not send requests to node %s", s.File, m.Node))
	case s.Config != want:
		d = append(d, fmt.Sprintf("the membership file %s was changed outside Terraform", s.File))
	}
	if s.Present && s.DrainTimeout < m.Drain {
		loaded := "is not set"
		if s.DrainTimeout > 0 {
			loaded = fmt.Sprintf("is %d s", int64(s.DrainTimeout/time.Second))
		}
		d = append(d, fmt.Sprintf("NGINX's worker_shutdown_timeout (%s) %s, lower than drain_timeout %d: a reload would cut requests off before the drain ends", DrainFile, loaded, int64(m.Drain/time.Second)))
	}
	if s.SiteDeployed && !s.SiteIncludes {
		d = append(d, "the proxy's site does not include the membership files (written by an earlier provider version): apply hipchatdc_reverse_proxy")
	}
	if !s.SiteDeployed {
		d = append(d, "the proxy has no site of hipchatdc_reverse_proxy ("+ConfFile+")")
	}
	if !s.Running {
		d = append(d, "nginx is not running on the proxy")
	}
	return d
}

// NodeUnreachableError is a node that did not answer HTTP from the proxy guest: nothing was
// written, and the proxy serves as before.
type NodeUnreachableError struct {
	Node   string // host:port
	Output string // what the check said (the shell's connect error, or the first line it got)
}

func (e *NodeUnreachableError) Error() string {
	return fmt.Sprintf("node %s does not answer HTTP from the proxy: %s", e.Node, e.Output)
}

// probeStatus is the exit status of the membership script when the node does not answer.
const probeStatus = 66

// MemberResult says what AddMember or RemoveMember did.
type MemberResult struct {
	Before   MemberState
	Changed  bool          // the membership file was written or removed
	Reloaded bool          // NGINX was reloaded (gracefully)
	Started  bool          // NGINX was not running and was started
	Drained  time.Duration // RemoveMember: how long the retired workers took to finish their requests
	CutOff   int           // RemoveMember: retired workers still serving at the drain timeout, stopped
	// MayHaveChanged: the call failed after its change script started, so the file may be in
	// place (AddMember) or gone (RemoveMember) and NGINX reloaded. False when it failed
	// before changing anything or put everything back (a *RejectedError, a *NodeUnreachableError).
	MayHaveChanged bool
}

// AddMember makes m a member of the proxy's upstream: it reads first and changes nothing when
// the file is as wanted and NGINX runs. Otherwise it checks from the proxy guest that the node
// answers HTTP (a *NodeUnreachableError, with nothing written, when it does not), writes the
// file, raises worker_shutdown_timeout to m's drain timeout when it is lower, tests with
// `nginx -t` (a *RejectedError, with the previous files back, when NGINX refuses) and reloads
// gracefully.
func AddMember(ctx context.Context, c guest.Runner, m Member) (MemberResult, error) {
	var res MemberResult
	conf, err := RenderMember(m)
	if err != nil {
		return res, err
	}
	m = m.WithDefaults()
	st, err := ReadMember(ctx, c, m.Node)
	if err != nil {
		return res, err
	}
	res.Before = st
	switch {
	case !st.Installed:
		return res, errors.New("nginx is not installed on the proxy guest (apt-get install nginx)")
	case !st.SiteDeployed:
		return res, fmt.Errorf("the proxy has no site of hipchatdc_reverse_proxy (%s): apply hipchatdc_reverse_proxy on it first", ConfFile)
	case !st.SiteIncludes:
		return res, fmt.Errorf("the proxy's site (%s) does not include %s/*.conf: it was written by an earlier provider version; apply hipchatdc_reverse_proxy with this version first", ConfFile, MembersDir)
	}
	// A node also in hipchatdc_reverse_proxy's nodes is accepted (the caller warns): NGINX takes
	// a server listed twice, and it is the first step of moving a node from nodes to a
	// membership without an outage (add the membership, then empty nodes).
	// The loaded worker_shutdown_timeout lower than m's drain timeout (or missing): the drain
	// file is recomputed.
	raiseDrain := st.DrainTimeout < m.Drain
	if st.Config == conf && !raiseDrain && st.Running {
		return res, nil
	}
	res.Changed = st.Config != conf

	if res.Changed || raiseDrain {
		stage := TLSDir + "/.member-" + path.Base(st.File)
		if err := c.WriteFile(ctx, stage, []byte(conf), 0o644, "root:root"); err != nil {
			return res, fmt.Errorf("stage %s: %w", st.File, err)
		}
		out, err := c.RunChange(ctx, addMemberScript(m, st.File, stage), nil)
		if err != nil {
			res.MayHaveChanged = true
			var ce *guest.CommandError
			if errors.As(err, &ce) && ce.ExitStatus == rejectedStatus {
				res.MayHaveChanged = false
				return res, &RejectedError{Output: ce.Stderr}
			}
			if errors.As(err, &ce) && ce.ExitStatus == probeStatus {
				res.MayHaveChanged = false
				return res, &NodeUnreachableError{Node: m.Node, Output: ce.Stderr}
			}
			return res, fmt.Errorf("add node %s to the reverse proxy: %w", m.Node, err)
		}
		res.Reloaded = strings.TrimSpace(string(out)) == "reloaded"
		res.Started = strings.TrimSpace(string(out)) == "started"
		return res, nil
	}
	// Only NGINX is down: start it, as hipchatdc_reverse_proxy's Apply would.
	if _, err := c.RunChange(ctx, "# start nginx\nnginx", nil); err != nil {
		return res, fmt.Errorf("start nginx: %w", err)
	}
	res.Started = true
	return res, nil
}

// probeScript checks, from the proxy guest, that node (host:port) answers HTTP: it opens a
// TCP connection with bash's /dev/tcp (bash is on every Debian and Ubuntu server; curl is not),
// sends a HEAD request and reads the status line. Any status counts (a node may answer 302 to
// its login page); a refused, unreachable or silent node fails within 10 s with exit status
// probeStatus and the reason on stderr.
func probeScript(node, onFail string) string {
	host, port, _ := net.SplitHostPort(node)
	return fmt.Sprintf(`h=%s; port=%s
line=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; printf "HEAD / HTTP/1.0\r\nHost: %%s\r\n\r\n" "$0" >&3; IFS= read -r l <&3; printf "%%s\n" "$l"' "$h" "$port" 2>&1)
st=$?
case "$line" in
HTTP/*) ;;
*)
	[ $st -eq 124 ] && line="no answer within 10 s"
	[ -z "$line" ] && line="the connection closed without an HTTP answer"
	printf '%%s\n' "$line" | tail -n 1 >&2
	%s
	exit %d
	;;
esac
`, guest.Quote(host), guest.Quote(port), onFail, probeStatus)
}

// drainScript sets DrainFile to the largest drain_timeout of the membership files present (the
// drain_timeout lines RenderMember writes), written atomically (a reload may read it at any
// time), or removes it when no membership is left, so that hipchatdc_reverse_proxy's own
// reloads are not bounded by a membership that is gone. It calls restore and fails when the
// main context does not include DrainFile's directory.
var drainScript = fmt.Sprintf(`max=0
for x in %s/*.conf; do
	[ -e "$x" ] || continue
	n=$(sed -n 's/^# drain_timeout \([0-9][0-9]*\)$/\1/p' "$x" | head -n 1)
	[ -n "$n" ] && [ "$n" -gt "$max" ] && max=$n
done
if [ "$max" -gt 0 ]; then
	[ -d "${d%%/*}" ] || { restore; echo "${d%%/*} does not exist: this nginx.conf does not include it in the main context" >&2; exit 1; }
	printf '# Managed by terraform-provider-hipchatdc (hipchatdc_reverse_proxy_node): the longest drain_timeout.\nworker_shutdown_timeout %%ss;\n' "$max" > "$d.tmp" && mv -f "$d.tmp" "$d" || { rm -f "$d.tmp"; restore; exit 1; }
else
	rm -f "$d"
fi
`, MembersDir)

// memberBackups names the copies a membership script keeps until nginx -t passes: one per
// membership file (not *.conf, so NGINX does not include it), and the drain file's, which only
// the holder of LockFile uses.
const memberBackups = `prev="$f.previous"
dprev=` + TLSDir + `/.drain-previous
`

// addMemberScript checks the node, moves the staged file into place (keeping the one it
// replaces), sets the drain file, tests, and either restores or reloads (or starts NGINX),
// holding LockFile. Paths are this package's; the node is a validated host:port, quoted.
func addMemberScript(m Member, live, stage string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# add reverse proxy node %s\nset -u\nf=%s\ns=%s\n", m.Node, guest.Quote(live), guest.Quote(stage))
	// Checked before anything is moved: a node that does not answer leaves the proxy as it was.
	b.WriteString(probeScript(m.Node, `rm -f "$s"`))
	b.WriteString(lockScript)
	b.WriteString(memberBackups)
	b.WriteString(placeholderScript)
	fmt.Fprintf(&b, `d=%s
install -d -m 0755 %s || exit 1
rm -f "$prev" "$dprev"
[ -e "$f" ] && { cp -p "$f" "$prev" || exit 1; }
[ -e "$d" ] && { cp -p "$d" "$dprev" || exit 1; }
restore() {
	if [ -e "$prev" ]; then mv -f "$prev" "$f"; else rm -f "$f"; fi
	if [ -e "$dprev" ]; then mv -f "$dprev" "$d"; else rm -f "$d"; fi
	placeholder
}
mv -f "$s" "$f" || { restore; exit 1; }
placeholder || { restore; exit 1; }
`, DrainFile, MembersDir)
	b.WriteString(drainScript)
	fmt.Fprintf(&b, `if ! out=$(nginx -t 2>&1); then
	restore
	printf '%%s\n' "$out" >&2
	exit %d
fi
rm -f "$prev" "$dprev"
`, rejectedStatus)
	b.WriteString(reloadOrStart)
	return b.String()
}

// RemoveMember takes node m out of the proxy and drains it: it removes the file, tests, reloads
// gracefully (new workers no longer know the node: new requests, also those whose route cookie
// hashed to it, go to the remaining nodes), then waits until the workers the reload retired
// have finished the requests they still hold (to this node and others) and exited, at most m's
// drain timeout; workers still serving then are stopped (their connections close), as NGINX's
// worker_shutdown_timeout would. A membership that is gone already changes nothing, but workers
// still shutting down are waited for the same way.
func RemoveMember(ctx context.Context, c guest.Runner, m Member) (MemberResult, error) {
	var res MemberResult
	if err := m.Validate(); err != nil {
		return res, err
	}
	m = m.WithDefaults()
	st, err := ReadMember(ctx, c, m.Node)
	if err != nil {
		return res, err
	}
	res.Before = st
	if !st.Present && !st.Running {
		return res, nil
	}
	// Run also when the file is gone already: a removal that failed after moving it (or a file
	// removed by hand) may have left workers still draining, and the destroy waits for them.
	// That only waits, unless the file was the last one and went by hand: NGINX refuses the
	// configuration left (an upstream without a server) and still sends requests to the node,
	// until the script puts the placeholder back and reloads.
	run := c.RunChange
	if !st.Present {
		out, err := c.Run(ctx, placeholderMissingScript, nil)
		if err != nil {
			return res, fmt.Errorf("remove node %s from the reverse proxy: %w", m.Node, err)
		}
		if strings.TrimSpace(string(out)) != "missing" {
			run = c.Run
		}
	}
	out, err := run(ctx, removeMemberScript(m, st.File), nil)
	if err != nil {
		var ce *guest.CommandError
		if errors.As(err, &ce) && ce.ExitStatus == rejectedStatus {
			return res, &RejectedError{Output: ce.Stderr}
		}
		res.MayHaveChanged = st.Present
		return res, fmt.Errorf("remove node %s from the reverse proxy: %w", m.Node, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "removed":
			res.Changed, res.Reloaded = true, true
		case len(f) == 2 && f[0] == "drained":
			ms, _ := strconv.ParseInt(f[1], 10, 64)
			res.Drained = time.Duration(ms) * time.Millisecond
		case len(f) == 2 && f[0] == "cut":
			res.CutOff, _ = strconv.Atoi(f[1])
		}
	}
	return res, nil
}

// removeMemberScript removes the file (kept aside until nginx -t passes), recomputes the drain
// file, reloads, and waits for the retired workers as RemoveMember says, holding LockFile until
// the reload (not while it drains). It prints "drained <ms>" and, when workers had to be
// stopped, "cut <n>". NGINX not running: the file goes, nothing else to do. A file that is
// absent already (a removal that failed after moving it, or one removed by hand) is not
// reloaded for again, but the workers still shutting down are waited for the same way.
func removeMemberScript(m Member, live string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# remove reverse proxy node %s\nset -u\nf=%s\nd=%s\n", m.Node, guest.Quote(live), DrainFile)
	b.WriteString(lockScript)
	b.WriteString(memberBackups)
	b.WriteString(placeholderScript)
	fmt.Fprintf(&b, `p=$(cat %s 2>/dev/null)
[ -n "$p" ] && kill -0 "$p" 2>/dev/null || p=
start=$(date +%%s%%N)
end=$(($(date +%%s) + %d))
if [ -e "$f" ]; then
	rm -f "$prev" "$dprev"
	[ -e "$d" ] && { cp -p "$d" "$dprev" || exit 1; }
	restore() {
		mv -f "$prev" "$f"
		if [ -e "$dprev" ]; then mv -f "$dprev" "$d"; else rm -f "$d"; fi
		placeholder
	}
	mv -f "$f" "$prev" || exit 1
	placeholder || { restore; exit 1; }
`, PIDFile, int64(m.Drain/time.Second))
	b.WriteString(drainScript)
	fmt.Fprintf(&b, `	if ! out=$(nginx -t 2>&1); then
		restore
		printf '%%s\n' "$out" >&2
		exit %d
	fi
	rm -f "$prev" "$dprev"
	[ -z "$p" ] && exit 0
%[2]s	echo removed
else
	had=
	[ -e %[3]s ] && had=1
	placeholder || exit 1
	if [ -z "$had" ] && [ -e %[3]s ] && [ -n "$p" ]; then
		# The last membership file was removed by hand: NGINX refused to load an upstream
		# without a server and still sends requests to this node. With the placeholder the
		# configuration loads, and the node is taken out as by any removal.
		if ! out=$(nginx -t 2>&1); then
			printf '%%s\n' "$out" >&2
			exit %[1]d
		fi
%[2]s		echo removed
	else
		[ -z "$p" ] && exit 0
		old=$(pgrep -P "$p")
	fi
fi
# Other changes may go on while this one drains.
exec 9>&-
# The retired workers finish what they hold; a worker keeps its PID and is titled
# "nginx: worker process is shutting down" until it exits. The deadline is by the clock, so
# that a busy guest (slow polls) does not stretch drain_timeout.
left=
while :; do
	left=
	for w in $old; do
		case "$(tr -d '\0' < /proc/$w/cmdline 2>/dev/null)" in "nginx: worker process is shutting down"*) left="$left $w" ;; esac
	done
	[ -z "$left" ] && break
	[ "$(date +%%s)" -ge "$end" ] && break
	sleep 0.1
done
if [ -n "$left" ]; then
	# drain_timeout is over: stop them as worker_shutdown_timeout would (their connections close).
	kill -TERM $left 2>/dev/null
	echo "cut $(echo $left | wc -w)"
fi
echo "drained $((($(date +%%s%%N) - start) / 1000000))"
`, rejectedStatus, gracefulReload, PlaceholderFile)
	return b.String()
}
