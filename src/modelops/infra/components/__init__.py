"""Thin Pulumi ComponentResources. Each takes a frozen config dataclass (pure, built by a provider's ``compile``)
plus the Inputs that come from other stacks, creates its child resources and registers its outputs.

- ``cluster``: ModelOpsCluster (resource group + AKS + kubeconfig), infra stack.
- ``gpu_pool``: the GPU node-pool shape added to the cluster for each GPU worker group.
- ``registry``: ContainerRegistry (ACR + AcrPull for the kubelet identity), registry stack.
- ``storage``: ObjectStorage (account, containers, SAS token), storage stack.
- ``workspace`` / ``adaptive``: the Kubernetes planes (built by the workspace/adaptive plane's owners).
"""
