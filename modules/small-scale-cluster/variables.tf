# Placement, shared by the three VMs unless a more specific variable is set.
variable "datacenter" {
  type        = string
  description = "vSphere datacenter."
}

variable "cluster" {
  type        = string
  description = "vSphere cluster the VMs run in."
}

variable "datastore" {
  type        = string
  description = "Datastore for the VMs' disks."
}

variable "network" {
  type        = string
  description = "Private network (port group) of the Hipchat node and the data stores."
}

variable "proxy_network" {
  type        = string
  default     = null
  description = "Network of the reverse proxy (a DMZ, say). Default: network."
}

variable "folder" {
  type        = string
  default     = null
  description = "VM folder, relative to the datacenter's VM folder."
}

variable "separate_hosts" {
  type        = string
  default     = "enforce"
  description = <<-EOT
    The guide runs the Hipchat node and the data stores on two different ESXi hosts. "enforce" (the default): a plan that pins both to one `host` fails, and in the cluster a hipchatdc_anti_affinity_rule keeps them apart (a DRS rule where DRS runs; the apply moves one VM when they share a host, and fails where DRS is off). "warn": the same rule with enforce = false and a warning instead of each failure. "off": no rule and no check. With cluster = null (each VM placed by its host) no rule can be made: "enforce" and "warn" then only warn, after the apply, when the node and the data stores were created on one ESXi host (a check block, which keeps the three VMs' creates parallel); give var.node.host and var.data_stores.host two different hosts.
  EOT

  validation {
    condition     = contains(["enforce", "warn", "off"], var.separate_hosts)
    error_message = "separate_hosts is one of \"enforce\", \"warn\" or \"off\"."
  }
}

variable "allow_slow_cpu" {
  type        = bool
  default     = false
  description = "Deploy the three VMs on ESXi hosts slower than the guide's minimum clock (2.8 GHz for the node and the data stores, 1 GHz for the proxy) with a warning instead of an error: for an evaluation install."
}

# Sources.
variable "hipchat_ova" {
  type        = string
  description = "The Hipchat Data Center OVA: a local path or an http(s) URL. A new release replaces the node without a failed request when var.node gets a second identity (VM name, host name, address) in the same apply (the guide \"Upgrade the Hipchat node\")."
}

variable "drain_timeout" {
  type        = number
  default     = null
  description = "Seconds the proxy lets requests to a node being taken out (an upgrade) finish before it cuts them (hipchatdc_reverse_proxy_node's drain_timeout; null: its default). Long polls and WebSockets last up to this long."
}

variable "server_ova" {
  type        = string
  default     = null
  description = "A Debian or Ubuntu server OVA (path or URL) for the data stores and the proxy. One of server_ova or server_template."
}

variable "ova_ca_file" {
  type        = string
  default     = null
  description = "PEM file of the CA that signed the OVAs (a signed OVA's certificate must chain to it); null: the system's trusted roots. Not used for VMs cloned from server_template."
}

variable "server_template" {
  type        = string
  default     = null
  description = "A Debian or Ubuntu server template to clone for the data stores and the proxy."
}

# Network identity.
variable "netmask" {
  type        = number
  default     = 24
  description = "Prefix length of the addresses."
}

variable "gateway" {
  type        = string
  description = "Default gateway of the private network."
}

variable "proxy_gateway" {
  type        = string
  default     = null
  description = "Default gateway of the proxy's network. Default: gateway."
}

variable "dns_servers" {
  type    = list(string)
  default = []
}

variable "ntp_servers" {
  type        = list(string)
  default     = ["0.atlassian.pool.ntp.org", "1.atlassian.pool.ntp.org"]
  description = "NTP servers; the guide's default is Atlassian's pool. Networks without internet access must set their own."
}

variable "node" {
  type = object({
    name      = string
    hostname  = string
    address   = string
    num_cpus  = optional(number, 8)
    memory    = optional(number, 16384)
    disk_size = optional(number, 40)
    host      = optional(string)
  })
  description = "The Hipchat node: VM name, unique host name (not `hipchat`), static address, sizing, and optionally the ESXi `host` to place it on (not the data stores' host). To upgrade the node, change hipchat_ova and, in the same apply, name, hostname and address to a second identity: the new node runs beside the old one until the old one is drained and destroyed (the guide \"Upgrade the Hipchat node\"); the next upgrade can go back to the first."

  validation {
    condition     = lower(split(".", var.node.hostname)[0]) != "hipchat"
    error_message = "The guide asks for a unique node host name other than \"hipchat\" (\"We know it's tempting ... but resist!\")."
  }
}

variable "data_stores" {
  type = object({
    name          = string
    hostname      = string
    address       = string
    num_cpus      = optional(number, 8)
    memory        = optional(number, 16384)
    disk_size     = optional(number, 60)
    nfs_disk_size = optional(number, 40)
    nfs_device    = optional(string)
    nfs_server    = optional(string, "kernel")
    host          = optional(string)
  })
  description = "The data stores VM (Redis, Postgres, NFS v4), optionally pinned to an ESXi `host` (not the node's host)."

  validation {
    condition     = var.data_stores.nfs_disk_size >= 40
    error_message = "The guide's NFS volume is at least 40 GB."
  }
}

variable "restore_from" {
  type = object({
    path        = string
    host        = optional(string)
    port        = optional(number)
    user        = optional(string)
    password    = optional(string)
    private_key = optional(string)
    host_key    = optional(string)
  })
  default     = null
  description = "A backup (one `hipchatdc-<host name>-<UTC time>` directory) to restore the data stores from when their VM is created: on the machine running Terraform, or with `host` (and its pinned `host_key`) on a host reached over SSH. Changing it later does nothing to a running VM. See the guide \"Restore the data stores\"."
}

variable "proxy" {
  type = object({
    name     = string
    hostname = string
    address  = string
    num_cpus = optional(number, 2)
    memory   = optional(number, 2048)
    host     = optional(string)
  })
  description = "The reverse proxy VM, optionally pinned to an ESXi `host`."
}

variable "public_hostname" {
  type        = string
  description = "The DNS name clients use to reach Hipchat (the certificate must cover it)."

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+$", var.public_hostname))
    error_message = "public_hostname must be a DNS name."
  }
}

