package resources_test

import (
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func attrPath(attr string) tfjsonpath.Path { return tfjsonpath.New(attr) }

func knownInt(v int64) knownvalue.Check { return knownvalue.Int64Exact(v) }
