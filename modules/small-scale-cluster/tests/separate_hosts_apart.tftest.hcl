# Without a cluster the module makes no anti-affinity rule (a DRS rule lives in a cluster) and
# its check compares the ESXi hosts the node and the data stores were created on: here two.
# The provider is mocked: these runs test the module's wiring, with the hosts vSphere would
# record given by override_resource. The variables come from the same -var-file as
# small_scale.tftest.hcl.

mock_provider "hipchatdc" {
  # A healthy deployment (see health_checks.tftest.hcl), so that only the checks a run is about
  # can fail.
  mock_data "hipchatdc_health" {
    defaults = {
      problems              = []
      self_check_passed     = true
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
}

# In a file of its own: a mocked provider never replaces a resource, so a run after
# separate_hosts_shared's could not give the data stores VM another host.
run "two_hosts_without_cluster_pass" {
  command = apply
  variables {
    cluster = null
  }
  override_resource {
    target = hipchatdc_node.app
    values = { host = "esx-1.example.com" }
  }
  override_resource {
    target = hipchatdc_datastore_node.data
    values = { host = "esx-2.example.com" }
  }
  assert {
    condition     = length(hipchatdc_anti_affinity_rule.separate_hosts) == 0
    error_message = "A rule was planned without a cluster."
  }
}
