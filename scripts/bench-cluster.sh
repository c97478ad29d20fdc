#!/usr/bin/env bash
# The cluster scenario of `make bench` (issue 16): wall time of `terraform apply` of the
# small-scale cluster (examples/small-scale, the module as it is) against its slowest single VM's
# create, each VM in an apply of its own, in the same run on the same lab; and today's chain (the
# module at CHAIN_COMMIT, whose node waits for the data stores VM and proxy for the node).
#
# The lab is given a realistic network: all NFC uploads share one link of
# HIPCHATDC_LAB_NFC_BANDWIDTH (default 110MiB/s, a 1 Gbit/s link), the node stand-in boots for
# HIPCHATDC_LAB_BOOT_DELAY (default node=30s,debian=5s), and the node OVA carries
# BENCH_NODE_MIB (2048) of disk data against BENCH_SERVER_MIB (256) for the data-store and proxy
# OVA. Peak RSS is the provider process's own VmHWM, read from /proc every 50 ms during each
# apply. Prints a Markdown table (and writes it to BENCH_CLUSTER_RESULTS when set).
#
# Needs root (the lab makes network namespaces) and TERRAFORM. Ctrl-C destroys what was made
# and stops the lab.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
TERRAFORM=${TERRAFORM:?set TERRAFORM to a terraform CLI}
export HIPCHATDC_LAB_NFC_BANDWIDTH=${HIPCHATDC_LAB_NFC_BANDWIDTH:-110MiB/s}
export HIPCHATDC_LAB_BOOT_DELAY=${HIPCHATDC_LAB_BOOT_DELAY:-node=30s,debian=5s}
NODE_MIB=${BENCH_NODE_MIB:-2048}
SERVER_MIB=${BENCH_SERVER_MIB:-256}
CHAIN_COMMIT=${CHAIN_COMMIT:-4bb13f3}
export CHECKPOINT_DISABLE=1

