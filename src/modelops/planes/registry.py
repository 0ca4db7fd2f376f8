"""The registry plane: the container registry stack (``modelops-registry-<env>``) in the cluster's account."""

from __future__ import annotations

from pathlib import Path

from modelops.planes.stacks import OnOutput, StackResult, bring_up, cloud_spec, context, global_config, username


def create(config_file: Path | None, *, on_output: OnOutput = None) -> StackResult:
    """Create or update the registry the provider config enables (the infra stack must be up)."""
    config = global_config()
    spec, cloud = cloud_spec(config_file, config)
    plan = cloud.registry_stack(config.environment, username(config, spec), config.organization)
    cloud.check_login()
    ctx = context(config, create=True)
    values = bring_up(ctx, cloud, plan, "the registry lives in the cluster's resource group", on_output)
    return StackResult(plan.stack, values, cloud.after_up(plan, {k: v.value for k, v in values.items()}))
