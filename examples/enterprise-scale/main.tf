# An Enterprise-scale Hipchat Data Center: three Hipchat nodes behind the reverse proxy, which
# load-balances them ("When you add nodes to create an Enterprise-scale deployment, the service
# must also function as a load-balancer"), sharing one data stores VM. Written with the
# resources directly, not the small-scale module.
#
# The Hipchat OVA is stored once in a content library (hipchatdc_library_item) and the three
# nodes deploy from it inside vSphere: the OVA is read once, not three times. Only what needs
# another VM waits for it (guide "The whole cluster at the speed of its slowest VM"): the nodes
# take the data stores' endpoints from the variables, known at plan time, so their deploys start
# with the data stores VM's import and their data_stores step waits for the services to answer;
# the proxy takes the nodes' addresses and host names from the variables too.
#
# Upgrading the nodes to a new Hipchat release (guide "Upgrade the Hipchat node") replaces them
# without a failed request: set hipchat_ova to the new OVA, node_generation to a new value (the
# new nodes' VM names and host names) and addresses.nodes to addresses not in use, and apply.
# Each new node is created beside the old ones, passes its self-check and joins the proxy
# (hipchatdc_reverse_proxy_node) before the old ones are taken out, drained and destroyed.
#
# `make demo EXAMPLE=enterprise-scale` runs this against the embedded lab, with lab.auto.tfvars
# written by scripts/demo.sh.

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

locals {
  hipchat_is_url = can(regex("^[A-Za-z][A-Za-z0-9+.-]*://", var.hipchat_ova))
  server_is_url  = can(regex("^[A-Za-z][A-Za-z0-9+.-]*://", var.server_ova))
  # The data stores' NFS export, set on the data stores VM and given to the nodes.
  nfs_export_path = "/srv/hipchat-nfs"
  # The nodes' identity: a new node_generation gives the nodes of an upgrade their own VM names
  # and host names, which they need while the old nodes still run.
  generation = var.node_generation == "" ? "" : "-${var.node_generation}"
  nodes = { for i, address in var.addresses.nodes : i => {
    name     = "hipchat-node-${i + 1}${local.generation}"
    hostname = "hipchat-worker-${i + 1}${local.generation}.example.com"
    address  = address
  } }
}

resource "hipchatdc_library_item" "hipchat" {
  library   = var.content_library
  name      = "hipchat-node${local.generation}"
  datastore = var.datastore
  ova_path  = local.hipchat_is_url ? null : var.hipchat_ova
  ova_url   = local.hipchat_is_url ? var.hipchat_ova : null
}

resource "hipchatdc_datastore_node" "data" {
  name       = "hipchat-data-1"
  datacenter = var.datacenter
  cluster    = var.cluster
  datastore  = var.datastore
  network    = var.network
  ova_path   = local.server_is_url ? null : var.server_ova
  ova_url    = local.server_is_url ? var.server_ova : null
  nfs_server = var.nfs_server

  nfs_export_path = local.nfs_export_path

  hostname     = "hipchat-data-1.example.com"
  ipv4_address = var.addresses.data_stores
  ipv4_netmask = var.netmask
  ipv4_gateway = var.gateway
  ntp_servers  = var.ntp_servers

  redis_password    = var.redis_password
  postgres_database = "hipchat_postgres"
  postgres_user     = "hipchat_user"
  postgres_password = var.database_password
}

resource "hipchatdc_node" "app" {
  for_each     = local.nodes
  name         = each.value.name
  datacenter   = var.datacenter
  cluster      = var.cluster
  datastore    = var.datastore
  network      = var.network
  library_item = hipchatdc_library_item.hipchat.id

  hostname     = each.value.hostname
  ipv4_address = each.value.address
  ipv4_netmask = var.netmask
  ipv4_gateway = var.gateway
  ntp_servers  = var.ntp_servers

  # Every node uses the same data stores: one Postgres database, one Redis, one NFS share. The
  # values the data stores VM is given, not its attributes, so that the nodes do not wait for it
  # to be made.
  data_stores {
    postgres_host     = var.addresses.data_stores
    postgres_database = "hipchat_postgres"
    postgres_user     = "hipchat_user"
    postgres_password = var.database_password
    redis_host        = var.addresses.data_stores
    redis_password    = var.redis_password
    nfs_export        = "${var.addresses.data_stores}:${local.nfs_export_path}"
    public_url        = "https://${var.public_hostname}"
  }

  lifecycle {
    # An upgrade creates each new node before an old one is destroyed (and, through this, the
    # new library item before the old one).
    create_before_destroy = true
  }
}

# Each node in the proxy's load-balancing group, a resource of its own so that an upgrade adds
# the new nodes before the old ones are taken out and drained. The proxy's address from the
# variable: see modules/small-scale-cluster for why.
resource "hipchatdc_reverse_proxy_node" "app" {
  for_each      = hipchatdc_node.app
  proxy_address = var.addresses.proxy
  node_address  = each.value.ipv4_address

  lifecycle {
    create_before_destroy = true
  }
}

resource "hipchatdc_reverse_proxy" "edge" {
  name       = "hipchat-proxy-1"
  datacenter = var.datacenter
  cluster    = var.cluster
  datastore  = var.datastore
  network    = var.network
  ova_path   = local.server_is_url ? null : var.server_ova
  ova_url    = local.server_is_url ? var.server_ova : null

  hostname     = "hipchat-proxy-1.example.com"
  ipv4_address = var.addresses.proxy
  ipv4_netmask = var.netmask
  ipv4_gateway = var.gateway
  ntp_servers  = var.ntp_servers

  public_hostname = var.public_hostname
  certificate_pem = file(var.certificate_file)
  private_key_pem = file(var.private_key_file)
  # The load balancer's members are hipchatdc_reverse_proxy_node.app: the proxy does not wait
  # for the nodes to be made, and does not change when they are replaced.
  nodes = []
}

output "public_url" {
  value = "https://${var.public_hostname}"
}

output "addresses" {
  value = {
    node        = local.nodes[0].address
    nodes       = [for n in values(local.nodes) : n.address]
    data_stores = var.addresses.data_stores
    proxy       = var.addresses.proxy
  }
}

output "library_item" {
  value = hipchatdc_library_item.hipchat.id
}

output "vm_ids" {
  value = merge(
    { for k, n in hipchatdc_node.app : n.name => n.id },
    { (hipchatdc_datastore_node.data.name) = hipchatdc_datastore_node.data.id, (hipchatdc_reverse_proxy.edge.name) = hipchatdc_reverse_proxy.edge.id },
  )
}
