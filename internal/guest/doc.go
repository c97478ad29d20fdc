// Package guest is the provider's SSH engine: it connects to a guest VM (directly or through a
// bastion), verifies the guest's host key, runs shell commands with sudo when needed and writes
// files atomically.
//
// Argument names follow Terraform's connection block (host, port, user, password, private_key,
// host_key, bastion_*), so a user's habits carry over. Nothing in this package knows about
// Terraform types; it logs through tflog only because that is a plain context logger.
//
// Secrets (passwords, private keys, passphrases, file contents, stdin) never appear in errors or
// logs: commands carry secrets on stdin, never on the command line.
package guest
