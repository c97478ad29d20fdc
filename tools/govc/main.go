// Command govc is govmomi's own CLI, built from the govmomi module the
// provider pins (v0.56.0), so `make bench` compares the provider with govc
// at exactly the same library version, and `make govc` gives users the
// commands to look at the lab with (ls, find, vm.info, datastore.ls, ...). govc's main package lives in a
// separate Go module that `go install` refuses to build from here, but its
// commands are in github.com/vmware/govmomi/cli; this file is the few lines
// of glue. It is its own Go module (tools/govc/go.mod), so govc's extra
// dependencies never enter the provider's go.mod and `go vet ./...` /
// `go test ./...` at the root do not compile all of govc's commands.
// Build it with
//
//	cd tools/govc && go build -o DIR/govc .
package main

import (
	"os"

	"github.com/vmware/govmomi/cli"
	_ "github.com/vmware/govmomi/cli/about"
	_ "github.com/vmware/govmomi/cli/cluster"
	_ "github.com/vmware/govmomi/cli/datacenter"
	_ "github.com/vmware/govmomi/cli/datastore"
	_ "github.com/vmware/govmomi/cli/device"
	_ "github.com/vmware/govmomi/cli/events"
	_ "github.com/vmware/govmomi/cli/folder"
	_ "github.com/vmware/govmomi/cli/host"
	_ "github.com/vmware/govmomi/cli/importx"
	_ "github.com/vmware/govmomi/cli/object" // ls, find, tree, object.collect
	_ "github.com/vmware/govmomi/cli/pool"
	_ "github.com/vmware/govmomi/cli/session"
	_ "github.com/vmware/govmomi/cli/task" // tasks
	_ "github.com/vmware/govmomi/cli/version"
	_ "github.com/vmware/govmomi/cli/vm"
	_ "github.com/vmware/govmomi/cli/vm/disk"
	_ "github.com/vmware/govmomi/cli/vm/network"
	_ "github.com/vmware/govmomi/cli/vm/snapshot"
)

func main() {
	os.Exit(cli.Run(os.Args[1:]))
}
