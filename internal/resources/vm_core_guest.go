package resources

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
)

// guestConfig merges the resource's connection block over the provider's ssh block into the SSH
// engine's configuration for host.
func (o vmOps) guestConfig(c *vmCore, host string) (guest.Config, error) {
	var prov ConnectionModel
	if o.data != nil && o.data.SSH != nil {
		prov = *o.data.SSH
	}
	var res ConnectionModel
	if c.Connection != nil {
		res = *c.Connection
	}
	str := func(r, p types.String) string {
		if known(r) {
			return r.ValueString()
		}
		if known(p) {
			return p.ValueString()
		}
		return ""
	}
	num := func(r, p types.Int64) int {
		if known(r) {
			return int(r.ValueInt64())
		}
		if known(p) {
			return int(p.ValueInt64())
		}
		return 0
	}
	flag := func(r, p types.Bool) bool {
		if known(r) {
			return r.ValueBool()
		}
		return known(p) && p.ValueBool()
	}
	cfg := guest.Config{Target: guest.Endpoint{
		Host:       host,
		Port:       num(res.Port, prov.Port),
		User:       str(res.User, prov.User),
		Password:   str(res.Password, prov.Password),
		PrivateKey: str(res.PrivateKey, prov.PrivateKey),
		Passphrase: str(res.PrivateKeyPassphrase, prov.PrivateKeyPassphrase),
		Agent:      flag(res.Agent, prov.Agent),
	}}
	if cfg.Target.User == "" {
		cfg.Target.User = "root"
	}
	// The resource's own host-key setting (any of the three) replaces the provider's (or the
	// environment's): each names how this one guest is verified, and they do not add up.
	hk := o.hostKeyVerification(c)
	if err := hk.check(); err != nil {
		return cfg, err
	}
	cfg.Target.HostKey, cfg.Target.KnownHostsFile, cfg.Target.InsecureIgnoreHostKey = hk.hostKey, hk.knownHostsFile, hk.insecure
	if b := str(res.BastionHost, prov.BastionHost); b != "" {
		bastion := guest.Endpoint{
			Host:           b,
			Port:           num(res.BastionPort, prov.BastionPort),
			User:           str(res.BastionUser, prov.BastionUser),
			Password:       str(res.BastionPassword, prov.BastionPassword),
			PrivateKey:     str(res.BastionPrivateKey, prov.BastionPrivateKey),
			HostKey:        str(res.BastionHostKey, prov.BastionHostKey),
			KnownHostsFile: cfg.Target.KnownHostsFile,
			Agent:          cfg.Target.Agent,
		}
		if bastion.User == "" {
			bastion.User = cfg.Target.User
		}
		if bastion.Password == "" && bastion.PrivateKey == "" {
			bastion.Password, bastion.PrivateKey, bastion.Passphrase = cfg.Target.Password, cfg.Target.PrivateKey, cfg.Target.Passphrase
		}
		// The jump host is not the guest: a known_hosts file the resource replaced for its guest
		// (with host_key or insecure_ignore_host_key) still verifies the jump host.
		if bastion.KnownHostsFile == "" {
			bastion.KnownHostsFile = valueOr(prov.KnownHostsFile)
		}
		if bastion.HostKey != "" {
			bastion.KnownHostsFile = ""
		}
		bastion.InsecureIgnoreHostKey = bastion.HostKey == "" && bastion.KnownHostsFile == "" && cfg.Target.InsecureIgnoreHostKey
		cfg.Bastion = &bastion
	}
	if t := str(res.Timeout, prov.Timeout); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return cfg, fmt.Errorf("ssh timeout %q is not a duration such as 5m: %w", t, err)
		}
		cfg.Timeout = d
	}
	return cfg, nil
}

// checkSSH checks the ssh settings an apply is about to use, before it changes anything: the
// host-key settings (values that were unknown at plan time, a known_hosts file that is not
// there) and what the SSH engine checks before dialling (credentials, port). False means an
// error was recorded.
func (o vmOps) checkSSH(c *vmCore, diags *diag.Diagnostics) bool {
	if !c.managesGuest() {
		return true
	}
	host := c.IPv4Address.ValueString()
	if c.Connection != nil && known(c.Connection.Host) {
		host = c.Connection.Host.ValueString()
	}
	cfg, err := o.guestConfig(c, host)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		diags.AddAttributeError(path.Root("ssh"), "Invalid ssh settings", err.Error()+". Nothing was created or changed.")
		return false
	}
	return true
}

// desiredIdentity is the network identity the plan asks for.
func (c *vmCore) desiredIdentity(ctx context.Context) identity.Identity {
	addr, _ := netip.ParseAddr(c.IPv4Address.ValueString())
	id := identity.Identity{
		Address:    netip.PrefixFrom(addr, int(c.IPv4Netmask.ValueInt64())),
		Hostname:   c.Hostname.ValueString(),
		DNS:        listStrings(ctx, c.DNSServers),
		NTPServers: listStrings(ctx, c.NTPServers),
		Timezone:   c.Timezone.ValueString(),
	}
	if known(c.IPv4Gateway) {
		id.Gateway, _ = netip.ParseAddr(c.IPv4Gateway.ValueString())
	}
	// An empty list asks for no DNS servers; a null one leaves the guest's alone.
	if known(c.DNSServers) && id.DNS == nil {
		id.DNS = []string{}
	}
	return id
}

