# The proxy lists no node of its own: each node joins it through a membership, so that a node
# replaced by a new release (create_before_destroy) is added before the old one is drained.
resource "hipchatdc_reverse_proxy" "edge" {
  name     = "hipchat-proxy-1"
  template = "debian-12-server"
  num_cpus = 2
  memory   = 2048

  hostname     = "hipchat-proxy-1.example.com"
  ipv4_address = "10.0.1.10"
  ipv4_netmask = 24
  ipv4_gateway = "10.0.1.1"

  public_hostname = "chat.example.com"
  certificate_pem = var.certificate_pem
  private_key_pem = var.private_key_pem
  nodes           = []
}

resource "hipchatdc_reverse_proxy_node" "app" {
  proxy_address = hipchatdc_reverse_proxy.edge.ipv4_address
  node_address  = "10.0.0.100" # for example hipchatdc_node.app.ipv4_address

  # Seconds that removing the node lets requests already sent to it finish.
  drain_timeout = 30

  lifecycle {
    create_before_destroy = true
  }
}

variable "certificate_pem" {
  type = string
}

variable "private_key_pem" {
  type      = string
  sensitive = true
}
