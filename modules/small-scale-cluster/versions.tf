terraform {
  required_version = ">= 1.5"
  required_providers {
    hipchatdc = {
      source = "hipchatdc/hipchatdc"
    }
  }
}
