package resources_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/resources"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/spec"
)

func schemaOf(t *testing.T, r resource.Resource) schema.Schema {
	t.Helper()
	var resp resource.SchemaResponse
	r.Schema(context.Background(), resource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatal(resp.Diagnostics)
	}
	return resp.Schema
}

// The docs (generated from the schema) say what a plan refuses: the data stores node and the
// reverse proxy cannot be planned without their network identity, so it is listed as required;
// the node, which can be just a VM, lists it as optional.
func TestSchema_networkIdentityRequiredWhereThePlanNeedsIt(t *testing.T) {
	for _, c := range []struct {
		name     string
		r        resource.Resource
		required bool
	}{
		{"hipchatdc_datastore_node", resources.NewDatastoreNodeResource(), true},
		{"hipchatdc_reverse_proxy", resources.NewReverseProxyResource(), true},
		{"hipchatdc_node", resources.NewNodeResource(), false},
	} {
		s := schemaOf(t, c.r)
		for _, attr := range []string{"hostname", "ipv4_address", "ipv4_netmask"} {
			if got := s.Attributes[attr].IsRequired(); got != c.required {
				t.Errorf("%s.%s: required = %t, want %t", c.name, attr, got, c.required)
			}
		}
	}
}

// The data stores node's descriptions state the rules its validators apply and its defaults.
func TestSchema_datastoreNodeDocumentsLimitsAndDefaults(t *testing.T) {
	s := schemaOf(t, resources.NewDatastoreNodeResource())
	for attr, want := range map[string]string{
		"redis_password":    fmt.Sprintf("at least %d characters", spec.PasswordMinLength),
		"postgres_password": fmt.Sprintf("at least %d characters", spec.PasswordMinLength),
		"nfs_server":        "Default `kernel`",
		"nfs_export_path":   "Default `/srv/hipchat-nfs`",
	} {
		if doc := s.Attributes[attr].GetMarkdownDescription(); !strings.Contains(doc, want) {
			t.Errorf("%s: description %q does not say %q", attr, doc, want)
		}
	}
}
