// Package restore brings a backup of the data stores (the layout of issue 14's contract:
// postgres.dump, postgres-roles.sql, redis.rdb, nfs.tar.gz, config/, SHA256SUMS) into a new
// data stores guest.
//
// The guide asks to "take frequent backups of the data stores node"; a backup is only as
// good as its restore. A restore runs in three places:
//
//   - Verify reads the backup where it lies (a directory the provider can read, or one on a
//     host reached over SSH with a pinned host key) and refuses it, naming the file, when it is
//     incomplete (no SHA256SUMS: the backup program writes it last), a file is missing or does
//     not match its checksum, the dump is not a pg_dump custom-format archive or the archive
//     cannot be listed. The resource runs it at plan time and again first thing at create,
//     before a VM exists.
//   - Upload streams the files to a staging directory on the guest (root only, 0700),
//     checking each file's checksum on the way; Check then has the guest's own tools agree
//     (sha256sum -c, pg_restore --list, tar -tzf) before any data store is touched.
//   - PlaceRedis, Postgres and NFS put the data in place in the order the services need:
//     the RDB before redis-server starts (appendonly is off, per the guide, so Redis loads
//     dump.rdb at start), the roles and then the dump once the cluster and the Hipchat
//     database exist, the files once the export directory exists.
//
// Secrets never reach a command line: the roles file (password hashes) goes to psql on
// stdin, the files go over stdin into the guest.
//
// In the lab the data stores guest has no systemd: Redis is stopped by its PID file, as the
// redis recipe starts it; on a real guest `systemctl stop redis-server` stops the packaged
// service that the package started with an empty data set.
package restore
