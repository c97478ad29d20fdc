# By inventory path, managed object ID, BIOS UUID or instance UUID.
terraform import hipchatdc_reverse_proxy.edge /dc1/vm/hipchat-proxy-1
terraform import hipchatdc_reverse_proxy.edge vm-42
terraform import hipchatdc_reverse_proxy.edge 4207a4c4-2d6b-a5e8-8a3e-2a4c3f5e9d10
