package resources

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
)

// ConnectionModel is a resource's `connection` block and the provider's `ssh` block. Names
// follow Terraform's `connection` block so that users' habits carry over; a resource's value
// wins over the provider's.
type ConnectionModel struct {
	Host                  types.String `tfsdk:"host"`
	Port                  types.Int64  `tfsdk:"port"`
	User                  types.String `tfsdk:"user"`
	Password              types.String `tfsdk:"password"`
	PrivateKey            types.String `tfsdk:"private_key"`
	PrivateKeyPassphrase  types.String `tfsdk:"private_key_passphrase"`
	Agent                 types.Bool   `tfsdk:"agent"`
	HostKey               types.String `tfsdk:"host_key"`
	KnownHostsFile        types.String `tfsdk:"known_hosts_file"`
	InsecureIgnoreHostKey types.Bool   `tfsdk:"insecure_ignore_host_key"`
	BastionHost           types.String `tfsdk:"bastion_host"`
	BastionPort           types.Int64  `tfsdk:"bastion_port"`
	BastionUser           types.String `tfsdk:"bastion_user"`
	BastionPassword       types.String `tfsdk:"bastion_password"`
	BastionPrivateKey     types.String `tfsdk:"bastion_private_key"`
	BastionHostKey        types.String `tfsdk:"bastion_host_key"`
	Timeout               types.String `tfsdk:"timeout"`
}

// hostKeyChoice is said of each of the three host-key settings.
const hostKeyChoice = "Set one of `host_key`, `known_hosts_file` and `insecure_ignore_host_key = true` per block (two in one block fail the plan); " +
	"a resource's own setting replaces the provider's, and the provider block's replaces `HIPCHATDC_SSH_KNOWN_HOSTS`."

// connectionDoc describes each attribute once for both blocks.
var connectionDoc = []struct {
	name, doc string
	kind      string // "string", "int", "bool"
	sensitive bool
}{
	{"host", "Address to reach the guest at before its static address is set. Default: the IPv4 address VMware Tools reports, then `ipv4_address` once applied.", "string", false},
	{"port", "SSH port. Default 22.", "int", false},
	{"user", "SSH user. Default `root`; any other user must have password-less `sudo`.", "string", false},
	{"password", "Password for `user`.", "string", true},
	{"private_key", "Private key in PEM or OpenSSH format (for example `file(\"~/.ssh/id_ed25519\")`).", "string", true},
	{"private_key_passphrase", "Passphrase of an encrypted `private_key`.", "string", true},
	{"agent", "Use the ssh-agent at `SSH_AUTH_SOCK`.", "bool", false},
	{"host_key", "The guest's public host key in authorized_keys format (`ssh-ed25519 AAAA...`), pinned: a different key fails the connection before anything runs. " + hostKeyChoice, "string", false},
	{"known_hosts_file", "A known_hosts file to verify host keys against (`@cert-authority` lines work) instead of a pinned `host_key`. " + hostKeyChoice, "string", false},
	{"insecure_ignore_host_key", "DANGEROUS: accept any host key. Every apply warns while this is set. " + hostKeyChoice, "bool", false},
	{"bastion_host", "Jump host to reach the guest through (the guide puts nodes on a private network reached through a jumpbox).", "string", false},
	{"bastion_port", "Jump host SSH port. Default 22.", "int", false},
	{"bastion_user", "Jump host user. Default: `user`.", "string", false},
	{"bastion_password", "Jump host password. Default: `password`.", "string", true},
	{"bastion_private_key", "Jump host private key. Default: `private_key`.", "string", true},
	{"bastion_host_key", "Jump host public host key, pinned. Default: verified against `known_hosts_file`.", "string", false},
	{"timeout", "How long to keep trying to connect while a guest boots, as a duration (`5m`). Default `5m`.", "string", false},
}

var portValidators = []validator.Int64{int64validator.Between(1, 65535)}

// connectionAttributes is the schema of a resource's `connection` block.
func connectionAttributes() map[string]schema.Attribute {
	attrs := map[string]schema.Attribute{}
	for _, a := range connectionDoc {
		switch a.kind {
		case "string":
			attrs[a.name] = schema.StringAttribute{Optional: true, Sensitive: a.sensitive, MarkdownDescription: a.doc}
		case "int":
			attrs[a.name] = schema.Int64Attribute{Optional: true, MarkdownDescription: a.doc, Validators: portValidators}
		case "bool":
			attrs[a.name] = schema.BoolAttribute{Optional: true, MarkdownDescription: a.doc}
		}
	}
	return attrs
}

// dataSourceConnectionAttributes is the schema of a data source's `ssh` block.
func dataSourceConnectionAttributes() map[string]dschema.Attribute {
	attrs := map[string]dschema.Attribute{}
	for _, a := range connectionDoc {
		switch a.kind {
		case "string":
			attrs[a.name] = dschema.StringAttribute{Optional: true, Sensitive: a.sensitive, MarkdownDescription: a.doc}
		case "int":
			attrs[a.name] = dschema.Int64Attribute{Optional: true, MarkdownDescription: a.doc, Validators: portValidators}
		case "bool":
			attrs[a.name] = dschema.BoolAttribute{Optional: true, MarkdownDescription: a.doc}
		}
	}
	return attrs
}

