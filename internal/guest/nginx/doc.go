// Package nginx reads and applies the reverse proxy of a Hipchat Data Center cluster, the
// guide's "Reverse proxy configuration": NGINX terminates TLS on port 443 with the given
// certificate and forwards to the Hipchat node(s) on port 80; port 80 redirects to HTTPS.
// With several nodes it load-balances with session affinity (the Enterprise-scale path).
//
// Read costs one command and returns the deployed site's parameters, parsed back from the
// file this package renders, with the deployed certificate and a digest of the deployed key
// (never the key). Apply reads first and changes only what differs: a second Apply runs no
// changing command and does not reload NGINX.
//
// A change is staged, moved into place and tested with `nginx -t` in one command; when NGINX
// rejects it, the previous files are put back before the command returns, so the running
// NGINX (which never saw the new files) keeps serving the old site and a later restart finds
// the old files too. Only a configuration that passed `nginx -t` is reloaded, gracefully, so
// requests in flight finish on the old workers.
//
// The lab guests have no service manager; NGINX daemonizes itself, so Apply starts it with
// plain `nginx` when it is not running, and reloads it with `nginx -s reload`.
//
// Jump host: the guide reaches private nodes "through a reverse proxy or jumpbox". Debian's
// sshd allows TCP forwarding by default (AllowTcpForwarding yes, commented out in
// /etc/ssh/sshd_config), which is all an SSH jump host needs, and the lab's jump host relies on
// exactly that; so this package does not touch sshd.
package nginx
