#!/usr/bin/env bash
# `make mirror DIR=...`: puts release zips into a Terraform filesystem mirror, in the packed
# layout `terraform providers mirror` writes,
#   DIR/registry.terraform.io/hipchatdc/hipchatdc/terraform-provider-hipchatdc_VERSION_OS_ARCH.zip
# and writes DIR/terraformrc, a CLI configuration that installs hipchatdc/hipchatdc from that
# mirror only (every other provider as usual, from its registry). With
# TF_CLI_CONFIG_FILE=DIR/terraformrc a plain `terraform init` installs the provider, verifies the
# zip against .terraform.lock.hcl and records its hash there.
#
# usage: mirror.sh DIR ZIP...
set -euo pipefail
dir=${1:?usage: mirror.sh DIR ZIP...}
shift
[ $# -gt 0 ] || { echo "mirror: no zip given: run make release-local (this platform) or make release-snapshot (all six) first" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# The source address the examples and modules use (required_providers: source = "hipchatdc/hipchatdc").
addr=registry.terraform.io/hipchatdc/hipchatdc
mkdir -p "$dir/$addr"
for zip in "$@"; do
  [ -f "$zip" ] || { echo "mirror: $zip: no such file: run make release-local (this platform) or make release-snapshot (all six) first" >&2; exit 1; }
  base=$(basename "$zip")
  # terraform only sees a package whose file name is TYPE_VERSION_OS_ARCH.zip.
  if ! [[ $base =~ ^terraform-provider-hipchatdc_[0-9][^_]*_[a-z0-9]+_[a-z0-9]+\.zip$ ]]; then
    echo "mirror: $zip is not named terraform-provider-hipchatdc_VERSION_OS_ARCH.zip" >&2
    exit 1
  fi
  cp "$zip" "$dir/$addr/$base"
  echo "$dir/$addr/$base"
done
cat >"$dir/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$dir"
    include = ["$addr"]
  }
  direct {
    exclude = ["$addr"]
  }
}
RC
echo "$dir/terraformrc"
