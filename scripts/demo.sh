#!/usr/bin/env bash
# `make demo`: the provider's main job on the embedded lab, installed as a user installs it. make
# built the release zip for this platform (make release-local); the demo puts it into a filesystem
# mirror (scripts/mirror.sh) and a plain `terraform init` installs it from there, verifying it and
# writing .terraform.lock.hcl (no dev_overrides, no registry). Then it starts the lab (vcsim + real
# guests), applies examples/small-scale, shows what a user would check, destroys everything and
# stops the lab. KEEP=1 leaves it all running and says how to reach and stop it. EXAMPLE=enterprise-scale
# applies examples/enterprise-scale instead: three Hipchat nodes deployed from one content library
# item, behind the load-balancing proxy.
#
# usage: demo.sh ZIP | demo.sh --stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
TERRAFORM=${TERRAFORM:?set TERRAFORM to a terraform CLI}
KEEP=${KEEP:-}
EXAMPLE=${EXAMPLE:-small-scale}
demo=$root/.demo
start=$(date +%s)
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

export CHECKPOINT_DISABLE=1

# A previous demo left running (KEEP=1) is stopped first.
if [ -f "$demo/lab/lab.pid" ] && [ -x "$demo/hipchatdc-lab" ]; then
  say "stopping the previous demo's lab"
  (cd "$demo/work/examples/$(cat "$demo/example" 2>/dev/null || echo small-scale)" 2>/dev/null && TF_CLI_CONFIG_FILE=$demo/mirror/terraformrc "$TERRAFORM" destroy -auto-approve -input=false >/dev/null 2>&1) || true
  "$demo/hipchatdc-lab" stop --dir "$demo/lab" || true
fi
rm -rf "$demo"
if [ "${1:-}" = "--stop" ]; then
  echo "demo stopped"
  exit 0
fi
ZIP=${1:?usage: demo.sh ZIP (the release zip, make release-local) or demo.sh --stop}
[ -d "$root/examples/$EXAMPLE" ] || { echo "EXAMPLE=$EXAMPLE: no examples/$EXAMPLE (small-scale or enterprise-scale)" >&2; exit 2; }
mkdir -p "$demo"
echo "$EXAMPLE" >"$demo/example"

say "building the lab"
go build -o "$demo/hipchatdc-lab" ./cmd/hipchatdc-lab
# --esxi 2: two standalone ESXi hosts besides the vCenter (HIPCHATDC_ESX1_SERVER... in lab.env),
# to try examples/standalone-esxi on a lab left running (KEEP=1); they start in well under a second.
"$demo/hipchatdc-lab" start --dir "$demo/lab" --esxi 2 >"$demo/lab.log" 2>&1 &
lab_pid=$!
stop_lab() {
  "$demo/hipchatdc-lab" stop --dir "$demo/lab" >/dev/null 2>&1 || kill "$lab_pid" 2>/dev/null || true
}
for _ in $(seq 1 300); do
  [ -f "$demo/lab/lab.env" ] && break
  kill -0 "$lab_pid" 2>/dev/null || { cat "$demo/lab.log"; exit 1; }
  sleep 0.1
done
# shellcheck disable=SC1091
. "$demo/lab/lab.env"
echo "vSphere (vcsim): $VSPHERE_URL   datacenter $HIPCHATDC_DATACENTER, cluster $HIPCHATDC_CLUSTER"

