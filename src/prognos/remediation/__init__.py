"""Acting on the cluster: the one small Kubernetes client module, actions, guards, incidents."""
