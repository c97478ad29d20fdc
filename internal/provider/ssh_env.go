package provider

import (
	"os"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/resources"
)

// sshFromEnv fills the ssh block's unset values from HIPCHATDC_SSH_* variables, as the vSphere
// settings fall back to VSPHERE_*: pipelines and `terraform test` then need no provider block.
// It also returns the attributes it filled, each with the variable it came from, so that
// messages about an inherited setting can say where it was made.
func sshFromEnv(block *resources.ConnectionModel) (*resources.ConnectionModel, map[string]string, error) {
	m := resources.ConnectionModel{}
	if block != nil {
		m = *block
	}
	from := map[string]string{}
	str := func(v *types.String, attr, env string) {
		if v.IsNull() {
			if s := os.Getenv(env); s != "" {
				*v = types.StringValue(s)
				from[attr] = env
			}
		}
	}
	str(&m.User, "user", "HIPCHATDC_SSH_USER")
	// A host-key setting the block makes (host_key, or insecure_ignore_host_key = true)
	// replaces the environment's known_hosts file, as a resource's replaces the provider's:
	// they do not add up to a conflict.
	insecure := !m.InsecureIgnoreHostKey.IsNull() && (m.InsecureIgnoreHostKey.IsUnknown() || m.InsecureIgnoreHostKey.ValueBool())
	if m.HostKey.IsNull() && !insecure {
		str(&m.KnownHostsFile, "known_hosts_file", "HIPCHATDC_SSH_KNOWN_HOSTS")
	}
	str(&m.BastionHost, "bastion_host", "HIPCHATDC_SSH_BASTION_HOST")
	str(&m.BastionUser, "bastion_user", "HIPCHATDC_SSH_BASTION_USER")
	str(&m.BastionHostKey, "bastion_host_key", "HIPCHATDC_SSH_BASTION_HOST_KEY")
	if m.BastionPort.IsNull() {
		if n, err := strconv.Atoi(os.Getenv("HIPCHATDC_SSH_BASTION_PORT")); err == nil {
			m.BastionPort = types.Int64Value(int64(n))
			from["bastion_port"] = "HIPCHATDC_SSH_BASTION_PORT"
		}
	}
	if f := os.Getenv("HIPCHATDC_SSH_PRIVATE_KEY_FILE"); f != "" && m.PrivateKey.IsNull() {
		key, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		m.PrivateKey = types.StringValue(string(key))
		from["private_key"] = "HIPCHATDC_SSH_PRIVATE_KEY_FILE"
	}
	return &m, from, nil
}
