// Package identity reads and applies a guest VM's network identity, the guide's "Configure the
// Hipchat VM network", "Set the node hostname" and "Set custom NTP servers" steps: a static
// IPv4 address on eth0 in /etc/network/interfaces, a unique hostname with its /etc/hosts line,
// NTP servers and the UTC timezone.
//
// Read costs one command; Apply reads first and changes only what differs, so a second Apply
// runs no changing command. An address change is the dangerous step: it cuts the SSH
// connection it is made over, so the rollback is armed on the guest before the change and
// only disarmed once the provider has reached the guest at its new address.
package identity