w=$(mktemp -d "${TMPDIR:-/tmp}/hipchatdc-bench-cluster.XXXXXX")
lab_pid=
current=
cleanup() {
  rc=$?
  if [ -n "$current" ]; then
    "$TERRAFORM" -chdir="$current" destroy -auto-approve -input=false >/dev/null 2>&1 || true
  fi
  if [ -n "$lab_pid" ]; then
    "$w/hipchatdc-lab" stop --dir "$w/lab" >/dev/null 2>&1 || kill "$lab_pid" 2>/dev/null || true
    wait "$lab_pid" 2>/dev/null || true
  fi
  rm -rf "$w"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$w/hipchatdc-lab" ./cmd/hipchatdc-lab
mkdir -p "$w/plugins"
go build -o "$w/plugins/terraform-provider-hipchatdc" .
cat >"$w/terraformrc" <<RC
provider_installation {
  dev_overrides { "hipchatdc/hipchatdc" = "$w/plugins" }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$w/terraformrc

"$w/hipchatdc-lab" ova --kind node --disk-gib 40 --data-mib "$NODE_MIB" --out "$w/HipChat.ova"
"$w/hipchatdc-lab" ova --kind debian --disk-gib 60 --data-mib "$SERVER_MIB" --out "$w/debian-server.ova"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=chat.example.com" \
  -addext "subjectAltName=DNS:chat.example.com" -keyout "$w/chat.key" -out "$w/chat.pem" 2>/dev/null

"$w/hipchatdc-lab" start --dir "$w/lab" >"$w/lab.log" 2>&1 &
lab_pid=$!
for _ in $(seq 1 600); do
  [ -f "$w/lab/lab.env" ] && break
  kill -0 "$lab_pid" 2>/dev/null || { cat "$w/lab.log"; exit 1; }
  sleep 0.1
done
# shellcheck disable=SC1091
. "$w/lab/lab.env"
net=$(echo "$HIPCHATDC_LAB_SUBNET" | cut -d. -f1-3)

# Two copies of the example: the module as it is, and the module at CHAIN_COMMIT.
for v in cluster chain; do
  mkdir -p "$w/$v"
  cp -r "$root/examples" "$w/$v/"
  if [ "$v" = chain ]; then
    mkdir -p "$w/$v/modules"
    git -C "$root" archive "$CHAIN_COMMIT" modules/small-scale-cluster | tar -x -C "$w/$v"
  else
    cp -r "$root/modules" "$w/$v/"
  fi
  cat >"$w/$v/examples/small-scale/lab.auto.tfvars" <<TFVARS
datacenter           = "$HIPCHATDC_DATACENTER"
cluster              = "$HIPCHATDC_CLUSTER"
datastore            = "$HIPCHATDC_DATASTORE"
network              = "$HIPCHATDC_NETWORK"
hipchat_ova          = "$w/HipChat.ova"
server_ova           = "$w/debian-server.ova"
gateway              = "$net.1"
ntp_servers          = ["$net.1"]
addresses            = { node = "$net.100", data_stores = "$net.50", proxy = "$net.200" }
nfs_server           = "ganesha"
certificate_file     = "$w/chat.pem"
private_key_file     = "$w/chat.key"
database_password    = "bench-db-secret"
redis_password       = "bench-redis-secret"
ssh_private_key_file = "$HIPCHATDC_SSH_PRIVATE_KEY_FILE"
ssh_known_hosts_file = "$HIPCHATDC_SSH_KNOWN_HOSTS"
TFVARS
  "$TERRAFORM" -chdir="$w/$v/examples/small-scale" init -input=false >/dev/null 2>&1 || true
done

# peak_rss PID: the highest VmHWM and the highest RssAnon (KiB) of the provider processes
# terraform (PID) starts. VmHWM counts the binary's code pages the process touched too; RssAnon
# is the memory it allocated (heap, stacks, buffers).
peak_rss() {
  local tf=$1 hwm=0 anon=0 p v a
  while kill -0 "$tf" 2>/dev/null; do
    for p in $(ps -o pid= --ppid "$tf" 2>/dev/null); do
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "terraform-provi" ] || continue
      read -r v a < <(awk '/^VmHWM:/ {h=$2} /^RssAnon:/ {a=$2} END {print h+0, a+0}' "/proc/$p/status" 2>/dev/null || echo 0 0)
      [ "${v:-0}" -gt "$hwm" ] && hwm=$v
      [ "${a:-0}" -gt "$anon" ] && anon=$a
    done
    sleep 0.05
  done
  echo "$hwm $anon"
}

# apply DIR NAME [ARGS]: one timed terraform apply; sets secs, rss and anon (MiB).
apply() {
  local dir=$1 name=$2
  shift 2
  current=$dir
  local t0 t1 kib
  t0=$(date +%s.%N)
  "$TERRAFORM" -chdir="$dir" apply -auto-approve -input=false -no-color "$@" >"$w/$name.log" 2>&1 &
  local tfpid=$!
  peak_rss "$tfpid" >"$w/$name.rss" &
  local rsspid=$!
  if ! wait "$tfpid"; then
    echo "terraform apply ($name) failed:" >&2
    tail -40 "$w/$name.log" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  wait "$rsspid"
  secs=$(echo "$t1 - $t0" | bc -l)
  read -r -a kib <"$w/$name.rss"
  rss=$(echo "${kib[0]} / 1024" | bc -l)
  anon=$(echo "${kib[1]} / 1024" | bc -l)
  printf '%-10s %7.1f s   provider peak RSS %5.1f MiB (anonymous %5.1f MiB)\n' "$name" "$secs" "$rss" "$anon" >&2
  # Terraform's own account of each resource's create, to see what overlapped.
  grep -Eo '[a-z_.]+: Creation complete after [0-9ms]+' "$w/$name.log" | sed 's/^/    /' >&2 || true
}
destroy() {
  "$TERRAFORM" -chdir="$1" destroy -auto-approve -input=false >/dev/null
  current=
}

RUNS=${BENCH_CLUSTER_RUNS:-2}
echo "lab: NFC link $HIPCHATDC_LAB_NFC_BANDWIDTH, boot delay $HIPCHATDC_LAB_BOOT_DELAY; OVAs: node $NODE_MIB MiB, data stores and proxy $SERVER_MIB MiB of disk data; $RUNS runs" >&2
c=$w/cluster/examples/small-scale
k=$w/chain/examples/small-scale

# Results per measurement, one line per run: "secs rss anon".
lone() {
  # Each VM alone, in an apply of its own (the data stores first: the node's wiring needs them).
  apply "$c" data -target=module.cluster.hipchatdc_datastore_node.data
  echo "$secs $rss $anon" >>"$w/r.data"
  apply "$c" node -target=module.cluster.hipchatdc_node.app
  echo "$secs $rss $anon" >>"$w/r.node"
  apply "$c" proxy
  echo "$secs $rss $anon" >>"$w/r.proxy"
  destroy "$c"
}
together() {
  apply "$1" "$2"
  echo "$secs $rss $anon" >>"$w/r.$2"
  destroy "$1"
}
# The order alternates between runs, so that neither side always runs first.
for run in $(seq 1 "$RUNS"); do
  echo "run $run" >&2
  if [ $((run % 2)) = 1 ]; then
    lone; together "$c" cluster; together "$k" chain
  else
    together "$k" chain; together "$c" cluster; lone
  fi
done

# median FILE COLUMN (the mean of the middle two for an even count)
median() {
  cut -d' ' -f"$2" "$1" | sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
# most FILE COLUMN
most() { cut -d' ' -f"$2" "$1" | sort -n | tail -1; }
for m in data node proxy cluster chain; do
  eval "t_$m=\$(median \"\$w/r.$m\" 1) rss_$m=\$(most \"\$w/r.$m\" 2) anon_$m=\$(most \"\$w/r.$m\" 3)"
done
# shellcheck disable=SC2154 # set by the eval above
slowest=$(printf '%s\n' "$t_data data" "$t_node node" "$t_proxy proxy" | sort -n | tail -1)
t_slow=${slowest% *}
runs_of() { cut -d' ' -f1 "$w/r.$1" | xargs printf '%.1f s, ' | sed 's/, $//'; }
# shellcheck disable=SC2154
table=$(
  echo "Lab: NFC uploads share one link of $HIPCHATDC_LAB_NFC_BANDWIDTH; boot delay $HIPCHATDC_LAB_BOOT_DELAY; OVAs with $NODE_MIB MiB (node) and $SERVER_MIB MiB (data stores, proxy) of disk data. $RUNS runs, the order alternating; wall times are medians, peak RSS the highest of any run (VmHWM; in brackets the largest RssAnon, the memory the provider allocated, without the binary's code pages)."
  echo
  echo "| terraform apply | wall time (median) | runs | : slowest single VM | provider peak RSS (anonymous) |"
  echo "|---|---|---|---|---|"
  printf '| data stores VM alone | %.1f s | %s | | %.1f MiB (%.1f) |\n' "$t_data" "$(runs_of data)" "$rss_data" "$anon_data"
  printf '| node VM alone (one import) | %.1f s | %s | | %.1f MiB (%.1f) |\n' "$t_node" "$(runs_of node)" "$rss_node" "$anon_node"
  printf '| proxy VM alone | %.1f s | %s | | %.1f MiB (%.1f) |\n' "$t_proxy" "$(runs_of proxy)" "$rss_proxy" "$anon_proxy"
  printf '| cluster, the module (parallel) | %.1f s | %s | %.2f | %.1f MiB (%.1f) |\n' "$t_cluster" "$(runs_of cluster)" "$(echo "$t_cluster / $t_slow" | bc -l)" "$rss_cluster" "$anon_cluster"
  printf '| cluster, the module at %s (chained) | %.1f s | %s | %.2f | %.1f MiB (%.1f) |\n' "$CHAIN_COMMIT" "$t_chain" "$(runs_of chain)" "$(echo "$t_chain / $t_slow" | bc -l)" "$rss_chain" "$anon_chain"
  echo
  r=$(echo "$t_cluster / $t_slow" | bc -l)
  if [ "$(echo "$r <= 1.15" | bc -l)" = 1 ]; then met=MET; else met="NOT MET"; fi
  printf -- '- cluster apply <= 1.15x the slowest single VM (%s): %s (%.3f)\n' "${slowest#* }" "$met" "$r"
  if [ "$(echo "$rss_cluster <= $rss_node" | bc -l)" = 1 ]; then met=MET; else met="NOT MET"; fi
  printf -- '- provider peak RSS during the cluster apply no higher than one import'"'"'s: %s (%.1f vs %.1f MiB; anonymous %.1f vs %.1f MiB; the chained module %.1f MiB)\n' "$met" "$rss_cluster" "$rss_node" "$anon_cluster" "$anon_node" "$rss_chain"
)
echo
echo "$table"
if [ -n "${BENCH_CLUSTER_RESULTS:-}" ]; then
  echo "$table" >"$BENCH_CLUSTER_RESULTS"
fi
