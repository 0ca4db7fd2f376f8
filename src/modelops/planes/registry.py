"""The registry plane: the container registry stack (``modelops-registry-<env>``) in the cluster's account."""

from __future__ import annotations

from pathlib import Path

from modelops.planes.stacks import OnOutput, StackResult, up_beside_cluster


def create(config_file: Path | None, *, on_output: OnOutput = None) -> StackResult:
    """Create or update the registry the provider config enables (the infra stack must be up)."""
    cloud, plan, values = up_beside_cluster(
        config_file, "registry_stack", "the registry lives in the cluster's resource group", on_output
    )
    return StackResult(plan.stack, values, cloud.after_up(plan, {k: v.value for k, v in values.items()}))
