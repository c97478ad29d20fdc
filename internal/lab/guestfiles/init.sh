#!/bin/sh
# PID 1 of a lab guest, started by the lab as
#   ip netns exec NS unshare --mount --uts --ipc --pid --fork --mount-proc --propagation private sh init.sh
# It gives the guest its own view of the file system (measured recipe: LAB-NOTES.md), marks
# itself booted and becomes tini, which only reaps orphans. Everything else (sshd, ifup, nginx)
# is started by boot.sh through nsenter, as a real init would after mounting file systems.
#
# Environment: GUEST_DIR (this guest's disk: overlay upper/work dirs, /root, /home),
# LOCAL_BIN_LOWER (the lowerdir list mounted over /usr/local/bin), BARE_LAYER (set for the
# debian-bare kind: whiteout layers hiding the data-store packages' programs).
set -eu

# A node guest first gets its own root, because the Hipchat appliance keeps its settings under
# /hipchat, a top-level folder the host does not have (and must not get): a tmpfs (on /media,
# in this mount namespace only) with a bind of each of the host's top-level folders, the host's
# symlinks (bin -> usr/bin, ...), and /hipchat from the guest's disk, so it survives power
# cycles. pivot_root makes it /; nsenter then lands in it too. Everything below works on it as
# on any other guest, and the host's folders are made read-only at the end like / elsewhere.
own_root=
host_binds=
if [ "$(cat "$GUEST_DIR/etc/upper/hipchatdc-lab/kind" 2>/dev/null)" = node ]; then
	mount -n -t tmpfs -o mode=0755 guest-root /media
	for e in /*; do
		name=${e#/}
		if [ "$name" = media ]; then
			mkdir /media/media
		elif [ -L "$e" ]; then
			cp -P "$e" "/media/$name"
		elif [ -d "$e" ]; then
			mkdir "/media/$name"
			mount -n --rbind "$e" "/media/$name"
			case $name in
			proc | sys | dev) ;;
			tmp) ;; # read-only just before the guest's own /tmp covers it: the lab's folder may be there
			etc | var | root | home | run) mount -n -o remount,bind,ro "/media/$name" ;; # covered below
			*) host_binds="$host_binds /$name" ;;
			esac
		fi
	done
	mkdir -p /media/hipchat "$GUEST_DIR/hipchat"
	mount -n --bind "$GUEST_DIR/hipchat" /media/hipchat
	mkdir /media/.old-root
	cd /media
	pivot_root . .old-root
	cd /
	umount -n -l /.old-root
	rmdir /.old-root
	own_root=yes
fi

# /run first: mounting it later let libmount create /run/mount on the host's /run. -n (no
# mtab/utab bookkeeping) on every mount: libmount otherwise creates /run/mount for its utab,
# and until /run is the guest's own tmpfs that is the host's /run.
umount -n -l /run/netns 2>/dev/null || true
mount -n -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -n -t overlay overlay -o "lowerdir=/etc,upperdir=$GUEST_DIR/etc/upper,workdir=$GUEST_DIR/etc/work" /etc
mount -n -t overlay overlay -o "lowerdir=/var,upperdir=$GUEST_DIR/var/upper,workdir=$GUEST_DIR/var/work" /var
mount -n --bind "$GUEST_DIR/root" /root
mount -n --bind "$GUEST_DIR/home" /home
mount -n -t overlay overlay -o "lowerdir=$LOCAL_BIN_LOWER" /usr/local/bin
if [ -n "${BARE_LAYER:-}" ]; then
	mount -n -t overlay overlay -o "lowerdir=$BARE_LAYER/usr-bin:/usr/bin" /usr/bin
	mount -n -t overlay overlay -o "lowerdir=$BARE_LAYER/usr-sbin:/usr/sbin" /usr/sbin
fi
# The lab's folder may be under /tmp: everything from it is mounted above, before /tmp is covered.
if [ -n "$own_root" ]; then
	mount -n -o remount,bind,ro /tmp
fi
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
# Read-only / (in this mount namespace only): /usr, /bin, /lib and the host's work stay untouched.
mount -n -o remount,bind,ro /
for d in $host_binds; do
	mount -n -o remount,bind,ro "$d"
done
hostname -F /etc/hostname
touch /run/hipchatdc-lab-booted
exec tini -s -- sleep infinity
