#!/bin/bash
# Managed by terraform-provider-hipchatdc (hipchatdc_backup); changes are overwritten.
# One backup of the data stores: Postgres, Redis, the NFS share and the configuration files,
# into one directory at the destination, SHA256SUMS last; then retention; then the status file.
# Settings (destination, database, retention) come from the file below, mode 0600.
set -uo pipefail
umask 077
export LC_ALL=C

status=/var/lib/hipchatdc/backup/last.json
# The provider names its run (HIPCHATDC_BACKUP_RUN, not a secret) and accepts only a status
# carrying that name: a run that ends without writing one must not pass for the previous run.
run_id=${HIPCHATDC_BACKUP_RUN:-}
work= # this run's temporary directory
dir=  # the directory this run made at the destination, removed again if the run fails
name=
lock=/run/hipchatdc-backup.lock
# While a run holds the lock this file says which (its pid) and since when. Removed by the run
# on every exit (below); one left by a run that was killed outright names a pid that is gone,
# and is then neither believed nor in anyone's way: the lock alone says whether a run is on.
running=/run/hipchatdc-backup.running
cleanup() {
	rm -rf "$work"
	if [ "$(cut -d' ' -f1 "$running" 2>/dev/null)" = "$$" ]; then rm -f "$running"; fi
}
trap cleanup EXIT

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
started=$(now)

# json_text makes one line of text safe inside a JSON string: no quotes, backslashes or
# control characters, at most 400 bytes.
json_text() { printf '%s' "$1" | tr '\n\t' '  ' | tr -d '\000-\037"\\' | cut -c1-400; }

where() { if [ -n "${DEST_HOST:-}" ]; then printf '%s:%s' "$DEST_HOST" "${DEST_PATH:-}"; else printf '%s' "${DEST_PATH:-}"; fi; }

# write_status replaces the status file; a failure says so on stderr (the provider shows it).
write_status() { # ok error bytes
	local tmp
	if ! tmp=$(mktemp /var/lib/hipchatdc/backup/.last.json.XXXXXX); then
		echo "hipchatdc-backup: cannot write $status (mktemp failed)" >&2
		return 1
	fi
	if ! printf '{"started":"%s","finished":"%s","ok":%s,"error":"%s","name":"%s","bytes":%s,"destination":"%s","run":"%s"}\n' \
		"$started" "$(now)" "$1" "$(json_text "$2")" "$name" "${3:-0}" "$(json_text "$(where)")" "$(json_text "$run_id")" >"$tmp" ||
		! chmod 0644 "$tmp" || ! mv -f "$tmp" "$status"; then
		echo "hipchatdc-backup: cannot write $status" >&2
		rm -f "$tmp"
		return 1
	fi
}

# dest runs a shell command where the backups are: over SSH with the pinned host key, or here.
dest() {
	if [ -n "$DEST_HOST" ]; then
		ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o HostKeyAlias=hipchatdc-backup-destination \
			-o UserKnownHostsFile=/etc/hipchatdc/backup/known_hosts -o GlobalKnownHostsFile=/dev/null \
			-o IdentitiesOnly=yes -o ConnectTimeout=20 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 \
			-i /etc/hipchatdc/backup/id_destination -p "$DEST_PORT" -l "$DEST_USER" -- "$DEST_HOST" "umask 077; $1"
	else
		bash -c "umask 077; $1"
	fi
}

# put copies its stdin to a file of this run's directory at the destination.
put() { dest "cat > '$dir/$1'"; }

# fail ends the run: it removes this run's own incomplete directory (nothing else), records
# the reason and exits 1. The reason is the step and the last line the step printed.
fail() {
	local why=$1
	trap - TERM HUP INT
	if [ -n "$dir" ]; then dest "rm -rf '$dir'" </dev/null >/dev/null 2>&1; fi
	echo "hipchatdc-backup: $why" >&2
	write_status false "$why" 0
	exit 1
}

# step runs a function, failing the run with its description and error output.
step() { # description function
	if ! "$2" 2>"$work/err" </dev/null; then
		fail "$1: $(grep -v '^[[:space:]]*$' "$work/err" | tail -n 1)"
	fi
}

settings=/etc/hipchatdc/backup/settings
[ -r "$settings" ] && . "$settings" || fail "settings: cannot read $settings (apply hipchatdc_backup again)"

