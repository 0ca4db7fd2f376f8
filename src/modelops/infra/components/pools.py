"""Node-pool shapes (pure) and their AKS agent-pool profiles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PoolShape:
    """One AKS agent pool: ``mode`` System (fixed ``count``) or User (autoscaling between ``min`` and ``max``)."""

    name: str
    vm_size: str
    mode: str = "User"
    count: int | None = None
    min: int | None = None
    max: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vm_size": self.vm_size,
            "mode": self.mode,
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "labels": dict(self.labels),
            "taints": list(self.taints),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolShape:
        return cls(**{**data, "labels": dict(data.get("labels") or {}), "taints": tuple(data.get("taints") or ())})


def agent_pool_profile(shape: PoolShape, kubernetes_version: str) -> Any:
    """The ManagedCluster ``agent_pool_profiles`` entry for a shape. User pools autoscale; an initial ``count``
    equal to ``min`` is given because AKS requires one (the autoscaler owns it afterwards)."""
    from pulumi_azure_native import containerservice

    autoscale = shape.mode == "User"
    return containerservice.ManagedClusterAgentPoolProfileArgs(
        name=shape.name,
        mode=shape.mode,
        vm_size=shape.vm_size,
        os_type="Linux",
        type="VirtualMachineScaleSets",
        orchestrator_version=kubernetes_version,
        count=shape.count if not autoscale else max(shape.min or 0, 0),
        enable_auto_scaling=autoscale or None,
        min_count=shape.min if autoscale else None,
        max_count=shape.max if autoscale else None,
        node_labels=dict(shape.labels) or None,
        node_taints=list(shape.taints) or None,
    )
