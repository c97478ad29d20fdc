#!/usr/bin/env bash
# `make bench`: OVA import of the provider against govc (same govmomi) and
# the wire's limit, on an in-process vCenter simulator. Long; not part of
# `make test`. Knobs: BENCH_SIZES (default 256M,1G,4G), BENCH_RUNS (5),
# BENCH_URL_CHECK (1), BENCH_RESULTS (file for the tables).
# Ctrl-C stops cleanly: the running import aborts its lease and removes its
# VM, then the simulator stops and the temp folder (OVAs) is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d "${TMPDIR:-/tmp}/hipchatdc-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT

echo "df -h ${TMPDIR:-/tmp} (the largest OVA is written once, to a temp folder):"
df -h "${TMPDIR:-/tmp}" | tail -1
go build -o "$bin/hipchatdc-bench" ./cmd/hipchatdc-bench
# govc at the provider's govmomi version; its own module (tools/govc/go.mod).
(cd tools/govc && go build -o "$bin/govc" .)
echo "govc built from github.com/vmware/govmomi/cli v0.56.0 (tools/govc)"

# Not exec: the trap above must still remove $bin. The harness handles
# SIGINT itself; bash waits for it before running the trap.
BENCH_GOVC="$bin/govc" "$bin/hipchatdc-bench" run
