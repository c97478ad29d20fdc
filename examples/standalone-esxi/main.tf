# The small-scale deployment on two standalone ESXi hosts, without a vCenter: the Hipchat node
# on one host, the data stores and the reverse proxy on the other, through the module in
# modules/small-scale-standalone-esxi. Each ESXi host answers the vSphere API itself, so each
# gets a provider configuration of its own (an alias), and the module is handed both.
#
# On the embedded lab: `hipchatdc-lab start --dir D --esxi 2` (or `make demo KEEP=1`) serves two
# ESXi hosts; lab.env names them (HIPCHATDC_ESX1_*, HIPCHATDC_ESX2_*).

terraform {
  required_version = ">= 1.5"
  required_providers {
    hipchatdc = {
      source = "hipchatdc/hipchatdc"
    }
  }
}

provider "hipchatdc" {
  alias          = "esxi_1"
  vsphere_server = var.node_host.server
  user           = var.node_host.user
  password       = var.node_host.password
  ca_file        = var.node_host.ca_file
  ssh {
    user             = var.ssh_user
    private_key      = file(var.ssh_private_key_file)
    known_hosts_file = var.ssh_known_hosts_file
  }
}

provider "hipchatdc" {
  alias          = "esxi_2"
  vsphere_server = var.data_stores_host.server
  user           = var.data_stores_host.user
  password       = var.data_stores_host.password
  ca_file        = var.data_stores_host.ca_file
  ssh {
    user             = var.ssh_user
    private_key      = file(var.ssh_private_key_file)
    known_hosts_file = var.ssh_known_hosts_file
  }
}

module "cluster" {
  source = "../../modules/small-scale-standalone-esxi"
  providers = {
    hipchatdc.node_host        = hipchatdc.esxi_1
    hipchatdc.data_stores_host = hipchatdc.esxi_2
  }

  datastore = var.datastore
  network   = var.network

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

output "hosts" {
  value = module.cluster.hosts
}
