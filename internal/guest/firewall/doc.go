// Package firewall reads and applies a guest's own firewall (nftables), the guide's "Your
// private network should only allow inbound connections on port 80 (HTTP), 443 (HTTPS), and
// 22 (SSH)": the reverse proxy accepts only those three ports, and the data-stores VM accepts
// Redis, Postgres and NFS only from the Hipchat nodes' network and SSH from there and from
// where the provider connects. The rules per role are data in internal/spec (InboundRules).
//
// The provider owns one nftables table, `table inet hipchatdc`, and nothing else: a user's
// own tables are neither read nor changed. A packet must pass every base chain on its hook, so
// the table's input chain closes what it does not list whatever other tables accept, and other
// tables can still drop more. A closed TCP port answers with a reset ("connection refused",
// at once, rather than a client's timeout); other traffic is dropped. The chain's policy is
// accept and its last rules reject and drop, so a table flushed by hand opens the guest (and
// shows as drift) rather than cutting every connection, the provider's included. Only inbound
// traffic is filtered: replies and the guest's own outbound connections (DNS, NTP, the proxy
// to the nodes) pass.
//
// The ruleset is a file (RulesFile) that deletes and re-creates the table, loaded with
// `nft -f` in one transaction: nft applies all of it or nothing, so a guest is never left
// half-filtered, and the SSH session it is loaded over (an established connection) survives.
// It survives a reboot through an ifupdown hook (HookFile, in if-pre-up.d) that loads it
// before an interface comes up: the provider configures these guests' network with ifupdown
// (internal/guest/identity), and a hook is what works both under systemd (networking.service
// runs `ifup -a`) and without a service manager, as in the lab, whose guests run `ifup -a` at
// each power-on. The hook never fails the interface: a guest that cannot load its rules still
// comes up reachable, and the next refresh reports the table as not loaded.
//
// Read costs one command. It reads the file, the hook, the loaded table and the provider's
// own SSH session ($SSH_CONNECTION, passed by guest.Conn as the script's $1), and has nft print
// the file as nft itself lists it, by loading it in a throwaway network namespace
// (`unshare -n`): the loaded table is compared with that, so a rule deleted or changed by
// hand, or the table flushed, shows as drift, whatever nft version formats the listing.
// Apply reads first and changes only what differs: a second Apply runs no changing command.
//
// SSH to the data-stores VM: the provider's address is the source the guest sees for the
// session (behind a bastion, the bastion's). It is allowed besides the nodes' network and any
// firewall_ssh_sources, and kept in the file only while it is not already covered by those,
// so that a runner moving inside them changes nothing. A runner that moves to an address
// outside all of them is locked out until the user lists it (or reaches the guest through a
// bastion inside them): that is the documented price of a closed SSH port.
//
// The lab's guests are network namespaces on a kernel with nf_tables built in; nft runs in
// them as on a VM, and the host's nft (the nftables package, scripts/lab-packages.sh) is the
// guests' through their read-only /usr.
package firewall
