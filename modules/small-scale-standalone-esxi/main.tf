# The guide's small-scale topology on two standalone ESXi hosts without a vCenter: "one VMWare
# host for the Hipchat node, another VMWare host for all three data stores, and a reverse
# proxy". Each host is its own vSphere endpoint, so each has its own provider configuration:
# hipchatdc.node_host for the node, hipchatdc.data_stores_host for the data stores and the proxy.
# An ESXi host has one datacenter (ha-datacenter), no cluster and no VM folders: the VMs go to
# the host's root resource pool. The resources and checks are those of
# modules/small-scale-cluster; keep the two in step.

locals {
  proxy_network = coalesce(var.proxy_network, var.network)
  proxy_gateway = coalesce(var.proxy_gateway, var.gateway)

  # can() turns the regex's error on a null into false: && does not short-circuit. Any
  # scheme:// is a URL, so that the provider's ova_url check refuses ftp:// at plan time
  # instead of the import failing to open a file of that name.
  server_is_url  = can(regex("^[A-Za-z][A-Za-z0-9+.-]*://", var.server_ova))
  server_ova     = local.server_is_url ? null : var.server_ova
  server_ova_url = local.server_is_url ? var.server_ova : null
  hipchat_is_url = can(regex("^[A-Za-z][A-Za-z0-9+.-]*://", var.hipchat_ova))

  # The data stores' NFS export, set on the data stores VM and given to the node from here, not
  # from that resource's attributes, so that the node's import does not wait for the data stores
  # VM: its data_stores step waits for the services to answer instead (as in small-scale-cluster).
  nfs_export_path = "/srv/hipchat-nfs"

  # The guide gives every VM its own static address and a unique host name. The provider checks
  # one VM at a time, and a variable's validation sees only that variable (Terraform < 1.9), so
  # the module compares the three in preconditions. Host names compare as DNS does: without
  # case and trailing dot.
  # Addresses clash only on one network: the proxy may sit on a network of its own.
  vms           = { "var.node" = var.node, "var.data_stores" = var.data_stores, "var.proxy" = var.proxy }
  vm_networks   = { "var.node" = var.network, "var.data_stores" = var.network, "var.proxy" = local.proxy_network }
  network_addrs = { for k, v in local.vms : k => { network = local.vm_networks[k], address = v.address } }
  shared_addresses = {
    for key, owners in { for k, v in local.network_addrs : "${v.address} on network ${v.network}" => "${k}.address"... } : key => owners if length(owners) > 1
  }
  shared_hostnames = {
    for name, owners in { for k, v in local.vms : lower(trimsuffix(v.hostname, ".")) => "${k}.hostname"... } : name => owners if length(owners) > 1
  }
}

resource "hipchatdc_datastore_node" "data" {
  provider = hipchatdc.data_stores_host

  name        = var.data_stores.name
  datastore   = var.datastore
  network     = var.network
  ova_path    = local.server_ova
  ova_url     = local.server_ova_url
  ova_ca_file = var.server_template == null ? var.ova_ca_file : null
  template    = var.server_template

  num_cpus      = var.data_stores.num_cpus
  memory        = var.data_stores.memory
  disk_size     = var.data_stores.disk_size
  nfs_disk_size = var.data_stores.nfs_disk_size
  nfs_device    = var.data_stores.nfs_device
  nfs_server    = var.data_stores.nfs_server

  nfs_export_path = local.nfs_export_path

  allow_slow_cpu = var.allow_slow_cpu

  hostname     = var.data_stores.hostname
  ipv4_address = var.data_stores.address
  ipv4_netmask = var.netmask
  ipv4_gateway = var.gateway
  dns_servers  = length(var.dns_servers) > 0 ? var.dns_servers : null
  ntp_servers  = var.ntp_servers

  install_packages  = var.install_packages
  redis_password    = var.redis_password
  postgres_database = var.database
  postgres_user     = var.database_user
  postgres_password = var.database_password

  # The guide: "only allow inbound connections on port 80 (HTTP), 443 (HTTPS), and 22 (SSH)".
  firewall             = var.firewall
  firewall_ssh_sources = length(var.firewall_ssh_sources) > 0 ? var.firewall_ssh_sources : null

  lifecycle {
    precondition {
      condition     = (var.server_ova == null) != (var.server_template == null)
      error_message = "Set exactly one of server_ova and server_template."
    }
    # On the first VM the guide deploys, so that nothing is planned with a clash.
    precondition {
      condition     = length(local.shared_addresses) == 0
      error_message = "Each VM needs a static address of its own: ${join("; ", [for a, owners in local.shared_addresses : "${join(" and ", owners)} share ${a}"])}."
    }
    precondition {
      condition     = length(local.shared_hostnames) == 0
      error_message = "The guide asks for a unique host name per VM: ${join("; ", [for h, owners in local.shared_hostnames : "${join(" and ", owners)} share ${h}"])}."
    }
  }
}

