package identity

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Flavor is the kind of guest, which decides how hostname and NTP are set.
type Flavor int

const (
	// Appliance is the Hipchat node (the OVA): the hostname through
	// `dont-blame-hipchat -c "hostnamectl set-hostname NAME"`, NTP through
	// `hipchat service --ntp-servers a,b`, which keeps them in /etc/ntp.conf.
	Appliance Flavor = iota
	// Debian is a plain Debian guest (data stores, reverse proxy): `hostnamectl
	// set-hostname`, NTP in /etc/systemd/timesyncd.conf.
	Debian
)

func (f Flavor) String() string {
	if f == Appliance {
		return "appliance"
	}
	return "debian"
}

// Files the identity lives in.
const (
	InterfacesFile = "/etc/network/interfaces"
	PreviousFile   = "/etc/network/interfaces.hipchatdc-previous" // the file before the last address change
	HostsFile      = "/etc/hosts"
	NTPConfFile    = "/etc/ntp.conf"               // Appliance
	TimesyncdFile  = "/etc/systemd/timesyncd.conf" // Debian
	TimezoneFile   = "/etc/timezone"
	LocaltimeFile  = "/etc/localtime"
	zoneinfoDir    = "/usr/share/zoneinfo/"
)

// Identity is a guest's network identity. In Apply, zero fields are left alone.
type Identity struct {
	Address    netip.Prefix // static IPv4 address of eth0 with its prefix length
	Gateway    netip.Addr
	DNS        []string // dns-nameservers of the eth0 stanza
	Hostname   string
	NTPServers []string
	Timezone   string // the guide requires "UTC"
}

// Runner runs a read-only command on a guest; *guest.Conn is one.
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
}

// Observation is everything Read learns in its one command.
type Observation struct {
	// Identity is what the guest effectively has: eth0's address as the kernel has it (the
	// file's when the kernel has that one too), the running hostname, the zone /etc/localtime
	// points at.
	Identity Identity

	Interfaces       string         // content of /etc/network/interfaces
	Stanza           Stanza         // eth0's stanza in it
	Live             []netip.Prefix // IPv4 addresses eth0 really has
	Hosts            string         // content of /etc/hosts
	NTPConf          string         // /etc/ntp.conf (Appliance) or /etc/systemd/timesyncd.conf (Debian)
	TimezoneFileZone string         // content of /etc/timezone
	LocaltimeZone    string         // the zone /etc/localtime links to; empty when it is no link

	// Incomplete lists settings that are only half in place (e.g. a hostname without its
	// /etc/hosts line); Apply completes them. A caller can show them as drift.
	Incomplete []string
}

// ReadScript is the command Read runs. A resource may run it together with other recipes' read
// scripts as one command and give the output to Parse.
func ReadScript(f Flavor) string {
	ntp := NTPConfFile
	if f == Debian {
		ntp = TimesyncdFile
	}
	section := func(name, cmd string) string {
		// The echo after each file keeps a missing final newline from gluing the next marker on.
		return guest.EchoSection("identity", name) + cmd + " 2>/dev/null; echo\n"
	}
	return "# read network identity\n" +
		section("interfaces", "cat "+InterfacesFile) +
		section("addr", "ip -4 -o addr show dev "+Interface) +
		section("hostname", "hostname") +
		section("hosts", "cat "+HostsFile) +
		section("ntp", "cat "+ntp) +
		section("timezone", "cat "+TimezoneFile) +
		section("localtime", "readlink "+LocaltimeFile) +
		guest.EchoSection("identity", "end")
}

// Read returns the guest's identity with one command.
func Read(ctx context.Context, r Runner, f Flavor) (Identity, error) {
	o, err := Observe(ctx, r, f)
	return o.Identity, err
}

// Observe is Read with the details Apply needs.
func Observe(ctx context.Context, r Runner, f Flavor) (Observation, error) {
	out, err := r.Run(ctx, ReadScript(f), nil)
	if err != nil {
		return Observation{}, fmt.Errorf("read network identity: %w", err)
	}
	return parseObservation(string(out), f)
}

