package resources

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

// NewNodeResource is hipchatdc_node: the Hipchat application node, imported from the Hipchat OVA.
func NewNodeResource() resource.Resource {
	return &vmResource[nodeModel, *nodeModel]{role: nodeRole{}}
}

type nodeModel struct {
	vmCore
}

type nodeRole struct{}

func (nodeRole) spec() spec.Role               { return spec.RoleNode }
func (nodeRole) flavor() identity.Flavor       { return identity.Appliance }
func (nodeRole) typeSuffix() string            { return "_node" }
func (nodeRole) extraDisks(*nodeModel) []int64 { return nil }

func (nodeRole) description() string {
	return "The Hipchat Data Center node: a VM imported from the Hipchat OVA (or cloned), sized to the small-scale guide " +
		"(at least 8 vCPU, 16 GB RAM, 40 GB disk), with its static IPv4 address, host name, NTP servers and UTC timezone pushed over SSH " +
		"the way the guide does by hand (`/etc/network/interfaces`, `dont-blame-hipchat -c \"hostnamectl set-hostname ...\"`, `hipchat service --ntp-servers`)."
}

func (nodeRole) attributes() map[string]schema.Attribute { return nil }

func (nodeRole) validate(ctx context.Context, m *nodeModel, diags *diag.Diagnostics) {
	m.validate(ctx, spec.RoleNode, "", diags)
}

func (nodeRole) modifyPlan(context.Context, *nodeModel, *nodeModel, *diag.Diagnostics) {}

func (nodeRole) apply(context.Context, *guest.Conn, *nodeModel, *nodeModel, *diag.Diagnostics) {}

func (nodeRole) read(context.Context, *guest.Conn, *nodeModel, *diag.Diagnostics) {}