exec 9>"$lock" || fail "lock: cannot open $lock"
# A scheduled run that finds another one running gives way; a run the provider starts
# (HIPCHATDC_BACKUP_WAIT) waits a little for it and then fails saying since when the other
# has been running: a run that hangs must not make the apply hang behind it.
if ! if [ -n "${HIPCHATDC_BACKUP_WAIT:-}" ]; then flock -w 10 9; else flock -n 9; fi; then
	# Another run holds the lock: this one records nothing, the other one will.
	since='an unknown time'
	if read -r pid when <"$running" 2>/dev/null && [ -n "$when" ] && kill -0 "$pid" 2>/dev/null; then
		since="$when (pid $pid)"
	fi
	echo "hipchatdc-backup: another backup has been running since $since (lock $lock); wait for it to end or stop it" >&2
	exit 75
fi
started=$(now)
echo "$$ $started" >"$running"
# Stopped (the provider's deadline for its run passed, or by hand): a failed run like any
# other. Set only now: a run stopped while waiting for the lock records nothing.
trap 'fail "stopped by a signal (the run took longer than the apply allows, or it was stopped by hand)"' TERM HUP INT
work=$(mktemp -d /tmp/hipchatdc-backup.XXXXXX) || fail "temporary directory: cannot create one in /tmp"
# Backups are named after this VM, and retention counts only those: deployments sharing a
# destination keep each other's backups.
vm=$(uname -n | tr -c 'A-Za-z0-9.\n-' '_')
stamp() { date -u +%Y%m%dT%H%M%SZ; }
name=hipchatdc-$vm-$(stamp)
# Two runs in one second would share a name: the second waits for the next second.
while dest "test -e '$DEST_PATH/$name'" </dev/null 2>/dev/null; do
	sleep 1
	started=$(now)
	name=hipchatdc-$vm-$(stamp)
done

# Sizes here, to check the destination's free space before anything is written.
pg() { (cd / && runuser -u postgres -- "$@"); }
redis_conf=/etc/redis/redis.conf
redis_port=$(sed -n 's/^port[[:space:]]\{1,\}\([0-9]*\).*/\1/p' "$redis_conf" 2>/dev/null | tail -n 1)
redis_port=${redis_port:-6379}
redis() { { sed -n 's/^requirepass /AUTH /p' "$redis_conf"; printf '%s\n' "$@"; } | timeout 30 redis-cli -h 127.0.0.1 -p "$redis_port" | sed '1{/^OK$/d}'; }

