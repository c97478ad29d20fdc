# The guide's small-scale topology: the data stores, the Hipchat node pointed at them and the
# reverse proxy in front of the node.
#
# Upgrading the node (a new Hipchat OVA) replaces it without a failed request, in the order
# Terraform's create_before_destroy gives (the guide "Upgrade the Hipchat node"): the new node VM
# is created beside the old one, with the identity var.node now gives (a VM name, host name and
# address of its own), and passes its self-check; the proxy adds it (a new
# hipchatdc_reverse_proxy_node); the old membership is removed, the proxy drains the old node
# (drain_timeout); the old VM is destroyed. A new node that fails its self-check is removed
# again and nothing else changes: the old node keeps serving, in the state and in the proxy.
#
# The three VMs are created at the same time: no resource reads another's attributes, so
# Terraform orders none of them after another. Everything one VM needs of another is known at
# plan time (addresses, ports, names, passwords: variables), and only what really needs another
# VM waits for it, inside the resource: the node's data_stores step waits for Postgres, Redis and
# NFS to answer from the node, and the proxy's NGINX starts with the node as an upstream that may
# not answer yet. The node's OVA import, the slowest step, no longer waits for the data stores.

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

  # The data stores' endpoints as hipchatdc_datastore_node computes them (its postgres_host,
  # redis_host and nfs_export), from the same values: the node takes them from here, not from
  # that resource, so that its import does not wait for the data stores VM.
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
  # The guide's "one VMWare host for the Hipchat node, another VMWare host for all three data
  # stores": known at plan time only when both name their host.
  pinned_together = var.node.host != null && var.data_stores.host != null && lower(coalesce(var.node.host, "-")) == lower(coalesce(var.data_stores.host, "-"))
  shared_hostnames = {
    for name, owners in { for k, v in local.vms : lower(trimsuffix(v.hostname, ".")) => "${k}.hostname"... } : name => owners if length(owners) > 1
  }
}

resource "hipchatdc_datastore_node" "data" {
  name        = var.data_stores.name
  datacenter  = var.datacenter
  cluster     = var.cluster
  host        = var.data_stores.host
  datastore   = var.datastore
  network     = var.network
  folder      = var.folder
  ova_path    = local.server_ova
  ova_url     = local.server_ova_url
  ova_ca_file = var.server_template == null ? var.ova_ca_file : null
  template    = var.server_template

  num_cpus        = var.data_stores.num_cpus
  memory          = var.data_stores.memory
  disk_size       = var.data_stores.disk_size
  nfs_disk_size   = var.data_stores.nfs_disk_size
  nfs_device      = var.data_stores.nfs_device
  nfs_server      = var.data_stores.nfs_server
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

  # Used only when the VM is created: the node waits for the data stores' create, restore
  # included, before its self-check.
  restore_from = var.restore_from

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
    precondition {
      condition     = !(local.pinned_together && var.separate_hosts == "enforce")
      error_message = "var.node.host and var.data_stores.host both name ESXi host ${coalesce(var.node.host, "-")}: the small-scale guide uses \"one VMWare host for the Hipchat node, another VMWare host for all three data stores\". Give them different hosts, leave one unset, or set separate_hosts = \"warn\" (evaluation installs)."
    }
  }
}

resource "hipchatdc_node" "app" {
  name        = var.node.name
  datacenter  = var.datacenter
  cluster     = var.cluster
  host        = var.node.host
  datastore   = var.datastore
  network     = var.network
  folder      = var.folder
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

  # The guide's next step, "Configure Hipchat Data Center nodes". The values the data stores VM
  # is given, not its attributes: the node's resource waits for the services to answer, so the
  # two VMs are imported, powered on and given their identity at the same time.
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
    # A new OVA (an upgrade) creates the new node before the old one is destroyed: the old one
    # serves until the new one has passed its self-check and the proxy sends it requests.
    create_before_destroy = true
    # The proxy used to check this through its node_hostnames; that list would change at each
    # upgrade and show the proxy as updated in the plan.
    precondition {
      condition     = lower(trimsuffix(var.node.hostname, ".")) != lower(trimsuffix(var.public_hostname, "."))
      error_message = "var.node.hostname is ${var.node.hostname}, the public_hostname clients use: the guide wants the node's own host name to differ from the DNS name of the service (the reverse proxy answers for that one)."
    }
  }
}

