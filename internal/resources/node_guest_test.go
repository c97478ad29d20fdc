package resources_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

// nodeGuestConfig is a node whose network identity the provider configures over SSH.
func nodeGuestConfig(l *lab.Lab, private bool, name, address, hostname, extra string) string {
	v := l.VSphere()
	network := v.Network
	if private {
		network = v.PrivateNetwork
	}
	ova := ""
	return acctest.ProviderConfigFor(l) + fmt.Sprintf(`
resource "hipchatdc_node" "app" {
  name         = %q
  datacenter   = %q
  cluster      = %q
  datastore    = %q
  network      = %q
  ova_path     = %q
  hostname     = %q
  ipv4_address = %q
  ipv4_netmask = 24
  ipv4_gateway = %q
  dns_servers  = [%q]
  ntp_servers  = ["time1.example.com", "time2.example.com"]
%s
}
`, name, v.Datacenter, v.Cluster, v.Datastore, network, ova, hostname, address, acctest.Gateway(l, private), acctest.Gateway(l, private), extra)
}

// guestHas checks, inside the guest as an operator would, what the guide's steps leave behind.
func guestHas(t *testing.T, l *lab.Lab, vm, address, hostname string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		exec := func(cmd string) string { return acctest.GuestExec(t, l, vm, cmd) }
		if got := exec("ip -4 -o addr show dev eth0"); !strings.Contains(got, " "+address+"/24 ") {
			return fmt.Errorf("eth0 has %q, want %s/24", got, address)
		}
		ifaces := exec("cat /etc/network/interfaces")
		for _, want := range []string{"iface eth0 inet static", "address " + address, "netmask 255.255.255.0", "gateway " + acctest.Gateway(l, false)} {
			if !strings.Contains(ifaces, want) {
				return fmt.Errorf("/etc/network/interfaces lacks %q:\n%s", want, ifaces)
			}
		}
		if got := exec("hostname"); got != hostname {
			return fmt.Errorf("hostname is %q, want %q", got, hostname)
		}
		if got := exec("grep -c '^127.0.0.1[[:space:]].*" + regexp.QuoteMeta(hostname) + "' /etc/hosts"); got == "0" {
			return fmt.Errorf("/etc/hosts has no 127.0.0.1 line for %s", hostname)
		}
		if got := exec("hipchat service --ntp-servers"); !strings.Contains(got, "time1.example.com") || !strings.Contains(got, "time2.example.com") {
			return fmt.Errorf("NTP servers are %q", got)
		}
		if got := exec("cat /etc/timezone; readlink /etc/localtime"); !strings.Contains(got, "UTC") || strings.Contains(got, "Berlin") {
			return fmt.Errorf("timezone is %q, want UTC", got)
		}
		return nil
	}
}

// noChangingCommands proves a step changed nothing on any guest: the SSH engine counts every
// command that writes or runs a change (in ssh, for the test's provider: acctest.CountSSH), and
// refresh and plan must only read. The step's refresh read its guests, so a count without a
// read would mean the commands were not counted at all.
func noChangingCommands(ssh *guest.Tally) resource.TestCheckFunc {
	return func(*terraform.State) error {
		s := ssh.Stats()
		if s.ChangeCommands != 0 {
			return fmt.Errorf("the step ran %d changing commands on guests (%d reads over %d connections); want none", s.ChangeCommands, s.ReadCommands, s.Connections)
		}
		if s.ReadCommands == 0 {
			return fmt.Errorf("the step's refresh read no guest over SSH as far as the test's count goes (%+v): the count is not the provider's", s)
		}
		return nil
	}
}

