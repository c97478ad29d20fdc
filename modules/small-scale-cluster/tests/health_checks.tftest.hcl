# The module's health check block: each threshold warns when crossed, and passes when its
# variable is null. The provider is mocked: hipchatdc_health reports a healthy deployment
# (mock_data), and each run overrides the values it is about. What the data source reads from
# real VMs is tested in the lab (internal/e2e, TestAccModule_healthChecks). The variables come
# from the same -var-file as small_scale.tftest.hcl.
#
# override_data replaces the mocked values as a whole (values it leaves out are made up, and its
# values must be constants): each run lists them all, the healthy ones as mock_data has them.

mock_provider "hipchatdc" {
  mock_data "hipchatdc_health" {
    defaults = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
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

run "healthy_deployment_passes" {
  command = apply
}

run "unreachable_vm_warns" {
  command = apply
  # What could not be read is null: only the problems assert fails, the others pass over the nulls
  # (unreachable_vm_only_warns_once proves it).
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = ["the data stores VM (10.0.0.5): cannot connect over SSH: connection refused"]
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = null
      postgres_free_percent = null
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = null
      last_backup_age       = null
    }
  }
  expect_failures = [check.health]
}

run "unreachable_vm_only_warns_once" {
  command = apply
  # The same nulls without a problem listed: no other assert fails on them.
  variables {
    require_self_check = true
  }
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = null
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = null
      nfs_free_percent      = null
      postgres_free_percent = null
      max_clock_offset      = null
      clock_offsets         = {}
      last_backup_status    = null
      last_backup_age       = null
    }
  }
}

run "failing_self_check_warns" {
  command = apply
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = false
      self_check_output     = "postgres: OK\nredis: FAILED: NOAUTH Authentication required.\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
  expect_failures = [check.health]
}

run "failing_self_check_accepted_when_not_required" {
  command = apply
  variables {
    require_self_check = false
  }
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = false
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
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

run "expiring_certificate_warns" {
  command = apply
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 10
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
  expect_failures = [check.health]
}

run "expiring_certificate_above_a_lower_threshold_passes" {
  command = apply
  variables {
    min_certificate_days = 7
  }
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 10
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
}

run "full_nfs_volume_warns" {
  command = apply
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 0
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
      nfs_free_bytes        = 0
      nfs_size_bytes        = 268435456
    }
  }
  expect_failures = [check.health]
}

run "full_postgres_disk_warns" {
  command = apply
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 4.5
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
  expect_failures = [check.health]
}

run "free_space_check_off" {
  command = apply
  variables {
    min_free_percent = null
  }
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 0
      postgres_free_percent = 0
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
}

run "clock_off_warns" {
  command = apply
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 120
      clock_offsets         = { node = 0.002, data_stores = -120, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
  expect_failures = [check.health]
}

run "clock_check_off" {
  command = apply
  variables {
    max_clock_offset = null
  }
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 120
      clock_offsets         = { node = 0.002, data_stores = -120, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 3600
    }
  }
}

run "backup_never_ran_warns" {
  command = apply
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "never"
      last_backup_age       = null
    }
  }
  expect_failures = [check.health]
}

run "failed_backup_warns" {
  command = apply
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "failed"
      last_backup_age       = 3600
      last_backup_error     = "destination /mnt/backup: No space left on device"
    }
  }
  expect_failures = [check.health]
}

run "old_backup_warns" {
  command = apply
  # 49 hours: more than max_backup_age_hours = 48.
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "ok"
      last_backup_age       = 176400
    }
  }
  expect_failures = [check.health]
}

run "backup_check_off" {
  command = apply
  variables {
    max_backup_age_hours = null
  }
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = []
      self_check_passed     = true
      self_check_output     = "postgres: OK\nredis: OK\nnfs: OK"
      certificate_days_left = 365
      nfs_free_percent      = 80
      postgres_free_percent = 80
      max_clock_offset      = 0.002
      clock_offsets         = { node = 0.002, data_stores = -0.001, proxy = 0.001 }
      last_backup_status    = "never"
      last_backup_age       = null
    }
  }
}

run "all_checks_off" {
  command = apply
  # health_checks = false passes the block whatever was read.
  variables {
    health_checks = false
  }
  override_data {
    target = data.hipchatdc_health.this
    values = {
      problems              = ["the Hipchat node (10.0.0.4): cannot connect over SSH: connection refused"]
      self_check_passed     = false
      self_check_output     = "nfs: FAILED"
      certificate_days_left = -1
      nfs_free_percent      = 0
      postgres_free_percent = 0
      max_clock_offset      = 300
      clock_offsets         = { data_stores = 300 }
      last_backup_status    = "failed"
      last_backup_age       = 999999
    }
  }
}