check_destination() {
	local free out
	if ! out=$(dest "test -d '$DEST_PATH' || { echo 'no such directory'; exit 1; }" 2>&1 </dev/null); then
		echo "$(where) does not exist or cannot be reached ($(printf '%s' "$out" | grep -v '^[[:space:]]*$' | tail -n 1))" >&2
		return 1
	fi
	dest "test -w '$DEST_PATH'" || { echo "$(where) is not writable" >&2; return 1; }
	free=$(dest "df -Pk '$DEST_PATH'" | awk 'NR==2 {print $4}')
	local pgk nfsk redisk
	pgk=$(pg psql -X -A -t -p "$PG_PORT" -c "SELECT pg_database_size('$DATABASE')/1024") && [ -n "$pgk" ] || { echo "cannot read the size of database $DATABASE" >&2; return 1; }
	nfsk=$(du -sk "$NFS_DIR" | cut -f1) && [ -n "$nfsk" ] || { echo "cannot read the size of $NFS_DIR" >&2; return 1; }
	redisk=$(du -sk /var/lib/redis | cut -f1)
	need=$((pgk + nfsk + ${redisk:-0} + 1024))
	if [ -z "$free" ] || [ "$free" -lt "$need" ]; then
		echo "$(where) has ${free:-no} KiB free, a backup needs about $need KiB (the database, the NFS share and Redis, uncompressed)" >&2
		return 1
	fi
}
make_dir() { dest "mkdir -m 0700 '$DEST_PATH/$name'" && dir=$DEST_PATH/$name; }
# A table locked exclusively (a migration, VACUUM FULL) fails the dump after 10 minutes
# instead of holding the run, and the lock, for ever.
dump_postgres() { pg pg_dump -p "$PG_PORT" --lock-wait-timeout=600000 --format=custom --dbname="$DATABASE" | put postgres.dump; }
dump_roles() { pg pg_dumpall -p "$PG_PORT" --roles-only | put postgres-roles.sql; }
# redis_log_error is ": " and Redis's last logged failure, the reason a save failed, if any.
redis_log_error() {
	local log line
	log=$(sed -n 's/^logfile[[:space:]]\{1,\}"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$redis_conf" 2>/dev/null | tail -n 1)
	[ -n "$log" ] && [ -r "$log" ] || return 0
	# The child's reason ("Failed opening the temp RDB file ...: Permission denied"), not the
	# parent's "Background saving error" that follows it.
	line=$(tail -n 50 "$log" | grep -i -e 'fail' -e 'error' | grep -v 'Background saving error' | tail -n 1 | sed 's/^[0-9]*:[A-Z] .*[0-9] [*#.-] //')
	[ -z "$line" ] || printf ': %s' "$line"
}
dump_redis() {
	local before after i rdb
	before=$(redis LASTSAVE) && [ -n "$before" ] || { echo "redis does not answer LASTSAVE: $before" >&2; return 1; }
	# LASTSAVE counts in seconds: a save finishing in the second of the last one would not
	# change it, so BGSAVE waits for the next second.
	while [ "$(date +%s)" -le "$before" ]; do sleep 0.1; done
	case $(redis BGSAVE) in
	*started* | *scheduled* | *"already in progress"*) ;; # a save under way also changes LASTSAVE
	*) echo "redis refused BGSAVE" >&2; return 1 ;;
	esac
	# LASTSAVE changes when the background save has finished (up to 10 minutes). One that
	# failed (no space, no permission in Redis's dir) leaves it as it was and says so at once
	# in INFO persistence: no save in progress any more, and the last one's status err. (BGSAVE
	# has forked its child before it answers: in progress from then on until it ends.)
	i=0
	while after=$(redis LASTSAVE) && [ "$after" = "$before" ]; do
		info=$(redis 'INFO persistence' | tr -d '\r')
		if grep -qx 'rdb_bgsave_in_progress:0' <<<"$info" && grep -qx 'rdb_last_bgsave_status:err' <<<"$info"; then
			echo "redis BGSAVE failed (INFO persistence: rdb_last_bgsave_status:err)$(redis_log_error)" >&2
			return 1
		fi
		i=$((i + 1))
		[ $i -lt 3000 ] || { echo "redis BGSAVE did not finish within 10 minutes" >&2; return 1; }
		sleep 0.2
	done
	redis 'INFO persistence' | grep -q '^rdb_last_bgsave_status:ok' || { echo "redis BGSAVE failed (INFO persistence)" >&2; return 1; }
	rdb=$(redis 'CONFIG GET dir' | sed -n 2p)/$(redis 'CONFIG GET dbfilename' | sed -n 2p)
	put redis.rdb <"$rdb"
}
archive_nfs() {
	# GNU tar exits 1 when a file changed while it was read (the share is live): the archive
	# is still complete and readable, so that is not a failure.
	# The plan refuses a local destination inside the share; should one be there anyway, its
	# backups stay out of the archive (each would hold all the earlier ones).
	local exclude=()
	if [ -z "$DEST_HOST" ]; then
		case $DEST_PATH/ in
		"$NFS_DIR"/) exclude=(--exclude="./hipchatdc-*") ;;
		"$NFS_DIR"/*) exclude=(--exclude="./${DEST_PATH#"$NFS_DIR"/}") ;;
		esac
	fi
	{ tar -C "$NFS_DIR" "${exclude[@]}" -czf - . ; [ $? -le 1 ]; } | put nfs.tar.gz
}
copy_config() {
	local f
	mkdir -p "$work/config/datastore"
	for f in $CONFIG_FILES; do
		[ -f "$f" ] || continue
		mkdir -p "$work/config/datastore$(dirname "$f")"
		cp -p "$f" "$work/config/datastore$f"
	done
	if [ -d /var/lib/hipchatdc/backup/config ]; then
		cp -a /var/lib/hipchatdc/backup/config/. "$work/config/"
	fi
	# Root's alone in the backup, whatever their mode on the VM (redis.conf holds a password).
	chmod -R go-rwx "$work/config"
	tar -C "$work" -cf - config | dest "tar -C '$dir' -xf -"
}
write_sums() {
	# Last: its presence marks the backup complete.
	dest "cd '$dir' && find . -type f ! -name SHA256SUMS ! -name '.*' | sed 's|^\./||' | sort | xargs -d '\n' sha256sum >.SHA256SUMS && mv .SHA256SUMS SHA256SUMS"
}
retention() {
	# The newest RETENTION complete backups of this VM stay; incomplete ones and other VMs'
	# are neither counted nor removed.
	dest "cd '$DEST_PATH' && for d in hipchatdc-$vm-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z; do [ -f \"\$d/SHA256SUMS\" ] && echo \"\$d\"; done | sort | head -n -$RETENTION | while read -r d; do rm -rf \"\$d\"; done"
}

step "destination" check_destination
step "destination" make_dir
step "postgres" dump_postgres
step "postgres roles" dump_roles
step "redis" dump_redis
step "nfs" archive_nfs
step "config" copy_config
step "destination" write_sums
bytes=$(dest "du -sb '$dir'" </dev/null | cut -f1)
dir= # complete: from here on nothing removes it
step "retention" retention
write_status true "" "${bytes:-0}" || exit 1
echo "hipchatdc-backup: $name complete, $bytes bytes at $(where)"
