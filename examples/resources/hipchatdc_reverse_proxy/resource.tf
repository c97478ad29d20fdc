resource "hipchatdc_reverse_proxy" "edge" {
  name       = "hipchat-proxy-1"
  datacenter = "dc1"
  cluster    = "compute"
  datastore  = "vsan"
  network    = "dmz"
  template   = "debian-12-server"

  # The guide's minimums: 2 vCPU, 2 GB RAM.
  num_cpus = 2
  memory   = 2048

  hostname     = "hipchat-proxy-1.example.com"
  ipv4_address = "10.0.1.10"
  ipv4_netmask = 24
  ipv4_gateway = "10.0.1.1"

  public_hostname = "chat.example.com"
  certificate_pem = var.certificate_pem
  private_key_pem = var.private_key_pem

  # One node: a reverse proxy. Several: load-balanced with session stickiness.
  nodes          = ["10.0.0.100"]
  node_hostnames = ["hipchat-worker-1.example.com"]
}

output "url" {
  value = hipchatdc_reverse_proxy.edge.url
}

variable "certificate_pem" {
  type        = string
  description = "For example file(\"chat.example.com.fullchain.pem\")."
}

variable "private_key_pem" {
  type      = string
  sensitive = true
}
