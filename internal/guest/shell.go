package guest

// Shell snippets the recipes share for daemons started by hand (no systemd in a container or
// the lab): both wait at most 10 s, in steps of 0.1 s, and fail the script with a message.

// StopPID kills the process in the shell variable $pid and waits until it is gone; name is
// how the error calls it.
func StopPID(name string) string {
	return `kill "$pid"
i=0; while kill -0 "$pid" 2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || { echo "` + name + ` $pid did not stop" >&2; exit 1; }; sleep 0.1; done
`
}

// WaitUntil waits until the shell command cond succeeds; otherwise it prints failure and the
// last lines of logFile to stderr and exits 1.
func WaitUntil(cond, failure, logFile string) string {
	return `i=0
until ` + cond + `; do
	i=$((i+1))
	if [ $i -ge 100 ]; then echo "` + failure + `; its log says:" >&2; tail -n 5 ` + logFile + ` >&2; exit 1; fi
	sleep 0.1
done
`
}
