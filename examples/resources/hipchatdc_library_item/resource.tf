# The Hipchat OVA stored once in a content library; each node deploys from it inside vSphere.
resource "hipchatdc_library_item" "hipchat" {
  library   = "hipchat" # created on the datastore when there is no library of that name
  name      = "hipchat-node"
  datastore = "vsan"
  # vCenter downloads it itself: nothing passes through the machine running Terraform.
  ova_url = "https://downloads.example.com/hipchat/HipChat.ova"
}

resource "hipchatdc_node" "app" {
  count        = 3
  name         = "hipchat-worker-${count.index + 1}"
  datacenter   = "dc1"
  cluster      = "compute"
  datastore    = "vsan"
  network      = "hipchat-private"
  library_item = hipchatdc_library_item.hipchat.id
}
