"""The GPU node pool for a GPU worker group: an autoscaling AKS pool whose nodes only accept pods that tolerate
``nvidia.com/gpu`` and are labelled so a worker group's pods can select them."""

from __future__ import annotations

from modelops.core import naming
from modelops.infra.components.pools import PoolShape

GPU_TAINT = "nvidia.com/gpu=present:NoSchedule"
GPU_ROLE = "gpu"
ROLE_LABEL = "modelops.io/role"
GROUP_LABEL = "modelops.io/worker-group"


def gpu_pool_shape(group: str, index: int, *, vm_size: str, min_nodes: int, max_nodes: int, count: int) -> PoolShape:
    """A GPU pool for worker group ``group`` (the ``index``-th GPU group): tainted ``nvidia.com/gpu`` so CPU pods
    never land on expensive nodes, labelled with the role, the group and the GPU count per node."""
    return PoolShape(
        name=naming.node_pool_name("gpu", index),
        vm_size=vm_size,
        mode="User",
        min=min_nodes,
        max=max_nodes,
        labels={
            ROLE_LABEL: GPU_ROLE,
            GROUP_LABEL: group,
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.count": str(count),
        },
        taints=(GPU_TAINT,),
    )