# The node in the proxy's upstream list, a resource of its own so that an upgrade adds the new
# node before the old one is taken out and drained: create_before_destroy here and on the node
# orders the replacement (new node, new membership, old membership removed and drained, old
# node destroyed). It depends on the node only. The proxy's address comes from the variable,
# not from hipchatdc_reverse_proxy.edge: Terraform gives create_before_destroy to everything a
# create_before_destroy resource depends on, and a proxy VM replaced that way would clash with
# itself (its name and address are the service's). The membership waits inside the provider for
# a proxy VM being created or updated in the same apply, as the node waits for its data stores.
# A proxy VM replaced later comes up without its memberships: the next plan shows them as drift
# and the next apply adds them again.
resource "hipchatdc_reverse_proxy_node" "app" {
  proxy_address = var.proxy.address
  node_address  = hipchatdc_node.app.ipv4_address
  drain_timeout = var.drain_timeout

  lifecycle {
    create_before_destroy = true
  }
}

resource "hipchatdc_reverse_proxy" "edge" {
  name        = var.proxy.name
  datacenter  = var.datacenter
  cluster     = var.cluster
  host        = var.proxy.host
  datastore   = var.datastore
  network     = local.proxy_network
  folder      = var.folder
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
  # that membership: this VM does not depend on the node and does not change when it is
  # replaced. Until the membership is made NGINX answers 502.
  nodes = []

  firewall = var.firewall
}

# The node and the data stores on two ESXi hosts, as the guide has them: a DRS VM-VM
# anti-affinity rule where DRS runs, and in every cluster a check of the hosts they run on at
# each apply and refresh. The data stores come first in the list: the node is the VM moved when
# the two start on one host.
resource "hipchatdc_anti_affinity_rule" "separate_hosts" {
  count = var.separate_hosts != "off" && var.cluster != null ? 1 : 0

  name                = "${var.node.name}-separate-hosts"
  datacenter          = var.datacenter
  compute_cluster_id  = var.cluster
  virtual_machine_ids = [hipchatdc_datastore_node.data.id, hipchatdc_node.app.id]
  enforce             = var.separate_hosts == "enforce"

  lifecycle {
    # The name is made from the node's VM name at the first apply and kept: an upgrade gives
    # the node a new VM name, and a new rule name would replace the rule (the VMs would run
    # without it for a moment) instead of updating its VM list in place.
    ignore_changes = [name]
  }
}

check "separate_hosts" {
  assert {
    condition     = !(local.pinned_together && var.separate_hosts == "warn")
    error_message = "var.node.host and var.data_stores.host both name ESXi host ${coalesce(var.node.host, "-")}, against the guide's \"one VMWare host for the Hipchat node, another VMWare host for all three data stores\"; accepted because separate_hosts = \"warn\"."
  }
}

# Without a cluster (cluster = null, each VM placed by its host) no DRS rule can be made: the
# module compares the ESXi hosts the node and the data stores were created on (their `host`,
# recorded at create). A check block only warns, and unlike a rule it makes no resource depend
# on both VMs: the three VMs are still created at the same time.
check "separate_hosts_without_cluster" {
  assert {
    condition     = var.cluster != null || var.separate_hosts == "off" ? true : lower(hipchatdc_node.app.host) != lower(hipchatdc_datastore_node.data.host)
    error_message = "The Hipchat node (${hipchatdc_node.app.name}) and the data stores (${hipchatdc_datastore_node.data.name}) were both created on ESXi host ${hipchatdc_node.app.host}, against the guide's \"one VMWare host for the Hipchat node, another VMWare host for all three data stores\". Without a cluster the module makes no anti-affinity rule: set var.node.host and var.data_stores.host to two different hosts and move one VM there (vMotion), or set separate_hosts = \"off\" to accept one host without this warning (evaluation installs)."
  }
}

