package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Files and names on the guest.
const (
	Table     = "inet hipchatdc"
	RulesFile = "/etc/hipchatdc-firewall.nft"
	HookFile  = "/etc/network/if-pre-up.d/hipchatdc-firewall"
)

// Packages is what a guest needs for this recipe.
var Packages = []string{"nftables"}

// Rule accepts TCP (or UDP) connections to Port from the given sources.
type Rule struct {
	// Service names the rule (its nft comment, and drift messages).
	Service string
	// Proto is "tcp" (when empty) or "udp".
	Proto string
	// Port is the TCP port; 0 means the port the provider's SSH session reached (22 when the
	// session does not say).
	Port int
	// From are the networks allowed; empty with Provider false means from anywhere.
	From []netip.Prefix
	// Provider also allows the address the provider's SSH session comes from, unless From
	// already covers it.
	Provider bool
}

// Config is the firewall a user asks for.
type Config struct {
	// Enabled false asks for no hipchatdc table, rules file or hook on the guest; the guest's
	// other tables are never touched either way.
	Enabled bool
	// Resource names the resource type in the file's header.
	Resource string
	Rules    []Rule
}

// Validate checks what Render would otherwise write wrongly.
func (c Config) Validate() error {
	for _, r := range c.Rules {
		if r.Port < 0 || r.Port > 65535 {
			return fmt.Errorf("firewall: %s port %d is out of range", r.Service, r.Port)
		}
		if p := r.proto(); p != "tcp" && p != "udp" {
			return fmt.Errorf("firewall: %s protocol %q is not tcp or udp", r.Service, r.Proto)
		}
		if r.Service == "" || strings.ContainsAny(r.Service, "\"\\\n") {
			return fmt.Errorf("firewall: rule name %q must be plain text", r.Service)
		}
		for _, p := range r.From {
			if !p.IsValid() || !p.Addr().Is4() {
				return fmt.Errorf("firewall: %s source %v is not an IPv4 network", r.Service, p)
			}
		}
	}
	return nil
}

// Session is the provider's SSH session as the guest sees it ($SSH_CONNECTION).
type Session struct {
	Client netip.Addr
	Port   int // the guest's port the session reached
}

// ParseSession reads "client_ip client_port server_ip server_port".
func ParseSession(s string) Session {
	f := strings.Fields(s)
	if len(f) != 4 {
		return Session{}
	}
	var ses Session
	if a, err := netip.ParseAddr(f[0]); err == nil {
		ses.Client = a.Unmap()
	}
	ses.Port, _ = strconv.Atoi(f[3])
	return ses
}

// ErrNoNFT is Apply's error for a guest without nft.
var ErrNoNFT = errors.New("firewall: nft is not installed on the guest (Debian package nftables)")

// LockoutError is Apply refusing rules that would not let the provider's own SSH session in
// again: the rules match IPv4 sources only, so a session over IPv6 is let in only by a rule
// open to anywhere.
type LockoutError struct{ Session Session }

func (e *LockoutError) Error() string {
	return fmt.Sprintf("firewall: the provider's SSH session comes from %s to port %d, which the rules would not let in again; nothing was loaded",
		e.Session.Client, e.Session.Port)
}

// Admits says whether the rules Render writes for c and s accept a new connection from the
// session's address to the port it reached (the next apply's connection).
func (c Config) Admits(s Session) bool {
	for _, r := range c.Rules {
		if r.proto() != "tcp" || r.port(s) != s.Port {
			continue
		}
		elems := r.sourceSet(s)
		if len(elems) == 0 {
			return true
		}
		if s.Client.Is4() && slices.ContainsFunc(elems, func(p netip.Prefix) bool { return p.Contains(s.Client) }) {
			return true
		}
	}
	return false
}

// sourceSet is the networks the rule admits (none: anywhere).
func (r Rule) sourceSet(s Session) []netip.Prefix {
	var elems []netip.Prefix
	for _, p := range r.From {
		elems = append(elems, p.Masked())
	}
	if r.Provider && s.Client.IsValid() && s.Client.Is4() && !slices.ContainsFunc(r.From, func(p netip.Prefix) bool { return p.Contains(s.Client) }) {
		elems = append(elems, netip.PrefixFrom(s.Client, 32))
	}
	return elems
}

