"""Tear down every stack of an environment, in reverse order of creation: adaptive runs, workspace, storage,
registry, infra. The Pulumi state backend (`mops infra bootstrap`) is never touched."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelops.planes import infra
from modelops.planes.errors import PlaneError
from modelops.planes.stacks import OnOutput, deployed, deployed_runs

if TYPE_CHECKING:
    from modelops.infra.automation import PulumiContext
    from modelops.specs.config import GlobalConfig


@dataclass(frozen=True)
class Teardown:
    """The stacks to destroy, in order, as (component, run id or None), and the state backend's resource group."""

    targets: tuple[tuple[str, str | None], ...]
    state_resource_group: str


def teardown(ctx: PulumiContext) -> Teardown:
    """What `destroy --all` would destroy. Refuses (PlaneError) when the infra stack's resource group is the state
    backend's: a misconfigured resource_group must never take the state backend with it."""
    from modelops.core import naming
    from modelops.infra import automation

    targets: list[tuple[str, str | None]] = [("adaptive", run) for run in deployed_runs(ctx)]
    targets += [(c, None) for c in ("workspace", "storage", "registry", "infra") if deployed(ctx, c)]
    state_rg = naming.state_resource_group_name(ctx.environment)
    if ("infra", None) in targets:
        rg = automation.read_outputs(ctx, "infra").get("resource_group")
        if rg == state_rg:
            raise PlaneError(
                f"the infra stack's resource group {rg} is the state backend's; refusing to touch it",
                hint="set resource_group in the provider config to a workload group",
            )
    return Teardown(tuple(targets), state_rg)


def destroy_all(
    ctx: PulumiContext,
    config: GlobalConfig,
    config_file: Path | None,
    plan: Teardown,
    *,
    delete_rg: bool,
    on_stack: Callable[[str], None] | None = None,
    on_output: OnOutput = None,
) -> None:
    """Destroy ``plan``'s stacks in order (already confirmed by the caller); ``on_stack`` hears each stack's name
    before it goes."""
    from modelops.infra import automation

    for component, run in plan.targets:
        if on_stack is not None:
            on_stack(ctx.stack_name(component, run))
        if component == "infra":
            target = infra.target(ctx)
            infra.destroy(ctx, config, config_file, target, delete_rg=delete_rg, on_output=on_output)
        else:
            automation.destroy(ctx, component, run_id=run, on_output=on_output)
