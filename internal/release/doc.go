// Package release tests the release artifacts as a user installs them: the zip goreleaser builds
// for this machine's platform (make release-local) is put into a filesystem mirror by
// scripts/mirror.sh, and a real terraform CLI installs it with a plain `terraform init`, records
// its hash in .terraform.lock.hcl, refuses it once tampered with, and runs the version the build
// stamped into it. No dev_overrides, no registry, no lab. It holds tests only.
package release
