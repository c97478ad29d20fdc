#!/usr/bin/env bash
# Runs a command while every CPU is kept busy, as on a CI runner shared with other builds:
# races that an idle machine hides show up here. Starts LOAD_PER_CPU busy loops per CPU
# (default 2), each bounded by `timeout` to LOAD_MAX_SECONDS (default 1800) in case this script
# itself is killed, runs the command, ends exactly the loops it started (by their PIDs) and
# exits with the command's code.
#   scripts/under-load.sh go test ./internal/e2e/
set -euo pipefail
per_cpu=${LOAD_PER_CPU:-2}
max=${LOAD_MAX_SECONDS:-1800}
[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

pids=() # the busy loops' timeout processes
cmd_pid=
stop_load() {
  # timeout passes the TERM on to its busy loop.
  if [ "${#pids[@]}" -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_load EXIT
# INT or TERM: pass it on to the command, then exit, so that the EXIT trap ends the loops too.
on_signal() {
  if [ -n "$cmd_pid" ]; then kill -"$1" "$cmd_pid" 2>/dev/null || true; wait "$cmd_pid" 2>/dev/null || true; fi
  exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

n=$(( $(nproc) * per_cpu ))
for ((i = 0; i < n; i++)); do
  timeout --signal=KILL "$max" sh -c 'while :; do :; done' &
  pids+=("$!")
done
echo "under-load: $n busy loops (PIDs ${pids[*]}), each ended with the command or after ${max} s" >&2

start=$(date +%s)
# In the background and waited for: bash runs a trap only once a foreground command is done,
# but interrupts `wait` at once.
"$@" &
cmd_pid=$!
code=0
wait "$cmd_pid" || code=$?
cmd_pid=
echo "under-load: '$*' exited $code after $(( $(date +%s) - start )) s" >&2
exit "$code"
