# The guide's "one VMWare host for the Hipchat node, another VMWare host for all three data
# stores", for VMs made with the resources directly (the module small-scale-cluster does this).
variable "data_stores_vm_id" {
  type        = string
  description = "hipchatdc_datastore_node.data.id in the configuration that makes the VMs."
}

variable "node_vm_id" {
  type        = string
  description = "hipchatdc_node.app.id"
}

resource "hipchatdc_anti_affinity_rule" "separate_hosts" {
  name                = "hipchat-separate-hosts"
  datacenter          = "dc1"
  compute_cluster_id  = "compute"
  virtual_machine_ids = [var.data_stores_vm_id, var.node_vm_id]
}
