# Runs inside a lab guest (nsenter into all its namespaces) when VMware Tools is asked to shut
# the guest down (vSphere's ShutdownGuest), before the lab stops the guest's init: what a clean
# Debian shutdown does for the parts a lab guest has. A hard power-off skips it, as on a real VM.
set -eu
# Services get SIGTERM, as systemd sends at shutdown (sshd closes its sessions, nginx and the
# databases stop). Not kill -1: that also ends init's own child (sleep infinity), and init
# (tini) exits with it, which takes the whole guest down before the record below is written.
for d in /proc/[0-9]*; do
	p=${d#/proc/}
	if [ "$p" = 1 ] || [ "$p" = $$ ]; then
		continue
	fi
	if [ "$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)" = "sleep infinity " ]; then
		continue
	fi
	kill -TERM "$p" 2>/dev/null || true
done
# The shutdown record systemd-update-utmp writes: `last -x` shows a clean shutdown.
rec=$(mktemp)
printf '[1] [00000] [~~  ] [shutdown] [~           ] [%-20s] [0.0.0.0        ] [%s]\n' \
	"$(uname -r)" "$(date -u +%Y-%m-%dT%H:%M:%S,%6N+00:00)" | utmpdump -r -o "$rec" 2>/dev/null
cat "$rec" >>/var/log/wtmp
rm -f "$rec"
sync
