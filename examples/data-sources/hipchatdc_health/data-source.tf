# In the configuration that makes the VMs, give it their attributes instead
# (hipchatdc_node.app.ipv4_address, ...): Terraform then reads it after they are in place.
variable "addresses" {
  type        = object({ node = string, data_stores = string, proxy = string })
  description = "The ipv4_address of hipchatdc_node, hipchatdc_datastore_node and hipchatdc_reverse_proxy."
}

# Read at every plan; what it cannot read is in `problems`, not an error. Outside the check
# block: a check block's own (scoped) data source is planned as a read to repeat in the apply,
# so every plan would show a change (`terraform plan -detailed-exitcode` would exit 2).
data "hipchatdc_health" "this" {
  node_address        = var.addresses.node
  data_stores_address = var.addresses.data_stores
  proxy_address       = var.addresses.proxy
  public_hostname     = "chat.example.com"
}

# A check block warns in every plan when the deployment is unhealthy, without failing the run.
check "hipchat_health" {
  assert {
    condition     = length(data.hipchatdc_health.this.problems) == 0
    error_message = "Health not fully read: ${join("; ", data.hipchatdc_health.this.problems)}."
  }
  # Null when it could not be read (listed in problems): a comparison with null would fail.
  assert {
    condition     = data.hipchatdc_health.this.certificate_days_left == null ? true : data.hipchatdc_health.this.certificate_days_left >= 30
    error_message = "The certificate expires in ${coalesce(data.hipchatdc_health.this.certificate_days_left, -1)} days."
  }
  assert {
    condition     = data.hipchatdc_health.this.nfs_free_percent == null ? true : data.hipchatdc_health.this.nfs_free_percent >= 10
    error_message = "The NFS volume has ${coalesce(data.hipchatdc_health.this.nfs_free_bytes, -1)} bytes free."
  }
  assert {
    condition     = data.hipchatdc_health.this.max_clock_offset == null ? true : data.hipchatdc_health.this.max_clock_offset <= 1
    error_message = "A VM's clock is ${coalesce(data.hipchatdc_health.this.max_clock_offset, -1)} s off NTP time."
  }
  assert {
    condition     = data.hipchatdc_health.this.last_backup_status == null ? true : data.hipchatdc_health.this.last_backup_status == "ok"
    error_message = "The last backup: ${coalesce(data.hipchatdc_health.this.last_backup_status, "-")}."
  }
}
