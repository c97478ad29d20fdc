package resources

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// known reports whether a value can be checked now: unknown values (from other resources) are
// checked again at apply time, when they are known.
type knowable interface {
	IsNull() bool
	IsUnknown() bool
}

func known(v knowable) bool { return !v.IsNull() && !v.IsUnknown() }

// validate applies the guide's rules to the VM core at plan time. publicName is the cluster's
// public DNS name when the resource knows it ("" otherwise).
func (c *vmCore) validate(ctx context.Context, role spec.Role, publicName string, diags *diag.Diagnostics) {
	checkAs := func(summary, attr string, v int64, err error) {
		if err != nil {
			diags.AddAttributeError(path.Root(attr), summary, fmt.Sprintf("%s = %d: %s", attr, v, err))
		}
	}
	check := func(attr string, v int64, err error) {
		checkAs("Configuration breaks the small-scale guide", attr, v, err)
	}
	const vSphereRefuses = "vSphere would refuse the configuration"
	if known(c.NumCPUs) {
		check("num_cpus", c.NumCPUs.ValueInt64(), spec.CheckNumCPUs(role, c.NumCPUs.ValueInt64()))
		checkAs(vSphereRefuses, "num_cpus", c.NumCPUs.ValueInt64(), spec.CheckVSphereNumCPUs(c.NumCPUs.ValueInt64()))
	}
	if known(c.Memory) {
		check("memory", c.Memory.ValueInt64(), spec.CheckMemory(role, c.Memory.ValueInt64()))
		checkAs(vSphereRefuses, "memory", c.Memory.ValueInt64(), spec.CheckVSphereMemory(c.Memory.ValueInt64()))
	}
	if known(c.DiskSize) {
		check("disk_size", c.DiskSize.ValueInt64(), spec.CheckDisk(role, c.DiskSize.ValueInt64()))
	}
	c.validateIdentity(ctx, publicName, diags)
}

// managesGuest reports whether the configuration asks the provider to configure the guest.
func (c *vmCore) managesGuest() bool {
	return !c.Hostname.IsNull() || !c.IPv4Address.IsNull()
}

func (c *vmCore) validateIdentity(ctx context.Context, publicName string, diags *diag.Diagnostics) {
	if !c.managesGuest() {
		for _, a := range []struct {
			name string
			v    knowable
		}{{"ipv4_netmask", c.IPv4Netmask}, {"ipv4_gateway", c.IPv4Gateway}, {"dns_servers", c.DNSServers}, {"ntp_servers", c.NTPServers}} {
			if !a.v.IsNull() {
				diags.AddAttributeError(path.Root(a.name), "Missing network identity",
					a.name+" is set, so the provider configures the guest: set hostname, ipv4_address and ipv4_netmask as well.")
			}
		}
		return
	}
	for _, a := range []struct {
		name string
		v    knowable
	}{{"hostname", c.Hostname}, {"ipv4_address", c.IPv4Address}, {"ipv4_netmask", c.IPv4Netmask}} {
		if a.v.IsNull() {
			diags.AddAttributeError(path.Root(a.name), "Missing network identity",
				"The guide gives every VM a static IPv4 address and a unique host name: set hostname, ipv4_address and ipv4_netmask together.")
		}
	}
	if known(c.Hostname) {
		if err := spec.CheckHostname(c.Hostname.ValueString(), publicName); err != nil {
			diags.AddAttributeError(path.Root("hostname"), "Invalid hostname", err.Error())
		} else if err := spec.CheckHostnameForm(c.Hostname.ValueString()); err != nil {
			diags.AddAttributeError(path.Root("hostname"), "Invalid hostname", err.Error())
		}
	}
	var addr netip.Addr
	if known(c.IPv4Address) {
		a, err := spec.CheckIPv4(c.IPv4Address.ValueString())
		if err != nil {
			diags.AddAttributeError(path.Root("ipv4_address"), "Invalid ipv4_address", err.Error())
		} else if err := spec.CheckPrivate(a); err != nil && !c.AllowPublicIPv4.ValueBool() {
			diags.AddAttributeError(path.Root("ipv4_address"), "Public ipv4_address", err.Error())
		} else {
			addr = a
		}
	}
	if addr.IsValid() && known(c.IPv4Netmask) {
		p, err := spec.CheckPrefix(addr, c.IPv4Netmask.ValueInt64())
		if err != nil {
			diags.AddAttributeError(path.Root("ipv4_netmask"), "Invalid ipv4_netmask", err.Error())
		} else {
			// The netmask is fine; what is wrong is the address it makes a network or broadcast address.
			if err := spec.CheckHostAddress(p); err != nil {
				diags.AddAttributeError(path.Root("ipv4_address"), "Invalid ipv4_address", err.Error())
			}
			if known(c.IPv4Gateway) {
				if err := spec.CheckGateway(p, c.IPv4Gateway.ValueString()); err != nil {
					diags.AddAttributeError(path.Root("ipv4_gateway"), "Invalid ipv4_gateway", err.Error())
				}
			}
		}
	}
	type entry struct {
		i int
		s string
	}
	ntp := map[string]entry{}
	eachKnownString(c.NTPServers, func(i int, s string) {
		if err := spec.CheckNTPServer(s); err != nil {
			diags.AddAttributeError(path.Root("ntp_servers").AtListIndex(i), "Invalid NTP server", err.Error())
			return
		}
		// A repeated server is no second source of time: the list would look longer than it is.
		k := spec.NTPServerKey(s)
		if first, ok := ntp[k]; ok {
			diags.AddAttributeError(path.Root("ntp_servers").AtListIndex(i), "Duplicate NTP server",
				fmt.Sprintf("ntp_servers[%d] = %q is the same server as ntp_servers[%d] = %q; list each NTP server once.", i, s, first.i, first.s))
			return
		}
		ntp[k] = entry{i, s}
	})
	eachKnownString(c.DNSServers, func(i int, s string) {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			diags.AddAttributeError(path.Root("dns_servers").AtListIndex(i), "Invalid DNS server", fmt.Sprintf("dns_servers[%d] = %q is not an IPv4 address; give each DNS server's IPv4 address (the guest's resolv.conf takes addresses, not names).", i, s))
		}
	})
}

