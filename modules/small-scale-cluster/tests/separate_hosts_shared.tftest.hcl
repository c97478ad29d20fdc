# Without a cluster the module makes no anti-affinity rule (a DRS rule lives in a cluster) and
# its check compares the ESXi hosts the node and the data stores were created on: here one.
# The provider is mocked: these runs test the module's wiring, with the hosts vSphere would
# record given by override_resource. The variables come from the same -var-file as
# small_scale.tftest.hcl.

mock_provider "hipchatdc" {}

run "one_host_without_cluster_warns" {
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
    values = { host = "ESX-1.example.com" }
  }
  expect_failures = [check.separate_hosts_without_cluster]
  assert {
    condition     = length(hipchatdc_anti_affinity_rule.separate_hosts) == 0
    error_message = "A rule was planned without a cluster."
  }
}

# Same state as the run before: both VMs on esx-1.
run "one_host_without_cluster_accepted_when_off" {
  command = apply
  variables {
    cluster        = null
    separate_hosts = "off"
  }
}