// sources is the rule's nft source match ("" for anywhere).
func (r Rule) sources(s Session) string {
	var elems []string
	for _, p := range r.From {
		elems = append(elems, p.Masked().String())
	}
	if r.Provider && s.Client.IsValid() && s.Client.Is4() && !slices.ContainsFunc(r.From, func(p netip.Prefix) bool { return p.Contains(s.Client) }) {
		elems = append(elems, s.Client.String())
	}
	switch len(elems) {
	case 0:
		return ""
	case 1:
		return "ip saddr " + elems[0] + " "
	}
	return "ip saddr { " + strings.Join(elems, ", ") + " } "
}

func (r Rule) proto() string {
	if r.Proto == "" {
		return "tcp"
	}
	return r.Proto
}

func (r Rule) port(s Session) int {
	if r.Port != 0 {
		return r.Port
	}
	if s.Port != 0 {
		return s.Port
	}
	return 22
}

// Render returns the rules file for c as the session s sees the guest: it replaces the
// hipchatdc table as a whole, in one nft transaction.
func Render(c Config, s Session) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("#!/usr/sbin/nft -f")
	w("# Managed by terraform-provider-hipchatdc (%s); changes are overwritten.", c.Resource)
	w("# Hipchat Data Center small-scale guide: \"Your private network should only allow inbound")
	w("# connections on port 80 (HTTP), 443 (HTTPS), and 22 (SSH).\" Only this table is the")
	w("# provider's: it is replaced as a whole, and other tables are left alone.")
	w("table %s {}", Table)
	w("delete table %s", Table)
	w("table %s {", Table)
	w("\tchain input {")
	// Policy accept and a last rule that drops: a table flushed by hand (rules gone, chain
	// kept) then lets everything in, which refresh reports, instead of cutting every connection,
	// the provider's own included.
	w("\t\ttype filter hook input priority filter; policy accept;")
	w("\t\tct state established,related accept")
	w("\t\tct state invalid drop")
	w("\t\tiif \"lo\" accept")
	// ICMP: ping, path MTU discovery and (IPv6) neighbour discovery.
	w("\t\tmeta l4proto { icmp, ipv6-icmp } accept")
	for _, r := range c.Rules {
		w("\t\t%s dport %d %saccept comment %q", r.proto(), r.port(s), r.sources(s), r.Service)
	}
	// A closed TCP port answers at once ("connection refused") rather than leaving a
	// misconfigured client (a node outside allowed_cidr) to time out; the rest is dropped.
	w("\t\tmeta l4proto tcp reject with tcp reset comment \"closed\"")
	w("\t\tdrop comment \"closed\"")
	w("\t}")
	w("}")
	return b.String()
}

// Hook is the ifupdown hook that loads RulesFile before an interface comes up.
const Hook = `#!/bin/sh
# Managed by terraform-provider-hipchatdc: loads the guest firewall (table ` + Table + `)
# before an interface comes up, so that it survives a reboot. Never fails the interface: a
# guest that cannot load its rules stays reachable, and the provider reports the table missing.
[ -r ` + RulesFile + ` ] || exit 0
command -v nft >/dev/null 2>&1 || exit 0
nft -f ` + RulesFile + ` || echo "hipchatdc-firewall: nft -f ` + RulesFile + ` failed" >&2
exit 0
`

// State is what Read finds on the guest.
type State struct {
	NFT          bool   // nft is installed
	File         string // RulesFile ("" when absent)
	FilePresent  bool
	Hook         string // HookFile's content ("" when absent)
	HookRunnable bool   // HookFile is executable, so run-parts runs it
	// Loaded is the table as `nft list table` prints it; TableLoaded false when it is absent.
	Loaded      string
	TableLoaded bool
	// Want is RulesFile as nft lists it once loaded (in a throwaway network namespace); ""
	// when that could not be done, with WantError saying why.
	Want      string
	WantError string
	Session   Session
}

