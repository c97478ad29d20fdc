// Package hipchat points a Hipchat Data Center node at its data stores: the guide's next step,
// "Configure Hipchat Data Center nodes". The appliance's "hipchat datacenter" command line
// takes a config.json naming the shared NFS storage, Redis and Postgres (with their
// credentials) and the public URL, keeps the settings in /hipchat/config/site.json, and its
// self-check verifies that the node really reaches all three.
//
// Render writes that config.json from plain values. Read costs one command: the deployed
// config file (parsed back, secrets included; the resource marks them sensitive) and what
// site.json says. Apply reads first and, only when the deployed file differs from Render's,
// writes it (0600 root:root, content on stdin), runs the configure command and then the
// self-check; a second Apply with the same values runs no changing command.
//
// When the self-check fails, Apply returns its output in the error (the clients' own words,
// such as "password authentication failed for user ...") and leaves the new file in place,
// marked unverified: the next Apply with corrected values rewrites it, and the next Apply with
// the same values runs configure and the self-check again instead of calling it done.
//
// The exact flags of the appliance's command line are not public, so Commands makes them
// configurable; the defaults are what the lab's node stand-in implements.
//
// Passwords travel only in the file's content over stdin. They are never part of a script or a
// command line, and they are removed from any command output that Apply puts in an error.
package hipchat
