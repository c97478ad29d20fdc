# `terraform test` for the module. `make test` runs it against the embedded lab (internal/e2e,
# TestAccModule_terraformTest), which provides the vSphere and SSH settings in the environment
# (VSPHERE_*, HIPCHATDC_SSH_*) and the lab's values in a -var-file.

run "postgres_superuser_is_refused" {
  command = plan
  variables {
    database_user = "postgres"
  }
  expect_failures = [var.database_user]
}

run "database_name_of_seven_characters_is_refused" {
  command = plan
  variables {
    database = "hipchat"
  }
  expect_failures = [var.database]
}

run "node_called_hipchat_is_refused" {
  command = plan
  variables {
    node = { name = "hipchat", hostname = "hipchat.example.com", address = "10.213.99.9" }
  }
  expect_failures = [var.node]
}

run "nfs_volume_under_40_gb_is_refused" {
  command = plan
  variables {
    data_stores = { name = "data", hostname = "data.example.com", address = "10.213.99.8", nfs_disk_size = 39 }
  }
  expect_failures = [var.data_stores]
}

run "plan_follows_the_guide" {
  command = plan
  # The health check reads the VMs, which a plan has not made: Terraform would evaluate it in
  # the apply, and terraform test counts "known after apply" against a plan run.
  variables {
    health_checks = false
  }
  assert {
    condition     = hipchatdc_node.app.num_cpus == 8 && hipchatdc_node.app.memory == 16384 && hipchatdc_node.app.disk_size == 40
    error_message = "The node is not planned at the guide's minimums."
  }
  assert {
    condition     = hipchatdc_datastore_node.data.nfs_disk_size >= 40 && hipchatdc_datastore_node.data.disk_size == 60
    error_message = "The data stores are not planned at the guide's minimums."
  }
  assert {
    condition     = hipchatdc_reverse_proxy.edge.public_hostname == var.public_hostname
    error_message = "The proxy does not answer for the public host name."
  }
}

run "deploys_the_cluster" {
  command = apply
  # The module's health check runs in the apply, against the new VMs: all of it must pass but
  # the backup check, since this deployment declares no backup (it would warn, and a warning is
  # a failed run in terraform test).
  variables {
    max_backup_age_hours = null
  }
  assert {
    condition     = output.public_url == "https://${var.public_hostname}"
    error_message = "public_url is ${output.public_url}."
  }
  assert {
    condition     = output.endpoints.nfs == "${var.data_stores.address}:/srv/hipchat-nfs"
    error_message = "The NFS export is ${output.endpoints.nfs}."
  }
  assert {
    condition     = length(hipchatdc_node.app.drift) == 0 && length(hipchatdc_datastore_node.data.drift) == 0 && length(hipchatdc_reverse_proxy.edge.drift) == 0
    error_message = "Refresh found drift right after the apply."
  }
  assert {
    condition     = hipchatdc_reverse_proxy_node.app.node_address == var.node.address && hipchatdc_reverse_proxy_node.app.proxy_address == var.proxy.address
    error_message = "The proxy does not forward to the node."
  }
}
