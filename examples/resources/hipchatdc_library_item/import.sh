# By library and item name, or by the item's ID.
terraform import hipchatdc_library_item.hipchat hipchat/hipchat-node
terraform import hipchatdc_library_item.hipchat 4d6c7f3b-12a6-4cbf-9a0e-57b1a4d1e3f2
