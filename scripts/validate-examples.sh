#!/usr/bin/env bash
# `terraform init` and `terraform validate` for every example and module, with the provider
# installed as a user installs it: the release zip (make release-local) in a filesystem mirror
# (scripts/mirror.sh), a plain `terraform init` through the mirror's CLI configuration, which
# verifies the zip and writes the lock file. No dev_overrides, and no registry is needed (or reachable).
set -euo pipefail
TERRAFORM=${1:?usage: validate-examples.sh TERRAFORM ZIP}
ZIP=${2:?usage: validate-examples.sh TERRAFORM ZIP}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/mirror.sh" "$tmp/mirror" "$ZIP" >/dev/null
# The first init unpacks the zip into a plugin cache and writes the lock file; the others start
# from that lock file, as from a committed one, and link the verified package from the cache.
export TF_CLI_CONFIG_FILE=$tmp/mirror/terraformrc CHECKPOINT_DISABLE=1 TF_PLUGIN_CACHE_DIR=$tmp/plugin-cache
mkdir -p "$TF_PLUGIN_CACHE_DIR"
lock=
# Copies, so that init leaves nothing in the work tree; module paths stay relative.
cp -r "$root/examples" "$root/modules" "$tmp/"
mapfile -t dirs < <(find "$tmp/examples" "$tmp/modules" -name '*.tf' -exec dirname {} \; | sort -u)
status=0
for dir in "${dirs[@]}"; do
  rel=${dir#"$tmp"/}
  # examples/provider and examples/resources are fragments rendered into the docs; a user's
  # configuration declares the provider's source (examples/small-scale does), so the copy does.
  if ! grep -qs required_providers "$dir"/*.tf; then
    printf 'terraform {\n  required_providers {\n    hipchatdc = { source = "hipchatdc/hipchatdc" }\n  }\n}\n' >"$dir/zz_required_providers.tf"
  fi
  # A module that takes provider configurations by alias (modules/small-scale-standalone-esxi)
  # gets them from its caller; validated on its own, it needs the aliases declared, as
  # Terraform's documentation for validating such a module says.
  for alias in $(sed -n 's/.*configuration_aliases *= *\[\(.*\)\].*/\1/p' "$dir"/*.tf | tr -d ' ' | tr ',' ' '); do
    printf 'provider "%s" {\n  alias = "%s"\n}\n' "${alias%%.*}" "${alias#*.}" >>"$dir/zz_provider_aliases.tf"
  done
  [ -z "$lock" ] || cp "$lock" "$dir/.terraform.lock.hcl"
  if ! out=$("$TERRAFORM" -chdir="$dir" init -input=false -no-color 2>&1) ||
     ! out=$("$TERRAFORM" -chdir="$dir" validate -no-color 2>&1); then
    echo "FAIL $rel"; echo "$out"; status=1
  else
    echo "ok   $rel"
    lock=${lock:-$dir/.terraform.lock.hcl}
  fi
done
exit $status
