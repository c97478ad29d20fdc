package resources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Which host-key verification a guest gets from its own ssh block, the provider's and the
// environment, and what messages say about where it came from.
func TestHostKeyVerificationReplacesTheInheritedSetting(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	envKH := map[string]string{attrKnownHostsFile: "HIPCHATDC_SSH_KNOWN_HOSTS"}
	for _, c := range []struct {
		name      string
		res, prov *ConnectionModel
		env       map[string]string
		want      string // describe()
		wantErr   string // check()
	}{
		{name: "resource insecure over env known_hosts",
			res:  &ConnectionModel{InsecureIgnoreHostKey: types.BoolValue(true)},
			prov: &ConnectionModel{KnownHostsFile: types.StringValue(kh)}, env: envKH,
			want: "insecure_ignore_host_key from this resource's ssh block"},
		{name: "resource host_key over provider insecure",
			res:  &ConnectionModel{HostKey: types.StringValue(key)},
			prov: &ConnectionModel{InsecureIgnoreHostKey: types.BoolValue(true)},
			want: "host_key from this resource's ssh block"},
		{name: "resource known_hosts over provider host_key",
			res:  &ConnectionModel{KnownHostsFile: types.StringValue(kh)},
			prov: &ConnectionModel{HostKey: types.StringValue(key)},
			want: `known_hosts_file "` + kh + `" from this resource's ssh block`},
		{name: "inherited from the environment",
			prov: &ConnectionModel{KnownHostsFile: types.StringValue(kh)}, env: envKH,
			want: `known_hosts_file "` + kh + `" from the environment variable HIPCHATDC_SSH_KNOWN_HOSTS`},
		{name: "inherited from the provider block",
			prov: &ConnectionModel{KnownHostsFile: types.StringValue(kh)},
			want: `known_hosts_file "` + kh + `" from the provider's ssh block`},
		{name: "resource false does not inherit insecure",
			res:  &ConnectionModel{InsecureIgnoreHostKey: types.BoolValue(false)},
			prov: &ConnectionModel{InsecureIgnoreHostKey: types.BoolValue(true)},
			want: "none set in this resource's ssh block, the provider's ssh block or HIPCHATDC_SSH_KNOWN_HOSTS"},
		{name: "missing file named with its variable",
			prov: &ConnectionModel{KnownHostsFile: types.StringValue(kh + ".missing")}, env: envKH,
			wantErr: `known_hosts_file "` + kh + `.missing" (from the environment variable HIPCHATDC_SSH_KNOWN_HOSTS)`},
		{name: "two in one block (unknown at plan time)",
			res:     &ConnectionModel{HostKey: types.StringValue(key), InsecureIgnoreHostKey: types.BoolValue(true)},
			wantErr: "this resource's ssh block sets host_key and insecure_ignore_host_key"},
	} {
		o := vmOps{data: &ProviderData{SSH: c.prov, SSHEnv: c.env}}
		v := o.hostKeyVerification(&vmCore{Connection: c.res})
		err := v.check()
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: check() = %v, want %q", c.name, err, c.wantErr)
			}
		case err != nil:
			t.Errorf("%s: check() = %v", c.name, err)
		case v.describe() != c.want:
			t.Errorf("%s: %q, want %q", c.name, v.describe(), c.want)
		}
	}
}
