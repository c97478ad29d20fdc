package identity

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// Options tune Apply. Zero values pick the defaults.
type Options struct {
	// ReconnectTimeout bounds reaching the guest at its new address after an address change.
	ReconnectTimeout time.Duration // default 60 s
	// RollbackAfter is how long the watchdog on the guest waits for the provider to confirm
	// the new address before it restores the previous one. It must exceed ReconnectTimeout.
	RollbackAfter time.Duration // default ReconnectTimeout + 30 s

	// scheduleHead and scheduleTail are shell that the command scheduling an address change
	// runs first and after it started the change: tests cut that command's session before it
	// did anything, or keep it running past the change's ifdown, so that its session always
	// loses its connection.
	scheduleHead, scheduleTail string
	// beforeRollback is shell that the change runs when ifup failed, before it restores the
	// previous address: tests hold the failed change there until the provider is confirming
	// over a connection to the new address, which the rollback then leaves hanging.
	beforeRollback string
}

func (o Options) withDefaults() Options {
	if o.ReconnectTimeout <= 0 {
		o.ReconnectTimeout = 60 * time.Second
	}
	if o.RollbackAfter <= o.ReconnectTimeout {
		o.RollbackAfter = o.ReconnectTimeout + 30*time.Second
	}
	return o
}

// Result says what Apply did.
type Result struct {
	// Conn is the connection to use from now on. After an address change it is a new
	// connection to the new address (through the same bastion), and the one passed to Apply
	// has been closed. After a failed address change it is a connection to the old address
	// when the guest answers there again, or nil.
	Conn    *guest.Conn
	Before  Identity
	Changed []string // "address", "hostname", "ntp_servers", "timezone", in the order applied
}

var (
	hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	zonePattern     = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)
)

// Validate checks that want can be written safely: the values end up in config files and,
// for hostname and NTP servers, on command lines, so only well-formed names pass.
func (want Identity) Validate() error {
	if want.Address.IsValid() && !want.Address.Addr().Is4() {
		return fmt.Errorf("address %s is not IPv4", want.Address)
	}
	if want.Gateway.IsValid() && !want.Gateway.Is4() {
		return fmt.Errorf("gateway %s is not IPv4", want.Gateway)
	}
	for _, d := range want.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("DNS server %q is not an IP address", d)
		}
	}
	if want.Hostname != "" && (!hostnamePattern.MatchString(want.Hostname) || len(want.Hostname) > 253) {
		return fmt.Errorf("hostname %q is not a valid host name", want.Hostname)
	}
	for _, s := range want.NTPServers {
		if _, err := netip.ParseAddr(s); err != nil && !hostnamePattern.MatchString(s) {
			return fmt.Errorf("NTP server %q is not a host name or IP address", s)
		}
	}
	if want.Timezone != "" && (!zonePattern.MatchString(want.Timezone) || strings.Contains(want.Timezone, "..")) {
		return fmt.Errorf("timezone %q is not a zone name", want.Timezone)
	}
	return nil
}

// Apply brings the guest to want, changing only what differs; fields of want that are zero
// are left alone. It reads first (one command) and runs no changing command when nothing
// differs. The address is changed first, so that a failed change leaves everything else as
// it was; the other steps then run over the connection to the new address.
func Apply(ctx context.Context, c *guest.Conn, f Flavor, want Identity, opts Options) (Result, error) {
	res := Result{Conn: c}
	if err := want.Validate(); err != nil {
		return res, err
	}
	opts = opts.withDefaults()
	obs, err := Observe(ctx, c, f)
	if err != nil {
		return res, err
	}
	res.Before = obs.Identity
	if want.Address.IsValid() {
		// The stanza is rewritten whole: a gateway or DNS list the caller leaves zero keeps
		// what the guest has, as every other zero field does.
		if !want.Gateway.IsValid() {
			want.Gateway = obs.Stanza.Gateway
		}
		if want.DNS == nil {
			want.DNS = obs.Stanza.DNS
		}
	}

	if addressDiffers(obs, want) {
		conn, err := changeAddress(ctx, c, obs, want, opts)
		res.Conn = conn
		if err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, "address")
	}
	c = res.Conn

	if want.Hostname != "" && (obs.Identity.Hostname != want.Hostname || !hostsHasEntry(obs.Hosts, want.Hostname)) {
		if err := setHostname(ctx, c, f, obs, want.Hostname); err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, "hostname")
	}
	if want.NTPServers != nil && !slices.Equal(obs.Identity.NTPServers, want.NTPServers) {
		if err := setNTP(ctx, c, f, obs, want.NTPServers); err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, "ntp_servers")
	}
	if want.Timezone != "" && (normalizeZone(obs.LocaltimeZone) != normalizeZone(want.Timezone) ||
		normalizeZone(obs.TimezoneFileZone) != normalizeZone(want.Timezone)) {
		if err := setTimezone(ctx, c, want.Timezone); err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, "timezone")
	}
	return res, nil
}