// bootstrapHost is where the guest answers before this apply: an explicit connection.host,
// the static address an earlier apply gave it, or the address VMware Tools reports.
func (o vmOps) bootstrapHost(ctx context.Context, c, prior *vmCore, diags *diag.Diagnostics) string {
	if c.Connection != nil && known(c.Connection.Host) {
		return c.Connection.Host.ValueString()
	}
	if prior != nil && known(prior.IPv4Address) {
		return prior.IPv4Address.ValueString()
	}
	vc := o.client(ctx, diags)
	if vc == nil {
		return ""
	}
	tflog.Info(ctx, "waiting for VMware Tools to report the guest's address", map[string]any{"vm": c.ID.ValueString()})
	ip, err := vc.WaitForIP(ctx, c.ID.ValueString(), 10*time.Minute)
	if err != nil {
		diags.AddAttributeError(path.Root("ssh").AtName("host"), "Guest address unknown",
			"VMware Tools reported no IPv4 address for the VM: "+err.Error()+". Set ssh.host to the address the guest boots with.")
		return ""
	}
	return ip
}

// warnInsecure repeats the danger of skipping host key verification on every apply; from is
// the block that set it.
func warnInsecure(cfg guest.Config, from string, diags *diag.Diagnostics) {
	if cfg.Target.InsecureIgnoreHostKey || (cfg.Bastion != nil && cfg.Bastion.InsecureIgnoreHostKey) {
		diags.AddAttributeWarning(path.Root("ssh").AtName("insecure_ignore_host_key"), "SSH host keys are not verified",
			"insecure_ignore_host_key is set (in "+from+"): anyone who can intercept the connection can impersonate the guest and receive its configuration and secrets. Pin host_key or use known_hosts_file.")
	}
}

// sshError is err from dialling the guest, and for a host key that could not be verified,
// which setting verified it and where that was set: a known_hosts file inherited from the
// environment is otherwise a surprise.
func (o vmOps) sshError(c *vmCore, err error) string {
	var he *guest.HostKeyError
	if errors.As(err, &he) {
		return err.Error() + " (host key checked with " + o.hostKeyVerification(c).describe() + ")"
	}
	return err.Error()
}

// configureGuest pushes the network identity over SSH and returns a connection to the guest at
// its (new) address for the role's own steps. nil means the resource does not manage the guest
// or an error was recorded.
func (o vmOps) configureGuest(ctx context.Context, plan, prior *vmCore, flavor identity.Flavor, diags *diag.Diagnostics) *guest.Conn {
	if !plan.managesGuest() {
		return nil
	}
	host := o.bootstrapHost(ctx, plan, prior, diags)
	if host == "" {
		return nil
	}
	cfg, err := o.guestConfig(plan, host)
	if err != nil {
		diags.AddAttributeError(path.Root("ssh"), "Invalid ssh settings", err.Error())
		return nil
	}
	warnInsecure(cfg, o.hostKeyVerification(plan).from, diags)
	conn, err := guest.Dial(ctx, cfg)
	if err != nil {
		diags.AddAttributeError(path.Root("ssh"), "Cannot reach the guest over SSH", o.sshError(plan, err))
		return nil
	}
	res, err := identity.Apply(ctx, conn, flavor, plan.desiredIdentity(ctx), identity.Options{})
	conn = res.Conn
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		diags.AddAttributeError(path.Root("ipv4_address"), "Cannot configure the guest's network identity", err.Error())
		return nil
	}
	if len(res.Changed) > 0 {
		tflog.Info(ctx, "guest network identity changed", map[string]any{"changed": res.Changed})
	}
	return conn
}

