# Without a cluster the module makes no anti-affinity rule (a DRS rule lives in a cluster) and
# its check compares the ESXi hosts the node and the data stores were created on: here two.
# The provider is mocked: these runs test the module's wiring, with the hosts vSphere would
# record given by override_resource. The variables come from the same -var-file as
# small_scale.tftest.hcl.

mock_provider "hipchatdc" {}

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
