terraform {
  required_version = ">= 1.5"
  required_providers {
    hipchatdc = {
      source = "hipchatdc/hipchatdc"
      # One provider configuration per standalone ESXi host: the caller passes both.
      configuration_aliases = [hipchatdc.node_host, hipchatdc.data_stores_host]
    }
  }
}
