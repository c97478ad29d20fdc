# The whole small-scale deployment of Atlassian's guide: the data stores VM, the Hipchat node
# wired to it and the reverse proxy terminating TLS, through the module in modules/.
#
# vSphere and SSH settings come from the environment and the provider block; `make demo` runs this
# against the embedded lab with lab.auto.tfvars written by scripts/demo.sh.

terraform {
  required_version = ">= 1.5"
  required_providers {
    hipchatdc = {
      source = "hipchatdc/hipchatdc"
    }
  }
}

provider "hipchatdc" {
  # vsphere_server, user, password, ca_file: VSPHERE_SERVER, VSPHERE_USER, VSPHERE_PASSWORD,
  # VSPHERE_CA_FILE.
  ssh {
    user             = var.ssh_user
    private_key      = file(var.ssh_private_key_file)
    known_hosts_file = var.ssh_known_hosts_file
  }
}

module "cluster" {
  source = "../../modules/small-scale-cluster"

  datacenter = var.datacenter
  cluster    = var.cluster
  datastore  = var.datastore
  network    = var.network

  hipchat_ova = var.hipchat_ova
  server_ova  = var.server_ova

  gateway     = var.gateway
  netmask     = var.netmask
  ntp_servers = var.ntp_servers

  data_stores = {
    name       = "hipchat-data-1"
    hostname   = "hipchat-data-1.example.com"
    address    = var.addresses.data_stores
    nfs_server = var.nfs_server
  }
  node = {
    name     = "hipchat-node-1"
    hostname = "hipchat-worker-1.example.com"
    address  = var.addresses.node
  }
  proxy = {
    name     = "hipchat-proxy-1"
    hostname = "hipchat-proxy-1.example.com"
    address  = var.addresses.proxy
  }

  public_hostname   = var.public_hostname
  certificate_pem   = file(var.certificate_file)
  private_key_pem   = file(var.private_key_file)
  database_password = var.database_password
  redis_password    = var.redis_password
}

output "public_url" {
  value = module.cluster.public_url
}

output "addresses" {
  value = module.cluster.addresses
}

output "endpoints" {
  value = module.cluster.endpoints
}

output "vm_ids" {
  value = module.cluster.vm_ids
}
