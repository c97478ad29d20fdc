package resources

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

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
	{"host_key", "The guest's public host key in authorized_keys format (`ssh-ed25519 AAAA...`), pinned: a different key fails the connection before anything runs.", "string", false},
	{"known_hosts_file", "A known_hosts file to verify host keys against (`@cert-authority` lines work) instead of a pinned `host_key`.", "string", false},
	{"insecure_ignore_host_key", "DANGEROUS: accept any host key. Every apply warns while this is set.", "bool", false},
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
