# <cluster>:<rule name>, the cluster by managed object ID, inventory path or name, written as
# compute_cluster_id has it in the configuration.
terraform import hipchatdc_anti_affinity_rule.separate_hosts domain-c7:hipchat-separate-hosts
terraform import hipchatdc_anti_affinity_rule.separate_hosts /dc1/host/cluster-1:hipchat-separate-hosts
