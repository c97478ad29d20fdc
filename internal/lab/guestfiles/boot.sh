# Runs inside a lab guest (nsenter into all its namespaces) each time its VM is powered on:
# what a Debian/Ubuntu boot would do for the parts a lab guest has.
# Environment: GUEST_KIND (node, debian, debian-bare), ADMIN_PASSWORD.
set -eu
if [ ! -e /etc/hipchatdc-lab/initialized ]; then
	# First boot. The lab wrote this guest's own ed25519 host key; the host's other host keys
	# (visible through the /etc overlay) must not be offered by the guest.
	rm -f /etc/ssh/ssh_host_rsa_key* /etc/ssh/ssh_host_ecdsa_key* /etc/ssh/ssh_host_dsa_key*
	useradd --create-home --home-dir /home/admin --shell /bin/bash --groups sudo admin
	echo "admin:$ADMIN_PASSWORD" | chpasswd
	install -d -m 0700 -o admin -g admin /home/admin/.ssh
	install -m 0600 -o admin -g admin /root/.ssh/authorized_keys /home/admin/.ssh/authorized_keys
	if [ "$GUEST_KIND" = debian-bare ]; then
		rm -f /etc/init.d/redis-server /etc/init.d/postgresql /etc/init.d/nfs-kernel-server
	fi
	touch /etc/hipchatdc-lab/initialized
fi
if [ "$GUEST_KIND" != node ]; then
	# The lab's stand-in for the data-stores VM's NFS data disk: a tmpfs on /srv, mounted
	# at each power-on (its content does not survive a power cycle). A real VM has an ext4
	# disk there; a tmpfs is also what nfs-ganesha can export here, unlike the overlay
	# file systems the rest of the guest lives on (LAB-NOTES.md).
	mount -n -t tmpfs -o mode=0755,size=256m hipchat-nfs-volume /srv
fi
# Networking exactly as ifupdown brings it up on a real Debian: from /etc/network/interfaces,
# which the provider may have rewritten before the last power-off.
ifup -a >/var/log/hipchatdc-lab-ifup.log 2>&1 || { cat /var/log/hipchatdc-lab-ifup.log >&2; exit 1; }
install -d -m 0755 /run/sshd
/usr/sbin/sshd
# cron, enabled by its package on every Debian server (cron.service): hipchatdc_backup's
# schedule is a line of /etc/cron.d. It writes /run/crond.pid.
if [ "$GUEST_KIND" = debian ] && [ -x /usr/sbin/cron ]; then
	/usr/sbin/cron || echo "boot: cron did not start" >&2
fi
if [ "$GUEST_KIND" = node ]; then
	# The appliance's settings folder (see init.sh for where /hipchat comes from).
	install -d -m 0755 /hipchat/config
	nginx
	# The long-poll service behind nginx's /longpoll (guestfiles/node/lab-longpoll).
	nohup lab-longpoll >/var/log/hipchatdc-lab-longpoll.log 2>&1 &
fi
# The boot record a Linux boot writes to wtmp (systemd-update-utmp): `last -x reboot shutdown`
# in the guest shows each power-on, and a power-on not preceded by a "shutdown" record as a
# crash (the VM was powered off hard). shutdown.sh writes the other half.
wtmp_record() { # type user
	rec=$(mktemp)
	printf '[%s] [00000] [~~  ] [%-8s] [~           ] [%-20s] [0.0.0.0        ] [%s]\n' \
		"$1" "$2" "$(uname -r)" "$(date -u +%Y-%m-%dT%H:%M:%S,%6N+00:00)" | utmpdump -r -o "$rec" 2>/dev/null
	cat "$rec" >>/var/log/wtmp
	rm -f "$rec"
}
wtmp_record 2 reboot
