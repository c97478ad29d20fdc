package main

import (
	_ "github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	_ "github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	_ "github.com/hashicorp/terraform-plugin-framework/providerserver"
	_ "github.com/hashicorp/terraform-plugin-framework/resource"
	_ "github.com/hashicorp/terraform-plugin-log/tflog"
	_ "github.com/hashicorp/terraform-plugin-testing/helper/resource"
	_ "github.com/hashicorp/terraform-plugin-testing/tfversion"
	_ "github.com/vmware/govmomi/find"
	_ "github.com/vmware/govmomi/nfc"
	_ "github.com/vmware/govmomi/object"
	_ "github.com/vmware/govmomi/ovf/importer"
	_ "github.com/vmware/govmomi/property"
	_ "github.com/vmware/govmomi/session/keepalive"
	_ "github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vmdk"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/agent"
	_ "golang.org/x/crypto/ssh/knownhosts"
)