func TestAccNodeGuest_identity(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-node-identity"
	addr1, addr2 := acctest.LabAddress(t, l, false, 201), acctest.LabAddress(t, l, false, 202)
	cfg := func(addr, host string) string {
		return strings.Replace(nodeGuestConfig(l, false, name, addr, host, ""), `ova_path     = ""`, fmt.Sprintf("ova_path     = %q", acctest.OVA(t, lab.KindNode, 40)), 1)
	}
	var ssh guest.Tally
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.CountSSH(&ssh, acctest.Factories()),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config: cfg(addr1, "hipchat-worker-1.example.com"),
				Check: resource.ComposeAggregateTestCheckFunc(
					guestHas(t, l, name, addr1, "hipchat-worker-1.example.com"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "ipv4_address", addr1),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "timezone", "UTC"),
				),
			},
			{
				// Re-apply: empty plan (checked by the framework after every step) and not a
				// single changing command on the guest.
				PreConfig: ssh.Reset,
				Config:    cfg(addr1, "hipchat-worker-1.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				Check: noChangingCommands(&ssh),
			},
			{
				// A new address: the provider moves the guest and follows it.
				Config: cfg(addr2, "hipchat-worker-1.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					guestHas(t, l, name, addr2, "hipchat-worker-1.example.com"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "ipv4_address", addr2),
				),
			},
			{
				// Someone renames the node at its console: the plan shows it, apply puts it back.
				PreConfig: func() {
					acctest.GuestExec(t, l, name, `dont-blame-hipchat -c "hostnamectl set-hostname renamed-by-hand"`)
				},
				Config: cfg(addr2, "hipchat-worker-1.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
				}},
				Check: guestHas(t, l, name, addr2, "hipchat-worker-1.example.com"),
			},
			importVerify("hipchatdc_node.app"),
		},
	})
}

func TestAccNodeGuest_wrongHostKeyChangesNothing(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	name := "tf-node-hostkey"
	// A real key, but not this guest's: the jump-host-less lab has none, so use the lab's own
	// user key, which is certainly not a host key of any guest.
	wrong := l.SSH().PublicKey
	cfg := strings.Replace(nodeGuestConfig(l, false, name, acctest.LabAddress(t, l, false, 203), "hipchat-hostkey.example.com",
		fmt.Sprintf("  ssh {\n    host_key = %q\n  }", wrong)), `ova_path     = ""`, fmt.Sprintf("ova_path     = %q", acctest.OVA(t, lab.KindNode, 40)), 1)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)host key.*does not match`),
		}, {
			// The new VM is destroyed again (nothing of it left in vSphere or the state), and
			// applying again fails the same way, before anything is changed on a guest.
			PreConfig: func() {
				if n := acctest.VMCount(t, name); n != 0 {
					t.Errorf("%d VMs named %s after the refused host key, want 0", n, name)
				}
			},
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)host key.*does not match`),
		}},
	})
}

func TestAccNodeGuest_privateNetworkThroughJumpHost(t *testing.T) {
	t.Parallel()
	l := acctest.StartLab(t, lab.Options{PrivateNetwork: true})
	name := "tf-node-private"
	addr := acctest.LabAddress(t, l, true, 210)
	cfg := strings.Replace(nodeGuestConfig(l, true, name, addr, "hipchat-private-1.example.com", ""),
		`ova_path     = ""`, fmt.Sprintf("ova_path     = %q", acctest.OVA(t, lab.KindNode, 40)), 1)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				func(*terraform.State) error {
					exec := func(cmd string) string { return acctest.GuestExec(t, l, name, cmd) }
					if got := exec("hostname"); got != "hipchat-private-1.example.com" {
						return fmt.Errorf("hostname %q", got)
					}
					if got := exec("ip -4 -o addr show dev eth0"); !strings.Contains(got, " "+addr+"/24 ") {
						return fmt.Errorf("eth0 has %q, want %s", got, addr)
					}
					return nil
				},
				// Without the jump host the node cannot be reached from here.
				func(*terraform.State) error {
					s := l.SSH()
					_, err := guest.Dial(context.Background(), guest.Config{
						Target:  guest.Endpoint{Host: addr, User: "root", PrivateKey: s.PrivateKeyPEM, KnownHostsFile: s.KnownHostsFile},
						Timeout: 2 * time.Second,
					})
					if err == nil {
						return errors.New("direct SSH to the private node succeeded, want a connect error")
					}
					var ce *guest.ConnectError
					if !errors.As(err, &ce) {
						return fmt.Errorf("direct SSH to the private node: %w, want a connect error", err)
					}
					return nil
				},
			),
		}},
	})
}