func addressDiffers(obs Observation, want Identity) bool {
	if !want.Address.IsValid() {
		return false
	}
	s := obs.Stanza
	return s.Method != "static" || !s.Auto || s.Address != want.Address || s.Gateway != want.Gateway ||
		!slices.Equal(s.DNS, want.DNS) || !slices.Equal(obs.Live, []netip.Prefix{want.Address})
}

func setHostname(ctx context.Context, c *guest.Conn, f Flavor, obs Observation, name string) error {
	if obs.Identity.Hostname != name {
		cmd := "hostnamectl set-hostname " + guest.Quote(name)
		if f == Appliance {
			// The appliance's shell refuses system changes unless they go through this wrapper.
			cmd = "dont-blame-hipchat -c " + guest.Quote(cmd)
		}
		if _, err := c.RunChange(ctx, "# set hostname\n"+cmd, nil); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	hosts := RenderHosts(obs.Hosts, name, obs.Identity.Hostname)
	if hosts != obs.Hosts {
		if err := c.WriteFile(ctx, HostsFile, []byte(hosts), 0o644, "root:root"); err != nil {
			return fmt.Errorf("write %s: %w", HostsFile, err)
		}
	}
	return nil
}

func setNTP(ctx context.Context, c *guest.Conn, f Flavor, obs Observation, servers []string) error {
	if f == Appliance {
		// Validate() allowed only host names and addresses, so the join is one safe word.
		cmd := "# set NTP servers\nhipchat service --ntp-servers " + guest.Quote(strings.Join(servers, ","))
		if _, err := c.RunChange(ctx, cmd, nil); err != nil {
			return fmt.Errorf("set NTP servers: %w", err)
		}
		return nil
	}
	conf := RenderTimesyncd(obs.NTPConf, servers)
	if err := c.WriteFile(ctx, TimesyncdFile, []byte(conf), 0o644, "root:root"); err != nil {
		return fmt.Errorf("write %s: %w", TimesyncdFile, err)
	}
	// Only where systemd runs; elsewhere the file takes effect when timesyncd starts.
	_, err := c.RunChange(ctx, "# restart timesyncd\nif [ -d /run/systemd/system ]; then systemctl try-restart systemd-timesyncd; fi", nil)
	return err
}

func setTimezone(ctx context.Context, c *guest.Conn, zone string) error {
	name := zone
	if normalizeZone(zone) == "UTC" {
		name = "Etc/UTC" // as Debian's tzdata writes it
	}
	script := fmt.Sprintf(`# set timezone
z=%s
[ -f %s"$z" ] || { echo "no zone file %s$z" >&2; exit 3; }
ln -sfn %s"$z" %s
printf '%%s\n' "$z" > %s`, guest.Quote(name), zoneinfoDir, zoneinfoDir, zoneinfoDir, LocaltimeFile, TimezoneFile)
	if _, err := c.RunChange(ctx, script, nil); err != nil {
		return fmt.Errorf("set timezone: %w", err)
	}
	return nil
}
