package provider

import (
	"os"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/resources"
)

// sshFromEnv fills the ssh block's unset values from HIPCHATDC_SSH_* variables, as the vSphere
// settings fall back to VSPHERE_*: pipelines and `terraform test` then need no provider block.
func sshFromEnv(block *resources.ConnectionModel) (*resources.ConnectionModel, error) {
	m := resources.ConnectionModel{}
	if block != nil {
		m = *block
	}
	str := func(v *types.String, env string) {
		if v.IsNull() {
			if s := os.Getenv(env); s != "" {
				*v = types.StringValue(s)
			}
		}
	}
	str(&m.User, "HIPCHATDC_SSH_USER")
	str(&m.KnownHostsFile, "HIPCHATDC_SSH_KNOWN_HOSTS")
	str(&m.BastionHost, "HIPCHATDC_SSH_BASTION_HOST")
	str(&m.BastionUser, "HIPCHATDC_SSH_BASTION_USER")
	str(&m.BastionHostKey, "HIPCHATDC_SSH_BASTION_HOST_KEY")
	if m.BastionPort.IsNull() {
		if n, err := strconv.Atoi(os.Getenv("HIPCHATDC_SSH_BASTION_PORT")); err == nil {
			m.BastionPort = types.Int64Value(int64(n))
		}
	}
	if f := os.Getenv("HIPCHATDC_SSH_PRIVATE_KEY_FILE"); f != "" && m.PrivateKey.IsNull() {
		key, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m.PrivateKey = types.StringValue(string(key))
	}
	return &m, nil
}