// Parse reads the identity from the output of ReadScript (alone or among other recipes').
func Parse(out string, f Flavor) (Identity, error) {
	o, err := parseObservation(out, f)
	return o.Identity, err
}

func parseObservation(out string, f Flavor) (Observation, error) {
	sections := guest.Sections(out, "identity")
	for name, s := range sections {
		// Files keep one final newline, whatever the script's echo added.
		if s = strings.TrimRight(s, "\n"); s != "" {
			s += "\n"
		}
		sections[name] = s
	}
	for _, s := range []string{"interfaces", "addr", "hostname", "hosts", "ntp", "timezone", "localtime"} {
		if _, ok := sections[s]; !ok {
			return Observation{}, fmt.Errorf("read network identity: output has no %s section", s)
		}
	}

	o := Observation{
		Interfaces:       sections["interfaces"],
		Hosts:            sections["hosts"],
		NTPConf:          sections["ntp"],
		TimezoneFileZone: strings.TrimSpace(sections["timezone"]),
	}
	var err error
	if o.Stanza, err = ParseInterfaces(o.Interfaces); err != nil {
		return o, err
	}
	o.Live = parseIPAddr(sections["addr"])
	if link := strings.TrimSpace(sections["localtime"]); link != "" {
		if i := strings.Index(link, "zoneinfo/"); i >= 0 {
			o.LocaltimeZone = link[i+len("zoneinfo/"):]
		}
	}

	id := &o.Identity
	id.Gateway, id.DNS = o.Stanza.Gateway, o.Stanza.DNS
	switch {
	case o.Stanza.Address.IsValid() && slices.Contains(o.Live, o.Stanza.Address):
		id.Address = o.Stanza.Address
	case len(o.Live) > 0:
		id.Address = o.Live[0]
	default:
		id.Address = o.Stanza.Address
	}
	if o.Stanza.Address.IsValid() && !slices.Contains(o.Live, o.Stanza.Address) {
		o.Incomplete = append(o.Incomplete, fmt.Sprintf("%s says %s but eth0 has %v", InterfacesFile, o.Stanza.Address, o.Live))
	}
	if o.Stanza.Method != "static" {
		o.Incomplete = append(o.Incomplete, fmt.Sprintf("%s: eth0 is not configured static (method %q)", InterfacesFile, o.Stanza.Method))
	}

	id.Hostname = strings.TrimSpace(sections["hostname"])
	if id.Hostname != "" && !hostsHasEntry(o.Hosts, id.Hostname) {
		o.Incomplete = append(o.Incomplete, fmt.Sprintf("%s has no \"127.0.0.1 %s\" line", HostsFile, id.Hostname))
	}

	if f == Appliance {
		id.NTPServers = parseNTPConf(o.NTPConf)
	} else {
		id.NTPServers = parseTimesyncd(o.NTPConf)
	}

	id.Timezone = normalizeZone(o.LocaltimeZone)
	if id.Timezone == "" {
		id.Timezone = normalizeZone(o.TimezoneFileZone)
	}
	if normalizeZone(o.TimezoneFileZone) != id.Timezone {
		o.Incomplete = append(o.Incomplete, fmt.Sprintf("%s says %q but %s is %q", TimezoneFile, o.TimezoneFileZone, LocaltimeFile, o.LocaltimeZone))
	}
	return o, nil
}

// parseIPAddr reads `ip -4 -o addr show` lines: "2: eth0    inet 10.0.0.5/24 brd ... ".
func parseIPAddr(s string) []netip.Prefix {
	var r []netip.Prefix
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					r = append(r, p)
				}
			}
		}
	}
	return r
}

// normalizeZone names UTC one way: Debian writes "Etc/UTC", the guide says "UTC".
func normalizeZone(z string) string {
	switch z {
	case "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "UTC":
		return "UTC"
	}
	return z
}
