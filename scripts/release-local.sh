#!/usr/bin/env bash
# `make release-local`: the release artifacts of `make release-snapshot` for this machine's
# platform only, in a fraction of the time (one build instead of six). goreleaser builds the
# binary with the release's settings and version (`build --snapshot --single-target`, the same
# .goreleaser.yml); its archive and checksum steps only run in `goreleaser release`, which has no
# single-platform mode, so this script packs the binary as they do: a zip named
# terraform-provider-hipchatdc_VERSION_OS_ARCH.zip holding the binary, README.md, LICENSE and
# CHANGELOG.md, the registry manifest renamed for the version, and the SHA256SUMS file.
# Prints the zip's path.
set -euo pipefail
GORELEASER=${GORELEASER:?set GORELEASER to the pinned goreleaser}
: "${SNAPSHOT_VERSION:?set SNAPSHOT_VERSION (the GNUmakefile does: the next release with the commit, 0.1.0+snapshot.1a2b3c4)}"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$GORELEASER" build --snapshot --single-target --clean >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi

# goreleaser's own record of what it built: the version and the one binary's path and platform.
python3 - "$root/dist" "$root" <<'PY'
import hashlib, json, os, sys, zipfile

dist, root = sys.argv[1], sys.argv[2]
project = "terraform-provider-hipchatdc"
version = json.load(open(os.path.join(dist, "metadata.json")))["version"]
binaries = [a for a in json.load(open(os.path.join(dist, "artifacts.json"))) if a["type"] == "Binary"]
if len(binaries) != 1:
    sys.exit(f"release-local: expected one binary in {dist}/artifacts.json, found {len(binaries)}")
b = binaries[0]
name = f"{project}_{version}_{b['goos']}_{b['goarch']}"
zip_path = os.path.join(dist, name + ".zip")
with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
    # ZipFile.write keeps the file mode: the binary stays executable once Terraform unpacks it.
    z.write(os.path.join(root, b["path"]), os.path.basename(b["path"]))
    for f in ("CHANGELOG.md", "LICENSE", "README.md"):
        z.write(os.path.join(root, f), f)
manifest = f"{project}_{version}_manifest.json"
with open(os.path.join(root, "terraform-registry-manifest.json"), "rb") as src, open(os.path.join(dist, manifest), "wb") as dst:
    dst.write(src.read())
with open(os.path.join(dist, f"{project}_{version}_SHA256SUMS"), "w") as sums:
    for f in sorted([name + ".zip", manifest]):
        sums.write(hashlib.sha256(open(os.path.join(dist, f), "rb").read()).hexdigest() + "  " + f + "\n")
print(zip_path)
PY