// modifyPlan fills sizing defaults on create, refuses to shrink a disk and plans a VM found off
// or suspended back on.
func (c *vmCore) modifyPlan(role spec.Role, state *vmCore, changing bool, diags *diag.Diagnostics) {
	min := spec.Hardware[role]
	c.PowerState = types.StringValue(powerOn)
	if state == nil {
		if c.NumCPUs.IsUnknown() {
			c.NumCPUs = types.Int64Value(min.NumCPUs)
		}
		if c.Memory.IsUnknown() {
			c.Memory = types.Int64Value(min.MemoryMB)
		}
		return
	}
	if known(state.DiskSize) && known(c.DiskSize) {
		if err := spec.CheckGrow(state.DiskSize.ValueInt64(), c.DiskSize.ValueInt64()); err != nil {
			diags.AddAttributeError(path.Root("disk_size"), "Disk cannot shrink", "disk_size: "+err.Error())
		}
	}
	c.warnPowerCycle(state, diags)
	// What VMware Tools reports is only known after an update: a new address, or a power cycle
	// that a CPU or memory change needs, changes it.
	if changing || !state.isOn() {
		c.DefaultIPAddress = types.StringUnknown()
	} else {
		c.DefaultIPAddress = state.DefaultIPAddress
	}
}

// warnPowerCycle warns at plan time when the planned change of num_cpus, memory or the hot-add
// settings needs the VM powered off (vsphere.NeedsPowerCycle is what the apply follows). The
// warning goes on the first of those attributes that changes.
func (c *vmCore) warnPowerCycle(state *vmCore, diags *diag.Diagnostics) {
	if state.PowerState.ValueString() == powerOff {
		return // a VM found off takes the change before it is powered on again: no cycle
	}
	cur, want := state.sizing(), vsphere.Sizing{}
	var attr string
	mark := func(a string) {
		if attr == "" {
			attr = a
		}
	}
	if known(c.NumCPUs) && known(state.NumCPUs) && !c.NumCPUs.Equal(state.NumCPUs) {
		want.NumCPUs = int32(c.NumCPUs.ValueInt64())
		mark("num_cpus")
	}
	if known(c.Memory) && known(state.Memory) && !c.Memory.Equal(state.Memory) {
		want.MemoryMB = c.Memory.ValueInt64()
		mark("memory")
	}
	if known(c.CPUHotAddEnabled) && !c.CPUHotAddEnabled.Equal(state.CPUHotAddEnabled) {
		want.CPUHotAdd = boolPtr(c.CPUHotAddEnabled)
		mark("cpu_hot_add_enabled")
	}
	if known(c.MemoryHotAddEnabled) && !c.MemoryHotAddEnabled.Equal(state.MemoryHotAddEnabled) {
		want.MemoryHotAdd = boolPtr(c.MemoryHotAddEnabled)
		mark("memory_hot_add_enabled")
	}
	why := vsphere.NeedsPowerCycle(cur, want)
	if why == "" {
		return
	}
	diags.AddAttributeWarning(path.Root(attr), "The VM will be power-cycled",
		fmt.Sprintf("Applying this plan powers VM %q off and on again, because %s. The provider shuts the guest down through VMware Tools "+
			"(powered off hard if it has not stopped within %v, or at once when VMware Tools is not running); its services are down until it has booted again. "+
			"To grow num_cpus or memory without a power cycle, set cpu_hot_add_enabled or memory_hot_add_enabled = true (changing those needs this one power cycle too); shrinking always needs one.",
			state.Name.ValueString(), why, vsphere.ShutdownTimeout))
}

// listStrings returns a list's known strings: at plan time, elements that come from other
// resources may still be unknown, and are checked at apply time.
func listStrings(_ context.Context, l types.List) []string {
	var out []string
	eachKnownString(l, func(_ int, s string) { out = append(out, s) })
	return out
}

// eachKnownString calls f with the index and value of each known element of l.
func eachKnownString(l types.List, f func(int, string)) {
	if !known(l) {
		return
	}
	for i, e := range l.Elements() {
		if v, ok := e.(types.String); ok && known(v) {
			f(i, v.ValueString())
		}
	}
}
