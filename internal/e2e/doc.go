// Package e2e runs the project's examples and module as a user would: a real terraform CLI in
// its own process, the provider built from this tree through a dev_overrides CLI configuration
// (no registry), against the embedded lab. It holds tests only.
package e2e