// dialForRead connects to the guest to read it back: at its recorded address, or where VMware
// Tools says it is when that one does not answer. nil when the guest is not managed or cannot
// be reached; then unverified says why, in words for the plan ("" when there was nothing to
// verify, or on import, where a warning says it).
func (o vmOps) dialForRead(ctx context.Context, c *vmCore, defaultIP string, imported bool, diags *diag.Diagnostics) (conn *guest.Conn, unverified string) {
	if !c.managesGuest() && !imported {
		return nil, ""
	}
	host := defaultIP
	if known(c.IPv4Address) {
		host = c.IPv4Address.ValueString()
	}
	if c.Connection != nil && known(c.Connection.Host) && !known(c.IPv4Address) {
		host = c.Connection.Host.ValueString()
	}
	if host == "" {
		if !imported {
			return nil, "the VM reports no IPv4 address, so its network identity and services could not be checked"
		}
		return nil, ""
	}
	cfg, err := o.guestConfig(c, host)
	if err != nil {
		diags.AddAttributeError(path.Root("ssh"), "Invalid ssh settings", err.Error())
		return nil, ""
	}
	// Refresh is read-only: do not wait minutes for a guest that is down.
	if cfg.Timeout == 0 || cfg.Timeout > 30*time.Second {
		cfg.Timeout = 30 * time.Second
	}
	// When VMware Tools reports another address, the guest has probably moved: do not spend
	// the whole budget on the recorded one before trying it.
	first := cfg
	moved := defaultIP != "" && defaultIP != host
	if moved {
		first.Timeout = 5 * time.Second
	}
	conn, err = guest.Dial(ctx, first)
	var ce *guest.ConnectError
	if errors.As(err, &ce) && moved {
		// The recorded address does not answer (an apply that failed after moving the guest,
		// or a change made at the console): read the guest where VMware Tools says it is, so
		// that the plan shows the address it really has.
		retry := cfg
		retry.Target.Host = defaultIP
		if c2, err2 := guest.Dial(ctx, retry); err2 == nil {
			conn, err = c2, nil
		}
	}
	if err != nil {
		if imported {
			diags.AddWarning("Guest settings not imported", "Could not reach the guest at "+host+" with the provider's ssh settings: "+err.Error())
			return nil, ""
		}
		diags.AddWarning("Guest settings not verified", "Could not reach the guest at "+host+" to check its settings for drift: "+o.sshError(c, err)+
			". The plan lists this under drift, so that it is not taken for a clean deployment; an apply fails the same way until the guest can be reached.")
		return nil, "SSH to " + host + " failed: " + err.Error()
	}
	return conn, ""
}

// readGuest refreshes the network identity from the guest so that drift shows in the plan, in
// one SSH command that also runs the role's read script; it returns that command's output. A
// guest that cannot be reached is not an error (the plan still shows the VM) but is not taken
// for one without drift either: drift holds "guest not verified: <why>", a planned change, so
// that `terraform plan -detailed-exitcode` does not report a clean deployment it could not
// look at. open, when not nil, is the connection an apply configured the guest over: the
// read-back runs on it (and leaves it open) instead of paying for a second handshake.
func (o vmOps) readGuest(ctx context.Context, c *vmCore, defaultIP string, flavor identity.Flavor, imported bool, script func() string, open *guest.Conn, diags *diag.Diagnostics) (string, bool) {
	conn := open
	if conn == nil {
		var unverified string
		if conn, unverified = o.dialForRead(ctx, c, defaultIP, imported, diags); conn == nil {
			if unverified != "" {
				c.Drift = types.ListValueMust(types.StringType, []attr.Value{types.StringValue(notVerified + unverified)})
			}
			return "", false
		}
		defer conn.Close()
	}
	out, err := conn.Run(ctx, identity.ReadScript(flavor)+script(), nil)
	if err != nil {
		diags.AddError("Cannot read the guest's settings", err.Error())
		return "", false
	}
	got, err := identity.Parse(string(out), flavor)
	if err != nil {
		diags.AddError("Cannot read the guest's settings", err.Error())
		return "", false
	}
	c.setIdentity(got, imported)
	return string(out), true
}

// notVerified starts the drift entry of a guest that refresh could not read.
const notVerified = "guest not verified: "

// setIdentity records what the guest has. Settings the configuration leaves out (null) are
// not the provider's to manage and stay null, except on import, which records everything.
func (c *vmCore) setIdentity(id identity.Identity, imported bool) {
	c.Hostname = stringValue(id.Hostname)
	if id.Address.IsValid() {
		c.IPv4Address = types.StringValue(id.Address.Addr().String())
		c.IPv4Netmask = types.Int64Value(int64(id.Address.Bits()))
	} else {
		c.IPv4Address, c.IPv4Netmask = types.StringNull(), types.Int64Null()
	}
	if !c.IPv4Gateway.IsNull() || imported {
		c.IPv4Gateway = types.StringNull()
		if id.Gateway.IsValid() {
			c.IPv4Gateway = types.StringValue(id.Gateway.String())
		}
	}
	if !c.DNSServers.IsNull() || imported {
		c.DNSServers = stringList(id.DNS, c.DNSServers)
	}
	if !c.NTPServers.IsNull() || imported {
		c.NTPServers = stringList(id.NTPServers, c.NTPServers)
	}
	c.Timezone = stringValue(id.Timezone)
}

// stringList keeps a null list null when the guest has nothing, so that an unset attribute does
// not turn into an empty list and a diff.
func stringList(v []string, prior types.List) types.List {
	if len(v) == 0 && prior.IsNull() {
		return types.ListNull(types.StringType)
	}
	elems := make([]attr.Value, 0, len(v))
	for _, s := range v {
		elems = append(elems, types.StringValue(s))
	}
	l, _ := types.ListValue(types.StringType, elems)
	return l
}
