# How to reach each ESXi host: its address (host, host:port or https://host/sdk), a local
# account (root, or one with the Administrator role) and the CA of its certificate (null: the
# system's roots; an ESXi host's own certificate is self-signed until it is replaced).
variable "node_host" {
  type = object({
    server   = string
    user     = string
    password = string
    ca_file  = optional(string)
  })
  sensitive   = true
  description = "The ESXi host of the Hipchat node."
}

variable "data_stores_host" {
  type = object({
    server   = string
    user     = string
    password = string
    ca_file  = optional(string)
  })
  sensitive   = true
  description = "The ESXi host of the data stores and the reverse proxy."
}

variable "datastore" {
  type    = string
  default = null
}

variable "network" {
  type    = string
  default = "VM Network"
}

variable "hipchat_ova" {
  type        = string
  description = "Path or URL of the Hipchat OVA."
}

variable "server_ova" {
  type        = string
  description = "Path or URL of a Debian/Ubuntu server OVA for the data stores and the proxy."
}

variable "gateway" {
  type = string
}

variable "netmask" {
  type    = number
  default = 24
}

variable "ntp_servers" {
  type    = list(string)
  default = ["0.atlassian.pool.ntp.org", "1.atlassian.pool.ntp.org"]
}

variable "addresses" {
  type = object({
    node        = string
    data_stores = string
    proxy       = string
  })
}

variable "nfs_server" {
  type    = string
  default = "kernel"
}

variable "public_hostname" {
  type    = string
  default = "chat.example.com"
}

variable "certificate_file" {
  type = string
}

variable "private_key_file" {
  type = string
}

variable "database_password" {
  type      = string
  sensitive = true
}

variable "redis_password" {
  type      = string
  sensitive = true
}

variable "ssh_user" {
  type    = string
  default = "root"
}

variable "ssh_private_key_file" {
  type = string
}

variable "ssh_known_hosts_file" {
  type = string
}
