# vSphere settings fall back to VSPHERE_SERVER, VSPHERE_USER, VSPHERE_PASSWORD and
# VSPHERE_ALLOW_UNVERIFIED_SSL, as in the vsphere provider.
provider "hipchatdc" {
  vsphere_server = "vcenter.example.com"
  user           = "administrator@vsphere.local"
  password       = var.vsphere_password
  ca_file        = "/etc/ssl/certs/corp-ca.pem"

  # Defaults for every resource's ssh block.
  ssh {
    user             = "admin"
    private_key      = file(var.ssh_private_key_file)
    known_hosts_file = pathexpand("~/.ssh/known_hosts")
    bastion_host     = "jump.example.com"
  }
}

variable "vsphere_password" {
  type      = string
  sensitive = true
}

variable "ssh_private_key_file" {
  type    = string
  default = "~/.ssh/id_ed25519"
}
