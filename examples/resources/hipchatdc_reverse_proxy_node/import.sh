# <proxy_address>/<node_address>, the node with or without :port (80 by default).
terraform import hipchatdc_reverse_proxy_node.app 10.0.1.10/10.0.0.100:80
