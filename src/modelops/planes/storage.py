"""The storage plane: the object store stack (``modelops-storage-<env>``) for results, the cache and bundles, and
the environment a shell needs to reach it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.planes.stacks import OnOutput, StackResult, context, global_config, up_beside_cluster

if TYPE_CHECKING:
    from modelops.infra.bindings import StorageBinding


def up(config_file: Path | None, *, on_output: OnOutput = None) -> StackResult:
    """Create or update the storage account (or buckets) and containers; every run issues a fresh SAS token."""
    _, plan, values = up_beside_cluster(
        config_file, "storage_stack", "storage lives in the cluster's resource group", on_output
    )
    return StackResult(plan.stack, values)


@dataclass(frozen=True)
class ShellAccess:
    """How a shell reaches the store: plain variables for a store reached by identity (``identity_env``), else the
    storage binding (its public and secret variables)."""

    identity_env: Mapping[str, Any] | None
    binding: StorageBinding | None


def shell_access() -> ShellAccess:
    """The storage stack's outputs as what a shell needs to reach the store."""
    from modelops.infra import automation
    from modelops.infra.bindings import StorageBinding

    outputs = automation.read_outputs(context(global_config()), "storage")
    if isinstance(outputs.get("env"), dict):  # a store reached by workload identity: URLs only, no secret
        return ShellAccess(dict(outputs["env"]), None)
    return ShellAccess(None, StorageBinding.from_outputs(outputs))