variable "certificate_pem" {
  type        = string
  description = "TLS certificate chain (PEM) for public_hostname."
}

variable "private_key_pem" {
  type        = string
  sensitive   = true
  description = "Private key (PEM) of the certificate."
}

variable "database" {
  type        = string
  default     = "hipchat_postgres"
  description = "Postgres database name: starts with a letter, 8 to 30 letters, digits, dashes, periods, underscores."

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._-]{7,29}$", var.database))
    error_message = "The guide's database name starts with a letter and has 8 to 30 letters, digits, dashes, periods and underscores."
  }
}

variable "database_user" {
  type        = string
  default     = "hipchat_user"
  description = "Postgres user owning the database; not a superuser."

  validation {
    condition     = lower(var.database_user) != "postgres"
    error_message = "The guide forbids the Postgres superuser account: use a dedicated user such as hipchat_user."
  }
}

variable "database_password" {
  type      = string
  sensitive = true
}

variable "redis_password" {
  type      = string
  sensitive = true
}

variable "install_packages" {
  type        = bool
  default     = false
  description = "Install redis-server, postgresql and the NFS server with apt when the data stores VM lacks them."
}

variable "firewall" {
  type        = bool
  default     = true
  description = "Filter inbound connections with the guests' own firewalls (nftables), as the guide asks: the reverse proxy accepts only 22, 80 and 443; the data stores accept Redis, Postgres and NFS only from the node's network, and SSH from there and from where Terraform connects. false leaves the guests' firewalls alone."
}

variable "firewall_ssh_sources" {
  type        = list(string)
  default     = []
  description = "More IPv4 addresses or networks allowed to connect to the data stores VM over SSH: where Terraform may run from (a CI runner's range) when that is outside the node's network."
}

variable "backup" {
  type = object({
    schedule         = string
    retention        = optional(number, 7)
    destination_path = string
    destination_host = optional(string)
    destination_port = optional(number, 22)
    destination_user = optional(string, "root")
    # The destination's public host key (`ssh-ed25519 AAAA...`), pinned.
    destination_host_key = optional(string)
  })
  default     = null
  description = "Scheduled backups of the data stores (hipchatdc_backup): Postgres, Redis, the NFS share and the three VMs' configuration files, on the data stores VM's own destination_path (ideally a disk of its own) or, better, on destination_host over SSH (with backup_destination_private_key). null (the default) makes no backup."

  validation {
    condition     = var.backup == null ? true : can(regex("^(@(hourly|daily|weekly|monthly|yearly)|[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+)$", var.backup.schedule))
    error_message = "backup.schedule: cron's five fields (\"30 2 * * *\" is 02:30 daily) or @hourly, @daily, @weekly, @monthly, @yearly. The provider checks each field at plan time."
  }
  validation {
    condition     = var.backup == null ? true : var.backup.retention >= 1 && floor(var.backup.retention) == var.backup.retention
    error_message = "backup.retention: how many complete backups to keep, a whole number of at least 1."
  }
  validation {
    condition     = var.backup == null ? true : startswith(var.backup.destination_path, "/")
    error_message = "backup.destination_path: an absolute path, on destination_host when it is set, else on the data stores VM."
  }
  validation {
    condition     = var.backup == null ? true : (var.backup.destination_host == null) == (var.backup.destination_host_key == null)
    error_message = "backup.destination_host and backup.destination_host_key go together: a remote destination's host key is pinned."
  }
}

variable "backup_destination_private_key" {
  type        = string
  default     = null
  sensitive   = true
  description = "Private key (unencrypted: cron runs unattended) the data stores VM uses to reach backup.destination_host. Stored on the VM with mode 0600."
}

# Health checks: thresholds of the `health` check block, which warns in every plan when one is
# crossed (a warning never fails the run). null turns a check off.
variable "health_checks" {
  type        = bool
  default     = true
  description = "Evaluate the `health` check block. false passes all of it without looking at what hipchatdc_health read (hipchatdc_health is still read): for `terraform test` runs with `command = plan`, which count a check that can only be evaluated in the apply as an error."
}

variable "require_self_check" {
  type        = bool
  default     = true
  description = "Warn when the Hipchat node's self-check fails (it cannot reach or use Postgres, Redis or the NFS share)."
}

variable "min_certificate_days" {
  type        = number
  default     = 30
  description = "Warn when the certificate the proxy serves expires in fewer days than this (the provider's plan-time check of certificate_pem warns at 30 days too). null: no check."
}

variable "min_free_percent" {
  type        = number
  default     = 10
  description = "Warn when the NFS volume or the file system of Postgres' data directory on the data stores VM has less free space than this percentage. null: no check."
}

variable "max_clock_offset" {
  type        = number
  default     = 1
  description = "Warn when a VM's clock is off from its NTP servers by more seconds than this. A VM whose NTP client works stays within milliseconds; the guide has every VM keep its time with NTP. null: no check."
}

variable "max_backup_age_hours" {
  type        = number
  default     = 48
  description = "Warn when no backup of the data stores VM has run, the last one failed, or it finished more hours ago than this (48: two intervals of a daily schedule). null: no check, for deployments backed up some other way."
}