// ReadScript is the shell fragment Read runs; the resource concatenates it with other
// recipes' into one command. $1 is the session ($SSH_CONNECTION), as guest.Conn passes it.
func ReadScript() string {
	sec := func(name string) string { return guest.EchoSection("firewall", name) }
	return "# read firewall\n(\n" +
		sec("session") + `echo "${1:-}"` + "\n" +
		sec("nft") + "command -v nft || true\n" +
		sec("file") + "cat " + RulesFile + " 2>/dev/null; echo\n" +
		sec("hook") + "cat " + HookFile + " 2>/dev/null; echo\n" +
		sec("hookx") + "[ -x " + HookFile + " ] && echo executable\n" +
		sec("loaded") + "command -v nft >/dev/null && nft list table " + Table + " 2>/dev/null\n" +
		sec("want") + "if command -v nft >/dev/null && [ -r " + RulesFile + " ]; then unshare -n sh -c 'nft -f " + RulesFile + " && nft list table " + Table + "' 2>&1 || echo '@@error'; fi\n" +
		sec("end") + ")\n"
}

// Read returns the guest's firewall with one command, r being the provider's own connection.
func Read(ctx context.Context, r guest.Runner) (State, error) {
	out, err := r.Run(ctx, ReadScript(), nil)
	if err != nil {
		return State{}, fmt.Errorf("read firewall: %w", err)
	}
	return Parse(string(out))
}

// Parse reads the output of ReadScript (alone or among other recipes' sections).
func Parse(out string) (State, error) {
	sec := guest.Sections(out, "firewall")
	for _, s := range []string{"session", "nft", "file", "hook", "hookx", "loaded", "want", "end"} {
		if _, ok := sec[s]; !ok {
			return State{}, fmt.Errorf("read firewall: output has no %s section", s)
		}
	}
	st := State{
		NFT:          strings.TrimSpace(sec["nft"]) != "",
		Session:      ParseSession(sec["session"]),
		HookRunnable: strings.TrimSpace(sec["hookx"]) == "executable",
		Loaded:       strings.TrimSpace(sec["loaded"]),
	}
	st.TableLoaded = st.Loaded != ""
	st.File = fileContent(sec["file"])
	st.FilePresent = st.File != ""
	st.Hook = fileContent(sec["hook"])
	want := strings.TrimSpace(sec["want"])
	if w, failed := strings.CutSuffix(want, "@@error"); failed {
		st.WantError = strings.TrimSpace(w)
	} else {
		st.Want = want
	}
	return st, nil
}

// fileContent undoes the read script's trailing echo.
func fileContent(s string) string {
	s = strings.TrimSuffix(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return s
}

// ruleLines are the lines of an nft listing or file inside the table, trimmed.
func ruleLines(s string) []string {
	var r []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			r = append(r, l)
		}
	}
	return r
}

// lineDiff says which lines of want got lacks, and which it has besides.
func lineDiff(what string, got, want []string) []string {
	var d []string
	for _, l := range want {
		if !slices.Contains(got, l) {
			d = append(d, fmt.Sprintf("%s lacks `%s`", what, l))
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			d = append(d, fmt.Sprintf("%s has `%s`, which the configuration does not ask for", what, l))
		}
	}
	return d
}

