// Package bench is the harness behind `make bench`: it measures the
// provider's OVA import (internal/vsphere ImportOVA) against govc's
// import.ova at the same govmomi version and against the wire's limit, a
// plain HTTP PUT of the same disk bytes to the same NFC endpoint.
//
// Peak memory is a per-process figure, so every measured importer runs in a
// process of its own (this package's Main subcommands, or govc) and the
// simulator runs in yet another, where its memory is not counted. The
// parent reads each child's peak RSS from wait4's rusage, samples its open
// files for anything written, counts the bytes a loopback HTTP server sends
// it, and prints the table that RESULTS.md records.
package bench
