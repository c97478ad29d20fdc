# Backups of the data stores of a small-scale cluster made with the resources directly (the
# module small-scale-cluster does this with its variable backup): every six hours, the newest
# 14 kept on another host, reached over SSH with a key of its own and its host key pinned.
variable "backup_private_key" {
  type        = string
  sensitive   = true
  description = "Private key the data-stores VM logs in to the backup host with (unencrypted)."
}

resource "hipchatdc_backup" "data_stores" {
  host              = hipchatdc_datastore_node.data.ipv4_address
  postgres_database = hipchatdc_datastore_node.data.postgres_database
  postgres_port     = hipchatdc_datastore_node.data.postgres_port
  nfs_export_path   = hipchatdc_datastore_node.data.nfs_export_path

  # The configuration files the provider wrote on the node and the proxy, copied at each apply.
  node_host  = hipchatdc_node.app.ipv4_address
  proxy_host = hipchatdc_reverse_proxy.edge.ipv4_address

  schedule  = "0 */6 * * *"
  retention = 14

  destination_host        = "backup.example.com"
  destination_user        = "hipchat-backup"
  destination_path        = "/srv/backups/hipchat"
  destination_host_key    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEhostkeyEXAMPLEhostkeyEXAMPLEhost"
  destination_private_key = var.backup_private_key
}

# The simplest setup: a second disk of the data-stores VM mounted on /backup.
# resource "hipchatdc_backup" "local" {
#   host              = hipchatdc_datastore_node.data.ipv4_address
#   postgres_database = hipchatdc_datastore_node.data.postgres_database
#   schedule          = "30 2 * * *"
#   destination_path  = "/backup"
# }