func TestAccNodeGuest_badInput(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	ova := acctest.OVA(t, lab.KindNode, 40)
	cfg := func(name, addr, extra string) string {
		return strings.Replace(nodeGuestConfig(l, false, name, addr, name+".example.com", extra),
			`ova_path     = ""`, fmt.Sprintf("ova_path     = %q", ova), 1)
	}
	otherKey := acctest.NewPrivateKey(t, "")
	encrypted := acctest.NewPrivateKey(t, "right passphrase")
	cases := []struct {
		name, extra, want string
	}{
		{"tf-bad-unreachable", "  ssh {\n    host    = \"" + acctest.LabAddress(t, l, false, 250) + "\"\n    timeout = \"3s\"\n  }", `(?s)Cannot reach the guest over SSH`},
		{"tf-bad-auth", fmt.Sprintf("  ssh {\n    private_key = %q\n  }", otherKey), `(?s)(refused|unable to authenticate)`},
		{"tf-bad-passphrase", fmt.Sprintf("  ssh {\n    private_key = %q\n    private_key_passphrase = \"wrong\"\n  }", encrypted), `(?s)passphrase`},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.Factories(),
				CheckDestroy:             checkNoVM(t, c.name),
				Steps: []resource.TestStep{{
					Config:      cfg(c.name, acctest.LabAddress(t, l, false, 225+i), c.extra),
					ExpectError: regexp.MustCompile(c.want),
				}},
			})
		})
	}
	t.Run("gateway outside the network", func(t *testing.T) {
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			Steps: []resource.TestStep{{
				Config: strings.Replace(cfg("tf-bad-gateway", acctest.LabAddress(t, l, false, 230), ""),
					fmt.Sprintf("ipv4_gateway = %q", acctest.Gateway(l, false)), `ipv4_gateway = "192.168.77.1"`, 1),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)ipv4_gateway.*outside the network`),
			}},
		})
	})
	t.Run("ifup fails", func(t *testing.T) {
		name := "tf-bad-ifup"
		first, second := acctest.LabAddress(t, l, false, 231), acctest.LabAddress(t, l, false, 232)
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.Factories(),
			CheckDestroy:             checkNoVM(t, name),
			Steps: []resource.TestStep{{
				Config: cfg(name, first, ""),
			}, {
				// An if-up hook that refuses the new address makes `ifup eth0` fail on the
				// guest: the provider must restore the previous file and address and say so.
				PreConfig: func() {
					acctest.GuestExec(t, l, name, `mkdir -p /etc/network/if-pre-up.d && printf '#!/bin/sh\n[ "$IF_ADDRESS" = "`+second+`" ] && exit 1\nexit 0\n' > /etc/network/if-pre-up.d/zz-fail && chmod +x /etc/network/if-pre-up.d/zz-fail`)
				},
				Config:      cfg(name, second, ""),
				ExpectError: regexp.MustCompile(`(?s)(roll|restor)`),
			}, {
				PreConfig: func() {
					if got := acctest.GuestExec(t, l, name, "ip -4 -o addr show dev eth0"); !strings.Contains(got, " "+first+"/24 ") {
						t.Errorf("after the failed change eth0 has %q, want the old %s", got, first)
					}
					if got := acctest.GuestExec(t, l, name, "cat /etc/network/interfaces"); !strings.Contains(got, "address "+first) {
						t.Errorf("interfaces not restored:\n%s", got)
					}
					acctest.GuestExec(t, l, name, "rm -f /etc/network/if-pre-up.d/zz-fail")
				},
				// With the hook gone the same change goes through.
				Config: cfg(name, second, ""),
				Check:  guestHas(t, l, name, second, name+".example.com"),
			}},
		})
	})
}

// TestAccNodeGuest_identityRejectedAtPlan: network identities that the guest or vSphere would
// take and that cannot work (a broadcast address, a gateway that is no host, a host name
// spelled otherwise than the guest keeps it, one NTP server twice) fail the plan, on the
// attribute to fix, with the value and the rule; and a value with a newline stays on one line.
func TestAccNodeGuest_identityRejectedAtPlan(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	ova := acctest.OVA(t, lab.KindNode, 40)
	const name = "tf-id-bad"
	host := func(n int) string { return acctest.LabAddress(t, l, false, n) }
	subnet := l.PublicSubnet().Masked().String()
	gateway := fmt.Sprintf("ipv4_gateway = %q", acctest.Gateway(l, false))
	cases := []struct {
		name             string
		address          string
		replace          [][2]string // in the configuration
		summary, message string
	}{
		{"broadcast address", host(255), nil, "Invalid ipv4_address",
			fmt.Sprintf("%s is the broadcast address of %s, not a host address; the hosts of %s are %s to %s", host(255), subnet, subnet, host(1), host(254))},
		{"broadcast address of a /30", host(103), [][2]string{{"ipv4_netmask = 24", "ipv4_netmask = 30"}, {gateway, fmt.Sprintf("ipv4_gateway = %q", host(101))}}, "Invalid ipv4_address",
			fmt.Sprintf("%s is the broadcast address of %s/30, not a host address; the hosts of %s/30 are %s to %s", host(103), host(100), host(100), host(101), host(102))},
		// Reported on the address, which is what is wrong, not on the netmask.
		{"network address", host(0), nil, "Invalid ipv4_address",
			fmt.Sprintf("%s is the network address of %s, not a host address", host(0), subnet)},
		{"gateway is the broadcast address", host(233), [][2]string{{gateway, fmt.Sprintf("ipv4_gateway = %q", host(255))}}, "Invalid ipv4_gateway",
			fmt.Sprintf("gateway %s is the broadcast address of %s, not a host that can route", host(255), subnet)},
		{"gateway is the network address", host(233), [][2]string{{gateway, fmt.Sprintf("ipv4_gateway = %q", host(0))}}, "Invalid ipv4_gateway",
			fmt.Sprintf("gateway %s is the network address of %s, not a host that can route", host(0), subnet)},
		{"host name in upper case", host(233), [][2]string{{`hostname     = "tf-id-bad.example.com"`, `hostname     = "Tf-Id-Bad.example.com"`}}, "Invalid hostname",
			`hostname "Tf-Id-Bad.example.com": DNS ignores case but the guest keeps its host name as written, so it would differ from what DNS and the other hosts use; use "tf-id-bad.example.com"`},
		{"host name with a trailing dot", host(233), [][2]string{{`hostname     = "tf-id-bad.example.com"`, `hostname     = "tf-id-bad.example.com."`}}, "Invalid hostname",
			`hostname "tf-id-bad.example.com.": a trailing dot marks a fully qualified DNS name but is no part of the guest's host name; use "tf-id-bad.example.com"`},
		{"NTP server twice", host(233), [][2]string{{`ntp_servers  = ["time1.example.com", "time2.example.com"]`, `ntp_servers  = ["time1.example.com", "time2.example.com", "TIME1.example.com."]`}}, "Duplicate NTP server",
			`ntp_servers[2] = "TIME1.example.com." is the same server as ntp_servers[0] = "time1.example.com"; list each NTP server once.`},
		{"DNS server with a newline", host(233), [][2]string{{fmt.Sprintf("dns_servers  = [%q]", acctest.Gateway(l, false)), `dns_servers  = ["10.0.0.1\n8.8.8.8"]`}}, "Invalid DNS server",
			`dns_servers[0] = "10.0.0.1\n8.8.8.8" is not an IPv4 address; give each DNS server's IPv4 address (the guest's resolv.conf takes addresses, not names).`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := strings.Replace(nodeGuestConfig(l, false, name, c.address, name+".example.com", ""),
				`ova_path     = ""`, fmt.Sprintf("ova_path     = %q", ova), 1)
			for _, r := range c.replace {
				if !strings.Contains(cfg, r[0]) {
					t.Fatalf("configuration has no %q", r[0])
				}
				cfg = strings.Replace(cfg, r[0], r[1], 1)
			}
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.Factories(),
				Steps: []resource.TestStep{{
					Config:      cfg,
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(`(?s)Error: ` + regexp.QuoteMeta(c.summary) + `\n.*` + wrapped(c.message).String()),
				}},
			})
		})
	}
	if _, ok := acctest.VM(t, name); ok {
		t.Fatal("a VM was created for a rejected plan")
	}
}
