// Package resources holds the hipchatdc resources: one file per resource, the VM core they
// share (placement, source, sizing, network identity, SSH) and their plain models.
package resources

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// ProviderData is what the provider hands every resource in Configure.
type ProviderData struct {
	// VSphere returns the run's shared vSphere session, connecting on first use when the
	// provider's settings were not known at plan time.
	VSphere func(context.Context) (*vsphere.Client, error)
	// Connected says that VSphere has its session already (the provider's settings were known
	// at plan time), so that plan-time checks may ask vSphere without connecting.
	Connected bool
	// SSH holds the provider's `ssh` block: defaults for every resource's `connection`.
	SSH *ConnectionModel
	// SSHEnv names, per attribute of SSH, the environment variable its value came from
	// (HIPCHATDC_SSH_KNOWN_HOSTS for known_hosts_file), so that messages say where an
	// inherited setting was made.
	SSHEnv map[string]string
}

// All lists the resources of the provider.
func All() []func() resource.Resource {
	return []func() resource.Resource{
		NewNodeResource,
		NewDatastoreNodeResource,
		NewReverseProxyResource,
		NewReverseProxyNodeResource,
		NewAntiAffinityRuleResource,
		NewLibraryItemResource,
		NewBackupResource,
	}
}

// AllDataSources lists the data sources of the provider.
func AllDataSources() []func() datasource.DataSource {
	return []func() datasource.DataSource{NewHealthDataSource}
}

// configureData is the shared body of the resources' Configure.
func configureData(req resource.ConfigureRequest, diags *diag.Diagnostics) *ProviderData {
	if req.ProviderData == nil {
		return nil // ValidateResourceConfig and early plan calls come before Configure.
	}
	d, ok := req.ProviderData.(*ProviderData)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("got %T, want *resources.ProviderData; this is a bug in the provider", req.ProviderData))
		return nil
	}
	return d
}