# Scheduled backups of the data stores, when asked for. After the node and the proxy: each
# apply copies their configuration files into the backups, and the first backup runs at create.
resource "hipchatdc_backup" "data" {
  count = var.backup == null ? 0 : 1

  host              = hipchatdc_datastore_node.data.ipv4_address
  postgres_database = hipchatdc_datastore_node.data.postgres_database
  postgres_port     = hipchatdc_datastore_node.data.postgres_port
  nfs_export_path   = hipchatdc_datastore_node.data.nfs_export_path
  node_host         = hipchatdc_node.app.ipv4_address
  proxy_host        = hipchatdc_reverse_proxy.edge.ipv4_address

  schedule                = var.backup.schedule
  retention               = var.backup.retention
  destination_path        = var.backup.destination_path
  destination_host        = var.backup.destination_host
  destination_port        = var.backup.destination_port
  destination_user        = var.backup.destination_user
  destination_host_key    = var.backup.destination_host_key
  destination_private_key = var.backup.destination_host == null ? null : var.backup_destination_private_key

  lifecycle {
    precondition {
      condition     = var.backup.destination_host == null || var.backup_destination_private_key != null
      error_message = "backup.destination_host is set: give the key the data stores VM logs in with as backup_destination_private_key."
    }
  }
}

# The deployment's health at every plan (issue 14; the guide: "make sure that you have good
# monitoring set up to alert you if there are problems ... and take frequent backups of the data
# stores node"). The check block only warns. Its data source is not scoped to it: Terraform plans
# a check block's own data source as a read to repeat during the apply, so every plan would have
# a change and `terraform plan -detailed-exitcode` would never say "no changes". This one reports
# what it cannot read (a VM that does not answer, a TLS handshake refused) in `problems` instead
# of failing, so the plan still runs. It reads the VMs' attributes, not the variables: while a
# VM has changes pending (on the first plan, when nothing exists yet, or when its refresh found
# drift, such as a guest that does not answer) Terraform defers the read to the apply, after the
# VMs are in place, instead of reading VMs that are not there.
data "hipchatdc_health" "this" {
  node_address        = hipchatdc_node.app.ipv4_address
  data_stores_address = hipchatdc_datastore_node.data.ipv4_address
  proxy_address       = hipchatdc_reverse_proxy.edge.ipv4_address
  public_hostname     = var.public_hostname
  nfs_export_path     = hipchatdc_datastore_node.data.nfs_export_path
}

