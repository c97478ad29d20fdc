// Command hipchatdc-bench is the harness behind `make bench`: it compares
// the provider's OVA import with govc's and with a plain HTTP PUT on an
// in-process vCenter simulator. See internal/bench.
package main

import (
	"os"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
