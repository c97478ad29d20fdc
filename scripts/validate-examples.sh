#!/usr/bin/env bash
# `terraform validate` for every example and module, with the provider built into bin/ through a
# dev_overrides CLI configuration: no registry is needed (or reachable).
set -euo pipefail
TERRAFORM=${1:?usage: validate-examples.sh TERRAFORM}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "hipchatdc/hipchatdc" = "$root/bin"
    "hashicorp/hipchatdc" = "$root/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$tmp/terraformrc CHECKPOINT_DISABLE=1
# Copies, so that init leaves nothing in the work tree; module paths stay relative.
cp -r "$root/examples" "$root/modules" "$tmp/"
status=0
while read -r dir; do
  rel=${dir#"$tmp"/}
  # Modules only: with dev_overrides in effect, init would still ask the registry for the provider.
  if ! out=$("$TERRAFORM" -chdir="$dir" get -no-color 2>&1) ||
     ! out=$("$TERRAFORM" -chdir="$dir" validate -no-color 2>&1); then
    echo "FAIL $rel"; echo "$out"; status=1
  else
    echo "ok   $rel"
  fi
done < <(find "$tmp/examples" "$tmp/modules" -name '*.tf' -exec dirname {} \; | sort -u)
exit $status