cleanup() {
  rc=$?
  if [ -z "$KEEP" ] || [ "$rc" != 0 ]; then
    if [ "$rc" != 0 ] && [ -d "$demo/work" ]; then
      say "the demo failed: destroying what it made"
      (cd "$demo/work/examples/$EXAMPLE" && TF_CLI_CONFIG_FILE=$demo/mirror/terraformrc "$TERRAFORM" destroy -auto-approve -input=false >/dev/null 2>&1) || true
    fi
    stop_lab
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "preparing the stand-in OVAs, a CA and a certificate for chat.example.com"
"$demo/hipchatdc-lab" ova --kind node --disk-gib 40 --out "$demo/HipChat.ova"
"$demo/hipchatdc-lab" ova --kind debian --disk-gib 60 --out "$demo/debian-server.ova"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj "/CN=Demo CA" \
  -keyout "$demo/ca.key" -out "$demo/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=chat.example.com" \
  -keyout "$demo/chat.key" -out "$demo/chat.csr" 2>/dev/null
printf 'subjectAltName=DNS:chat.example.com\n' >"$demo/san.ext"
openssl x509 -req -in "$demo/chat.csr" -CA "$demo/ca.pem" -CAkey "$demo/ca.key" -CAcreateserial -days 365 \
  -extfile "$demo/san.ext" -out "$demo/chat.pem" 2>/dev/null
# The chain NGINX serves ends with the issuer, as a CA's bundle does: clients that were not
# given ca.pem then fail on an unknown root, not on a missing issuer (the provider warns then).
cat "$demo/ca.pem" >>"$demo/chat.pem"

# The lab's public network: the host is .1 (the gateway); the lab hands out .10 upwards.
net=$(echo "$HIPCHATDC_LAB_SUBNET" | cut -d. -f1-3)
db_password=$(openssl rand -hex 12)
redis_password=$(openssl rand -hex 12)

mkdir -p "$demo/work"
cp -r "$root/examples" "$root/modules" "$demo/work/"
if [ "$EXAMPLE" = enterprise-scale ]; then
  addresses="{ nodes = [\"$net.100\", \"$net.101\", \"$net.102\"], data_stores = \"$net.50\", proxy = \"$net.200\" }"
else
  addresses="{ node = \"$net.100\", data_stores = \"$net.50\", proxy = \"$net.200\" }"
fi
cat >"$demo/work/examples/$EXAMPLE/lab.auto.tfvars" <<TFVARS
datacenter           = "$HIPCHATDC_DATACENTER"
cluster              = "$HIPCHATDC_CLUSTER"
datastore            = "$HIPCHATDC_DATASTORE"
network              = "$HIPCHATDC_NETWORK"
hipchat_ova          = "$demo/HipChat.ova"
server_ova           = "$demo/debian-server.ova"
gateway              = "$net.1"
ntp_servers          = ["$net.1"]
addresses            = $addresses
nfs_server           = "ganesha" # this kernel has no NFS server: the lab uses the userspace one
certificate_file     = "$demo/chat.pem"
private_key_file     = "$demo/chat.key"
database_password    = "$db_password"
redis_password       = "$redis_password"
ssh_private_key_file = "$HIPCHATDC_SSH_PRIVATE_KEY_FILE"
ssh_known_hosts_file = "$HIPCHATDC_SSH_KNOWN_HOSTS"
TFVARS

say "terraform init from a filesystem mirror holding $(basename "$ZIP")"
"$root/scripts/mirror.sh" "$demo/mirror" "$ZIP" >/dev/null
export TF_CLI_CONFIG_FILE=$demo/mirror/terraformrc
unset TF_PLUGIN_CACHE_DIR
tf() { "$TERRAFORM" -chdir="$demo/work/examples/$EXAMPLE" "$@"; }
tf init -input=false | grep -E '^- (Install|Using)'
echo "lock file: $(grep -E 'version|h1:' "$demo/work/examples/$EXAMPLE/.terraform.lock.hcl" | tr -d ' ,' | paste -sd ' ')"

say "terraform apply examples/$EXAMPLE"
tf apply -auto-approve -input=false
proxy=$(tf output -json addresses | sed -n 's/.*"proxy":"\([^"]*\)".*/\1/p')
node=$(tf output -json addresses | sed -n 's/.*"node":"\([^"]*\)".*/\1/p')
data=$(tf output -json addresses | sed -n 's/.*"data_stores":"\([^"]*\)".*/\1/p')

say "what a user checks"
echo "\$ curl --cacert ca.pem --resolve chat.example.com:443:$proxy https://chat.example.com/"
curl -sS --fail --cacert "$demo/ca.pem" --resolve "chat.example.com:443:$proxy" https://chat.example.com/ | head -5
ssh_node() { ssh -F "$HIPCHATDC_SSH_CONFIG" -o BatchMode=yes "root@$node" "$@"; }
echo "\$ ssh root@$node redis-cli -h $data PING      (password from the environment, as the node uses it)"
ssh_node "REDISCLI_AUTH=$redis_password redis-cli -h $data PING"
echo "\$ ssh root@$node psql -h $data -U hipchat_user hipchat_postgres -c 'SHOW server_encoding; SHOW max_connections'"
ssh_node "PGPASSWORD=$db_password psql -X -A -t -h $data -U hipchat_user -d hipchat_postgres -c 'SHOW server_encoding' -c 'SHOW max_connections'"
echo "\$ ssh root@$node hipchat datacenter selfcheck"
ssh_node "hipchat datacenter selfcheck"
if [ "$EXAMPLE" = enterprise-scale ]; then
  for other in $(tf output -json addresses | sed -n 's/.*"nodes":\[\([^]]*\)\].*/\1/p' | tr -d '"' | tr , ' '); do
    [ "$other" = "$node" ] && continue
    echo "\$ ssh root@$other hipchat datacenter selfcheck"
    ssh -F "$HIPCHATDC_SSH_CONFIG" -o BatchMode=yes "root@$other" "hipchat datacenter selfcheck"
  done
  echo "\$ curl ... https://chat.example.com/   (three times: the proxy spreads requests over the nodes)"
  for _ in 1 2 3; do
    curl -sS --fail --cacert "$demo/ca.pem" --resolve "chat.example.com:443:$proxy" https://chat.example.com/ | grep -o 'node: [^<]*'
  done
  echo "the three nodes were deployed from content library item $(tf output -raw library_item): the OVA was uploaded once"
fi

say "a second plan changes nothing"
tf plan -detailed-exitcode -input=false >/dev/null && echo "No changes: the deployment matches the configuration."

if [ -n "$KEEP" ]; then
  say "left running (KEEP=1)"
  cat <<MSG
vSphere:     $VSPHERE_URL  (user $VSPHERE_USER, CA $VSPHERE_CA_FILE; govc: GOVC_URL=$VSPHERE_URL GOVC_USERNAME=$VSPHERE_USER GOVC_PASSWORD=$VSPHERE_PASSWORD GOVC_TLS_CA_CERTS=$VSPHERE_CA_FILE)
Hipchat:     curl --cacert $demo/ca.pem --resolve chat.example.com:443:$proxy https://chat.example.com/
SSH:         ssh -F $HIPCHATDC_SSH_CONFIG root@$node     (data stores: $data, proxy: $proxy)
ESXi hosts:  $HIPCHATDC_ESX1_URL ($HIPCHATDC_ESX1_HOST) and $HIPCHATDC_ESX2_URL ($HIPCHATDC_ESX2_HOST), no vCenter: examples/standalone-esxi
Terraform:   TF_CLI_CONFIG_FILE=$demo/mirror/terraformrc $TERRAFORM -chdir=$demo/work/examples/$EXAMPLE plan
Stop it all: make demo-stop
MSG
  trap - EXIT
  exit 0
fi

say "terraform destroy"
tf destroy -auto-approve -input=false >/dev/null
echo "resources left in the state: $(tf state list | wc -l)"
say "done in $(( $(date +%s) - start )) s"
