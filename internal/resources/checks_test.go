package resources_test

import (
	"regexp"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
)

func attrPath(attr string) tfjsonpath.Path { return tfjsonpath.New(attr) }

func knownInt(v int64) knownvalue.Check { return knownvalue.Int64Exact(v) }

// importVerify imports a resource by its ID and checks that every attribute reads back as the
// apply left it, but the source (ova_path: vSphere cannot tell where a VM came from), the
// timeouts (configuration only) and what ignore names.
func importVerify(resourceName string, ignore ...string) resource.TestStep {
	return resource.TestStep{
		ResourceName:            resourceName,
		ImportState:             true,
		ImportStateVerify:       true,
		ImportStateVerifyIgnore: append([]string{"ova_path", "timeouts"}, ignore...),
	}
}

// wrapped matches a message as Terraform prints it: taken literally, but with a line break
// wherever it has a space, as Terraform wraps a diagnostic's text to the terminal's width.
func wrapped(msg string) *regexp.Regexp {
	return regexp.MustCompile(acctest.Wrapped(msg))
}
