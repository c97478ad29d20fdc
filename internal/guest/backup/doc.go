// Package backup installs scheduled backups of the data-stores VM: the guide's "make sure your
// configuration files are backed up, and take frequent backups of the data stores node".
//
// What one run makes (the on-disk contract shared with the restore and the health data source):
// a directory <destination>/hipchatdc-<VM host name>-<UTC YYYYMMDDTHHMMSSZ>/ with postgres.dump (pg_dump
// --format=custom of the Hipchat database), postgres-roles.sql (pg_dumpall --roles-only),
// redis.rdb (the RDB a BGSAVE wrote, copied once LASTSAVE changed), nfs.tar.gz (the export's
// contents, relative paths), config/<role>/<absolute path> (the configuration files the
// provider writes on the three VMs) and SHA256SUMS, written last: a directory without it is
// incomplete, is never restored from and is not counted for retention. Each run, also a failed
// one, ends by replacing StatusFile atomically. A failed run removes only its own directory;
// retention counts only the directories with this VM's host name, so that deployments sharing
// a destination keep each other's. A run the provider starts carries an id
// (HIPCHATDC_BACKUP_RUN) that its status records: Run never takes an earlier run's status for
// its own, and a run that ends without recording one is an error with the script's output.
//
// The program is a bash script the provider writes (Conn.WriteFile) to ScriptFile, with its
// settings in SettingsFile (mode 0600, sourced by the script). No secret is on a command line
// or in a world-readable file: pg_dump runs as the postgres user over the local socket (peer
// authentication, no password at all); redis-cli gets the AUTH line from redis.conf on its
// stdin; the key that reaches a remote destination is KeyFile (0600) and the destination's
// host key is pinned in KnownHostsFile (StrictHostKeyChecking=yes, HostKeyAlias). Every file of
// a backup is 0600 in a 0700 directory (the dump of the roles holds password hashes, the
// Redis configuration its password).
//
// The schedule is a cron line in CronFile, run by cron, which every Debian and Ubuntu server
// has installed and running (on a systemd VM as cron.service, enabled by the package). The lab
// guests have no init system: the lab's boot script starts cron as it starts sshd, and Apply
// starts it when it is not running, as the redis recipe starts redis-server. A lock (flock)
// keeps a scheduled run and one the provider starts from overlapping; the provider's waits 10 s
// and then fails naming since when the holder runs (from /run/hipchatdc-backup.running, "PID
// TIME", which each run removes when it exits; one left by a killed run names a pid that is
// gone and is not believed: only the lock says whether a run is on). The schedule is parsed as
// Debian's cron parses it (schedule.go). The provider's run is bounded by its
// context's deadline (the resource's timeouts), stopped with SIGTERM RunMargin before it.
//
// Read costs one command: it prints the status file and digests of the installed files, and
// says whether cron runs. The configuration files of the Hipchat node and the reverse proxy are
// copied by the provider into CapturedDir at each apply (they change only when the provider
// writes them), so the data-stores VM holds no credential to the other VMs.
package backup
