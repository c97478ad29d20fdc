resource "hipchatdc_node" "app" {
  name       = "hipchat-worker-1"
  datacenter = "dc1"
  cluster    = "compute"
  datastore  = "vsan"
  network    = "hipchat-private"
  ova_url    = "https://downloads.example.com/hipchat/HipChat.ova"

  # The guide's minimums: 8 vCPU, 16 GB RAM, 40 GB disk.
  num_cpus  = 8
  memory    = 16384
  disk_size = 40

  # Network identity, pushed over SSH after first boot.
  hostname     = "hipchat-worker-1.example.com"
  ipv4_address = "10.0.0.100"
  ipv4_netmask = 24
  ipv4_gateway = "10.0.0.1"
  dns_servers  = ["10.0.0.2"]
  ntp_servers  = ["time1.example.com", "time2.example.com"]

  ssh {
    user     = "admin"
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
  }
}
