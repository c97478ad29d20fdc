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
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
# Read-only / (in this mount namespace only): /usr, /bin, /lib and the host's work stay untouched.
mount -n -o remount,bind,ro /
hostname -F /etc/hostname
touch /run/hipchatdc-lab-booted
exec tini -s -- sleep infinity
