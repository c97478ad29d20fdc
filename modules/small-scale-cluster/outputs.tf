output "public_url" {
  description = "Where users reach Hipchat: HTTPS through the reverse proxy."
  value       = hipchatdc_reverse_proxy.edge.url
}

output "addresses" {
  description = "Static addresses of the three VMs."
  value = {
    node        = hipchatdc_node.app.ipv4_address
    data_stores = hipchatdc_datastore_node.data.ipv4_address
    proxy       = hipchatdc_reverse_proxy.edge.ipv4_address
  }
}

output "endpoints" {
  description = "The data stores as the Hipchat node uses them."
  value = {
    redis    = "${hipchatdc_datastore_node.data.redis_host}:${hipchatdc_datastore_node.data.redis_port}"
    postgres = "${hipchatdc_datastore_node.data.postgres_host}:${hipchatdc_datastore_node.data.postgres_port}/${hipchatdc_datastore_node.data.postgres_database}"
    nfs      = hipchatdc_datastore_node.data.nfs_export
  }
}

output "vm_ids" {
  description = "Managed object IDs of the three VMs."
  value = {
    node        = hipchatdc_node.app.id
    data_stores = hipchatdc_datastore_node.data.id
    proxy       = hipchatdc_reverse_proxy.edge.id
  }
}

output "esxi_hosts" {
  description = "The ESXi host each of the node and the data stores runs on, by VM ID, as hipchatdc_anti_affinity_rule read it (null without the rule)."
  value       = one(hipchatdc_anti_affinity_rule.separate_hosts[*].hosts)
}

output "backup" {
  description = "The last backup run as the last refresh read it (null without var.backup): its name, when it finished, its size and whether it succeeded."
  value = var.backup == null ? null : {
    name     = hipchatdc_backup.data[0].last_backup
    finished = hipchatdc_backup.data[0].last_backup_time
    bytes    = hipchatdc_backup.data[0].last_backup_bytes
    ok       = hipchatdc_backup.data[0].last_backup_ok
    error    = hipchatdc_backup.data[0].last_backup_error
  }
}