// ProviderSSHAttributes is the schema of the provider's `ssh` block: the same attributes,
// defaults for every resource.
func ProviderSSHAttributes() map[string]pschema.Attribute {
	attrs := map[string]pschema.Attribute{}
	for _, a := range connectionDoc {
		switch a.kind {
		case "string":
			attrs[a.name] = pschema.StringAttribute{Optional: true, Sensitive: a.sensitive, MarkdownDescription: a.doc}
		case "int":
			attrs[a.name] = pschema.Int64Attribute{Optional: true, MarkdownDescription: a.doc, Validators: portValidators}
		case "bool":
			attrs[a.name] = pschema.BoolAttribute{Optional: true, MarkdownDescription: a.doc}
		}
	}
	return attrs
}

// The three ways to verify a guest's host key. A block sets at most one; a resource's own
// replaces the provider's (or the environment's), whichever that is.
const (
	attrHostKey        = "host_key"
	attrKnownHostsFile = "known_hosts_file"
	attrInsecure       = "insecure_ignore_host_key"
)

// hostKeySettings names the host-key settings m makes: host_key, known_hosts_file, and
// insecure_ignore_host_key when true (false asks for nothing). Unknown values are not counted.
func (m *ConnectionModel) hostKeySettings() []string {
	if m == nil {
		return nil
	}
	var set []string
	if known(m.HostKey) {
		set = append(set, attrHostKey)
	}
	if known(m.KnownHostsFile) {
		set = append(set, attrKnownHostsFile)
	}
	if known(m.InsecureIgnoreHostKey) && m.InsecureIgnoreHostKey.ValueBool() {
		set = append(set, attrInsecure)
	}
	return set
}

// ValidateHostKeySettings refuses, at plan time, a block (at path at, named block in words:
// "this resource's ssh block", "the provider's ssh block") that sets more than one way to
// verify host keys.
func ValidateHostKeySettings(m *ConnectionModel, at path.Path, block string, diags *diag.Diagnostics) {
	set := m.hostKeySettings()
	if len(set) < 2 {
		return
	}
	diags.AddAttributeError(at.AtName(set[1]), "Conflicting host key settings",
		fmt.Sprintf("%s sets %s: set only one of host_key, known_hosts_file and insecure_ignore_host_key = true. "+
			"A resource's own setting replaces the one it would inherit from the provider's ssh block or HIPCHATDC_SSH_KNOWN_HOSTS, "+
			"so a resource that needs another verification than the provider's sets just that one.",
			block, strings.Join(set, " and ")))
}

// hostKeyVerification is how a guest's host key is verified: the resource's own setting when
// it makes one, else the provider's. from says where it comes from, for messages.
type hostKeyVerification struct {
	hostKey, knownHostsFile string
	insecure                bool
	set                     []string
	from                    string
}

// Block names used in messages.
const (
	resourceBlock = "this resource's ssh block"
	providerBlock = "the provider's ssh block"
)

func (o vmOps) hostKeyVerification(c *vmCore) hostKeyVerification {
	src, from := c.Connection, resourceBlock
	if len(src.hostKeySettings()) == 0 {
		src, from = nil, providerBlock
		if o.data != nil {
			src = o.data.SSH
			if env := o.data.SSHEnv[attrKnownHostsFile]; env != "" && len(src.hostKeySettings()) == 1 && known(src.KnownHostsFile) {
				from = "the environment variable " + env
			}
		}
	}
	v := hostKeyVerification{set: src.hostKeySettings(), from: from}
	if src != nil {
		v.hostKey, v.knownHostsFile = valueOr(src.HostKey), valueOr(src.KnownHostsFile)
		v.insecure = known(src.InsecureIgnoreHostKey) && src.InsecureIgnoreHostKey.ValueBool()
	}
	// A resource's explicit insecure_ignore_host_key = false is not inherited over: it asks
	// for verification, and without another setting the dial refuses to go unverified.
	if r := c.Connection; v.insecure && from != resourceBlock && r != nil && known(r.InsecureIgnoreHostKey) && !r.InsecureIgnoreHostKey.ValueBool() {
		v.insecure = false
		v.set = slices.DeleteFunc(v.set, func(s string) bool { return s == attrInsecure })
	}
	return v
}

// check reports what the apply would otherwise find only when it dials the guest, after the
// VM exists: two settings in one block (values that were unknown at plan time) and a
// known_hosts file that is not there.
func (v hostKeyVerification) check() error {
	if len(v.set) > 1 {
		return fmt.Errorf("%s sets %s: set only one of host_key, known_hosts_file and insecure_ignore_host_key = true", v.from, strings.Join(v.set, " and "))
	}
	if v.knownHostsFile != "" {
		if _, err := os.Stat(v.knownHostsFile); err != nil {
			return fmt.Errorf("known_hosts_file %q (from %s): %w", v.knownHostsFile, v.from, err)
		}
	}
	return nil
}

// describe is how the host key is verified, in words for an error about it.
func (v hostKeyVerification) describe() string {
	switch {
	case v.hostKey != "":
		return "host_key from " + v.from
	case v.knownHostsFile != "":
		return fmt.Sprintf("known_hosts_file %q from %s", v.knownHostsFile, v.from)
	case v.insecure:
		return "insecure_ignore_host_key from " + v.from
	}
	return "none set in this resource's ssh block, the provider's ssh block or HIPCHATDC_SSH_KNOWN_HOSTS"
}

func valueOr(v types.String) string {
	if known(v) {
		return v.ValueString()
	}
	return ""
}
