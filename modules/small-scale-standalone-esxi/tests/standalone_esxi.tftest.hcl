# `terraform test` for the module with mocked providers (no vSphere needed): the node uses the
# provider configuration hipchatdc.node_host, the data stores and the proxy
# hipchatdc.data_stores_host. tests/one_host.tftest.hcl: both on one host.
# internal/e2e (TestAccModule_standaloneESXiTerraformTest) runs it; TestAccExample_standaloneESXi
# applies the module on the lab's two ESXi hosts.

mock_provider "hipchatdc" {
  alias = "esxi_1"
  mock_resource "hipchatdc_node" {
    defaults = { host = "esxi-1.example.com" }
  }
  mock_resource "hipchatdc_datastore_node" {
    defaults = { host = "esxi-1.example.com", postgres_host = "10.0.0.12", postgres_port = 5432, redis_host = "10.0.0.12", redis_port = 6379, nfs_export = "10.0.0.12:/srv/nfs" }
  }
  mock_resource "hipchatdc_reverse_proxy" {
    defaults = { host = "esxi-1.example.com" }
  }
}

mock_provider "hipchatdc" {
  alias = "esxi_2"
  mock_resource "hipchatdc_node" {
    defaults = { host = "esxi-2.example.com" }
  }
  mock_resource "hipchatdc_datastore_node" {
    defaults = { host = "esxi-2.example.com", postgres_host = "10.0.0.12", postgres_port = 5432, redis_host = "10.0.0.12", redis_port = 6379, nfs_export = "10.0.0.12:/srv/nfs" }
  }
  mock_resource "hipchatdc_reverse_proxy" {
    defaults = { host = "esxi-2.example.com" }
  }
}

variables {
  hipchat_ova       = "HipChat.ova"
  server_ova        = "debian-12.ova"
  gateway           = "10.0.0.1"
  node              = { name = "hipchat-node-1", hostname = "hipchat-node-1.example.com", address = "10.0.0.11" }
  data_stores       = { name = "hipchat-data-1", hostname = "hipchat-data-1.example.com", address = "10.0.0.12" }
  proxy             = { name = "hipchat-proxy-1", hostname = "hipchat-proxy-1.example.com", address = "10.0.0.13" }
  public_hostname   = "chat.example.com"
  database_password = "secret-1"
  redis_password    = "secret-2"
}

run "node_on_one_host_data_stores_and_proxy_on_the_other" {
  command = apply
  providers = {
    hipchatdc.node_host        = hipchatdc.esxi_1
    hipchatdc.data_stores_host = hipchatdc.esxi_2
  }
  assert {
    condition     = output.hosts == { node = "esxi-1.example.com", data_stores = "esxi-2.example.com", proxy = "esxi-2.example.com" }
    error_message = "The VMs do not use the provider configurations the module documents: ${jsonencode(output.hosts)}."
  }
}
