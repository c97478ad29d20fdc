// Package health reads what a deployment's health checks need from its guests, without
// changing them: the clock offset of a guest from the NTP servers it is configured with, and on
// the data-store VM the free space of the NFS volume and of Postgres' data directory and the
// result of the last backup. The guide asks for it in its own words: "make sure that you have
// good monitoring set up to alert you if there are problems, make sure your configuration
// files are backed up, and take frequent backups of the data stores node", and every node
// "must keep the time synchronized using NTP".
//
// Clock offsets are measured from the guest, the way its NTP client sees its servers: an SNTP
// query (RFC 4330) to each configured server, from python3, which Debian and the appliance
// both have (Debian's own tools, ntpdate or sntp, are not installed by default, and the
// appliance's ntpq talks only to its local ntpd). The offset is reported the way chronyc
// reports it: the guest's clock minus NTP time, positive when the guest is ahead.
//
// Free space is what statfs(2) gives a non-root writer (f_bavail), as `df` shows it under
// "Available": Postgres writes as the postgres user, and that is what it can still use.
//
// The last backup's result is /var/lib/hipchatdc/backup/last.json, which the backup program
// of hipchatdc_backup writes at the end of every run (also a failed one); no file means no
// backup has run on this VM.
//
// In the lab: guests share the host's kernel clock, and the lab answers NTP on its gateway
// address with the host's clock (internal/lab/ntp.go), skewed on purpose by tests; the NFS
// volume is a 256 MB tmpfs on /srv that a test can shrink and fill; the Postgres data
// directory lives on the guest's overlay of the host's /var, so its free space is the host's.
package health