check "health" {
  # Each condition starts with var.health_checks: false makes it known (true) in a plan whose
  # read is deferred, where it would otherwise be "known after apply" (an error in a plan run of
  # terraform test).
  # What could not be read is a warning of its own; the asserts below pass over its null values.
  assert {
    condition     = !var.health_checks ? true : (length(data.hipchatdc_health.this.problems) == 0)
    error_message = "Part of the deployment's health could not be read: ${join("; ", data.hipchatdc_health.this.problems)}."
  }

  assert {
    condition     = !var.health_checks ? true : (!var.require_self_check || data.hipchatdc_health.this.self_check_passed != false)
    error_message = "The Hipchat node's self-check fails (it cannot use its data stores): ${replace(coalesce(data.hipchatdc_health.this.self_check_output, "-"), "\n", "; ")}."
  }

  assert {
    condition     = !var.health_checks ? true : (var.min_certificate_days == null || data.hipchatdc_health.this.certificate_days_left == null ? true : data.hipchatdc_health.this.certificate_days_left >= var.min_certificate_days)
    error_message = "The certificate the proxy serves for ${var.public_hostname} expires in ${coalesce(data.hipchatdc_health.this.certificate_days_left, -1)} days (${coalesce(data.hipchatdc_health.this.certificate_not_after, "-")}), fewer than var.min_certificate_days = ${coalesce(var.min_certificate_days, 0)}: renew it and set the new one in certificate_pem and private_key_pem."
  }

  assert {
    condition     = !var.health_checks ? true : (var.min_free_percent == null || data.hipchatdc_health.this.nfs_free_percent == null ? true : data.hipchatdc_health.this.nfs_free_percent >= var.min_free_percent)
    error_message = "The NFS volume of the data stores VM (${hipchatdc_datastore_node.data.nfs_export_path}) has ${coalesce(data.hipchatdc_health.this.nfs_free_bytes, -1)} bytes free of ${coalesce(data.hipchatdc_health.this.nfs_size_bytes, -1)} (${format("%.2f", coalesce(data.hipchatdc_health.this.nfs_free_percent, -1))}%), under var.min_free_percent = ${coalesce(var.min_free_percent, 0)}%: Hipchat keeps its files there; grow the disk (data_stores.nfs_disk_size) or remove files."
  }

  assert {
    condition     = !var.health_checks ? true : (var.min_free_percent == null || data.hipchatdc_health.this.postgres_free_percent == null ? true : data.hipchatdc_health.this.postgres_free_percent >= var.min_free_percent)
    error_message = "The Postgres data directory of the data stores VM (${coalesce(data.hipchatdc_health.this.postgres_data_directory, "-")}) has ${coalesce(data.hipchatdc_health.this.postgres_free_bytes, -1)} bytes free of ${coalesce(data.hipchatdc_health.this.postgres_size_bytes, -1)} (${format("%.2f", coalesce(data.hipchatdc_health.this.postgres_free_percent, -1))}%), under var.min_free_percent = ${coalesce(var.min_free_percent, 0)}%: grow the VM's disk (data_stores.disk_size) before Postgres stops writing."
  }

  assert {
    condition     = !var.health_checks ? true : (var.max_clock_offset == null || data.hipchatdc_health.this.max_clock_offset == null ? true : data.hipchatdc_health.this.max_clock_offset <= var.max_clock_offset)
    error_message = "A VM's clock is off from its NTP servers by more than var.max_clock_offset = ${coalesce(var.max_clock_offset, 0)} s (seconds the guest is ahead, by VM: ${join(", ", [for vm, s in data.hipchatdc_health.this.clock_offsets : "${vm} ${format("%+.3f", s)}"])}): the guide has every VM keep its time with NTP (port 123); check that the VM reaches its ntp_servers."
  }

  # last_backup_status is null when the data stores VM could not be read: the first assert says so.
  # Conditionals, not && and ||: Terraform evaluates both sides of those, and a comparison with
  # null fails the whole check.
  assert {
    condition     = !var.health_checks ? true : (var.max_backup_age_hours == null || data.hipchatdc_health.this.last_backup_status == null ? true : (data.hipchatdc_health.this.last_backup_status == "ok" ? data.hipchatdc_health.this.last_backup_age <= var.max_backup_age_hours * 3600 : false))
    error_message = data.hipchatdc_health.this.last_backup_status == "never" ? "No backup has ever run on the data stores VM: the guide asks for \"frequent backups of the data stores node\", and losing that VM loses every message and file. Declare a hipchatdc_backup, or set var.max_backup_age_hours = null to stop this warning." : (data.hipchatdc_health.this.last_backup_status == "ok" ? "The last backup of the data stores VM (${coalesce(data.hipchatdc_health.this.last_backup_name, "-")}) finished ${format("%.1f", coalesce(data.hipchatdc_health.this.last_backup_age, 0) / 3600)} hours ago (${data.hipchatdc_health.this.last_backup_finished}), more than var.max_backup_age_hours = ${coalesce(var.max_backup_age_hours, 0)}: backups have stopped." : "The last backup of the data stores VM (${coalesce(data.hipchatdc_health.this.last_backup_name, "-")}, ${coalesce(data.hipchatdc_health.this.last_backup_finished, "-")}) failed: ${coalesce(data.hipchatdc_health.this.last_backup_error, "no reason recorded")}.")
  }
}
