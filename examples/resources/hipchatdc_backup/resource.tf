# Backups of the data stores of a small-scale cluster made with the resources directly (the
# module small-scale-cluster does this with its variable backup): every six hours, the newest
# 14 kept on another host, reached over SSH with a key of its own and its host key pinned.
variable "data_stores" {
  type = object({
    address  = string # hipchatdc_datastore_node.data.ipv4_address
    database = string # hipchatdc_datastore_node.data.postgres_database
  })
}

variable "node_address" {
  type        = string
  description = "hipchatdc_node.app.ipv4_address: its configuration files go into each backup."
}

variable "proxy_address" {
  type        = string
  description = "hipchatdc_reverse_proxy.edge.ipv4_address"
}

variable "backup_private_key" {
  type        = string
  sensitive   = true
  description = "Private key the data-stores VM logs in to the backup host with (unencrypted)."
}

resource "hipchatdc_backup" "data_stores" {
  host              = var.data_stores.address
  postgres_database = var.data_stores.database

  # The configuration files the provider wrote on the node and the proxy, copied at each apply.
  node_host  = var.node_address
  proxy_host = var.proxy_address

  schedule  = "0 */6 * * *"
  retention = 14

  destination_host        = "backup.example.com"
  destination_user        = "hipchat-backup"
  destination_path        = "/srv/backups/hipchat"
  destination_host_key    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFDFloHSybc9JpCzS7EZj1EY+GDkfByOhFPg++azE7QK"
  destination_private_key = var.backup_private_key
}

# The simplest setup: a second disk of the data-stores VM mounted on /backup.
# resource "hipchatdc_backup" "local" {
#   host              = var.data_stores.address
#   postgres_database = var.data_stores.database
#   schedule          = "30 2 * * *"
#   destination_path  = "/backup"
# }