resource "hipchatdc_node" "app" {
  provider = hipchatdc.node_host

  name        = var.node.name
  datastore   = var.datastore
  network     = var.network
  ova_path    = local.hipchat_is_url ? null : var.hipchat_ova
  ova_url     = local.hipchat_is_url ? var.hipchat_ova : null
  ova_ca_file = var.ova_ca_file

  num_cpus  = var.node.num_cpus
  memory    = var.node.memory
  disk_size = var.node.disk_size

  allow_slow_cpu = var.allow_slow_cpu

  hostname     = var.node.hostname
  ipv4_address = var.node.address
  ipv4_netmask = var.netmask
  ipv4_gateway = var.gateway
  dns_servers  = length(var.dns_servers) > 0 ? var.dns_servers : null
  ntp_servers  = var.ntp_servers

  # The guide's next step, "Configure Hipchat Data Center nodes".
  data_stores {
    postgres_host     = var.data_stores.address
    postgres_database = var.database
    postgres_user     = var.database_user
    postgres_password = var.database_password
    redis_host        = var.data_stores.address
    redis_password    = var.redis_password
    nfs_export        = "${var.data_stores.address}:${local.nfs_export_path}"
    public_url        = "https://${var.public_hostname}"
  }

  lifecycle {
    # An upgrade (a new OVA, with a second identity in var.node) creates the new node before
    # the old one is destroyed, as in modules/small-scale-cluster.
    create_before_destroy = true
    precondition {
      condition     = lower(trimsuffix(var.node.hostname, ".")) != lower(trimsuffix(var.public_hostname, "."))
      error_message = "var.node.hostname is ${var.node.hostname}, the public_hostname clients use: the guide wants the node's own host name to differ from the DNS name of the service (the reverse proxy answers for that one)."
    }
  }
}

# The node in the proxy's upstream list (see modules/small-scale-cluster, also for why the
# proxy's address comes from the variable): the new node is added before the old one is taken
# out and drained. Only SSH to the proxy: the proxy's provider configuration gives its SSH
# settings.
resource "hipchatdc_reverse_proxy_node" "app" {
  provider = hipchatdc.data_stores_host

  proxy_address = var.proxy.address
  node_address  = hipchatdc_node.app.ipv4_address
  drain_timeout = var.drain_timeout

  lifecycle {
    create_before_destroy = true
  }
}

resource "hipchatdc_reverse_proxy" "edge" {
  provider = hipchatdc.data_stores_host

  name        = var.proxy.name
  datastore   = var.datastore
  network     = local.proxy_network
  ova_path    = local.server_ova
  ova_url     = local.server_ova_url
  ova_ca_file = var.server_template == null ? var.ova_ca_file : null
  template    = var.server_template

  num_cpus = var.proxy.num_cpus
  memory   = var.proxy.memory

  allow_slow_cpu = var.allow_slow_cpu

  hostname     = var.proxy.hostname
  ipv4_address = var.proxy.address
  ipv4_netmask = var.netmask
  ipv4_gateway = local.proxy_gateway
  dns_servers  = length(var.dns_servers) > 0 ? var.dns_servers : null
  ntp_servers  = var.ntp_servers

  public_hostname = var.public_hostname
  certificate_pem = var.certificate_pem
  private_key_pem = var.private_key_pem
  # The node joins through hipchatdc_reverse_proxy_node.app, so that an upgrade changes only
  # that membership.
  nodes = []

  firewall = var.firewall
}

# The guide puts the node and the data stores on two hosts. Nothing the module sees tells
# whether the two provider configurations reach two different hosts, so once the VMs exist it
# compares the hosts they run on (a warning: two hosts may share a name, such as an unnamed
# ESXi host's localhost.localdomain).
check "node_and_data_stores_on_two_hosts" {
  assert {
    condition     = hipchatdc_node.app.host != hipchatdc_datastore_node.data.host
    error_message = "The Hipchat node and the data stores both run on ESXi host ${hipchatdc_node.app.host}; the guide puts them on two hosts. Point the providers passed as hipchatdc.node_host and hipchatdc.data_stores_host at two different ESXi hosts."
  }
}
