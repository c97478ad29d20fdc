variable "datacenter" {
  type = string
}

variable "cluster" {
  type = string
}

variable "datastore" {
  type = string
}

variable "network" {
  type = string
}

variable "hipchat_ova" {
  type        = string
  description = "Path or URL of the Hipchat OVA, stored once in the content library: a URL is downloaded by vCenter itself."
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
    nodes       = list(string) # one per Hipchat node: three for Atlassian's Enterprise scale
    data_stores = string
    proxy       = string
  })
}

variable "content_library" {
  type        = string
  default     = "hipchat"
  description = "Content library holding the Hipchat OVA; created on datastore when there is none of that name."
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

variable "node_generation" {
  type        = string
  default     = ""
  description = "Suffix of the nodes' VM names and host names (and of the library item's name): set a new value, with new addresses.nodes, together with a new hipchat_ova to upgrade the nodes without downtime."

  validation {
    condition     = can(regex("^[a-z0-9-]{0,12}$", var.node_generation))
    error_message = "node_generation is up to 12 lower-case letters, digits and dashes."
  }
}
