// Command terraform-provider-hipchatdc serves the hipchatdc Terraform provider, which deploys a
// small-scale Hipchat Data Center cluster on VMware vSphere.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/provider"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: provider.Address,
		Debug:   debug,
	})
	// Serve returns when Terraform shuts the plugin down: end the vSphere sessions of this run
	// so they do not pile up on vCenter until they time out.
	provider.CloseSessions(context.Background())
	if err != nil {
		log.Fatal(err)
	}
}