// Drift lists, in words, where the guest differs from c. Empty means Apply has nothing to do.
func (s State) Drift(c Config) []string {
	if !c.Enabled {
		var d []string
		if s.TableLoaded {
			d = append(d, "table "+Table+" is loaded, but the provider's firewall is turned off")
		}
		if s.FilePresent || s.Hook != "" {
			d = append(d, RulesFile+" or "+HookFile+" is still on the guest, but the provider's firewall is turned off")
		}
		return d
	}
	if !s.NFT {
		return []string{"nft is not installed (Debian package nftables)"}
	}
	var d []string
	want := Render(c, s.Session)
	switch {
	case !s.FilePresent:
		d = append(d, RulesFile+" is missing")
	case s.File != want:
		d = append(d, lineDiff(RulesFile, ruleLines(s.File), ruleLines(want))...)
		if len(d) == 0 {
			d = append(d, RulesFile+" differs from the rendered rules")
		}
	}
	if s.Hook != Hook || !s.HookRunnable {
		d = append(d, HookFile+" is missing or differs, so the rules would not be loaded at boot")
	}
	switch {
	case !s.TableLoaded:
		d = append(d, "table "+Table+" is not loaded: the guest accepts every connection")
	case s.Want != "" && s.Loaded != s.Want:
		ld := lineDiff("the loaded table", ruleLines(s.Loaded), ruleLines(s.Want))
		if len(ld) == 0 {
			ld = []string{"the loaded table " + Table + " differs from " + RulesFile}
		}
		d = append(d, ld...)
	}
	return d
}

// Result says what Apply did.
type Result struct {
	Before  State
	Changed []string // "rules", "hook", "loaded", "removed"
}

// Apply brings the guest's firewall to c over the provider's connection r: it reads first
// (one command), checks a new rules file with `nft -c` before writing it, writes the file and
// the hook only when they differ, and loads the file only when it changed or the loaded table
// differs from it. With c.Enabled false it removes the hipchatdc table, file and hook when
// present. A second Apply with the same c runs no changing command.
func Apply(ctx context.Context, r guest.Runner, c Config) (Result, error) {
	var res Result
	if err := c.Validate(); err != nil {
		return res, err
	}
	st, err := Read(ctx, r)
	if err != nil {
		return res, err
	}
	res.Before = st
	if !c.Enabled {
		if len(st.Drift(c)) == 0 {
			return res, nil
		}
		script := "# remove the hipchatdc firewall\nrm -f " + HookFile + " " + RulesFile + "\n" +
			"if command -v nft >/dev/null && nft list table " + Table + " >/dev/null 2>&1; then nft delete table " + Table + "; fi\n"
		if _, err := r.RunChange(ctx, script, nil); err != nil {
			return res, fmt.Errorf("firewall: remove: %w", err)
		}
		res.Changed = append(res.Changed, "removed")
		return res, nil
	}
	if !st.NFT {
		return res, ErrNoNFT
	}
	if !st.Session.Client.IsValid() {
		// Without it the rules could shut out the connection the next apply comes over.
		return res, fmt.Errorf("firewall: the guest does not say where the provider's SSH session comes from ($SSH_CONNECTION is empty)")
	}
	if !c.Admits(st.Session) {
		// Loading the rules would shut out the connection the next apply comes over.
		return res, &LockoutError{Session: st.Session}
	}
	want := Render(c, st.Session)
	if st.File != want {
		// nft checks the whole file without loading it; nothing is written when it refuses.
		if out, err := r.Run(ctx, "nft -c -f /dev/stdin", strings.NewReader(want)); err != nil {
			return res, fmt.Errorf("firewall: nft refuses the rules: %w %s", err, out)
		}
		if err := r.WriteFile(ctx, RulesFile, []byte(want), 0o644, "root:root"); err != nil {
			return res, fmt.Errorf("firewall: %w", err)
		}
		res.Changed = append(res.Changed, "rules")
	}
	if st.Hook != Hook || !st.HookRunnable {
		if err := r.WriteFile(ctx, HookFile, []byte(Hook), 0o755, "root:root"); err != nil {
			return res, fmt.Errorf("firewall: %w", err)
		}
		res.Changed = append(res.Changed, "hook")
	}
	if slices.Contains(res.Changed, "rules") || !st.TableLoaded || (st.Want != "" && st.Loaded != st.Want) {
		// One transaction: the table is replaced whole or not at all. The session this runs
		// over is an established connection, which the first rule accepts.
		if _, err := r.RunChange(ctx, "# load the hipchatdc firewall\nnft -f "+RulesFile, nil); err != nil {
			return res, fmt.Errorf("firewall: load %s: %w", RulesFile, err)
		}
		res.Changed = append(res.Changed, "loaded")
	}
	return res, nil
}
