resource "hipchatdc_datastore_node" "data" {
  name       = "hipchat-data-1"
  datacenter = "dc1"
  cluster    = "compute"
  datastore  = "vsan"
  network    = "hipchat-private"
  template   = "debian-12-server" # or ova_path / ova_url

  # The guide's minimums: 8 vCPU, 16 GB RAM, 60 GB disk, an NFS volume of 40 GB.
  num_cpus      = 8
  memory        = 16384
  disk_size     = 60
  nfs_disk_size = 100
  nfs_device    = "/dev/sdb"

  hostname     = "hipchat-data-1.example.com"
  ipv4_address = "10.0.0.50"
  ipv4_netmask = 24
  ipv4_gateway = "10.0.0.1"
  ntp_servers  = ["time1.example.com"]

  # Only the Hipchat nodes' network may use Postgres and the NFS export.
  allowed_cidr = "10.0.0.0/24"

  redis_password    = var.redis_password
  postgres_database = "hipchat_postgres"
  postgres_user     = "hipchat_user"
  postgres_password = var.postgres_password
}

variable "redis_password" {
  type      = string
  sensitive = true
}

variable "postgres_password" {
  type      = string
  sensitive = true
}

output "endpoints" {
  value = {
    redis    = "${hipchatdc_datastore_node.data.redis_host}:${hipchatdc_datastore_node.data.redis_port}"
    postgres = "${hipchatdc_datastore_node.data.postgres_host}:${hipchatdc_datastore_node.data.postgres_port}"
    nfs      = hipchatdc_datastore_node.data.nfs_export
  }
}
