"""What the cloud CLI (``mops infra|registry|storage``) asks of a provider, so the commands never name a cloud.

A provider config (``provider: azure|aws|gcp``) is turned into a :class:`CloudProvider` by
``modelops.infra.providers.cloud_for(spec)``; the commands then build stack plans, check the login, prepare
one-time stack state and print what the provider says. Helpers every cloud shares (sizing the workload pool from a
Runtime's worker groups, the extra-is-missing error) live here too.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from modelops.core import naming
from modelops.infra import automation
from modelops.infra.plan import StackPlan
from modelops.specs.runtime import WorkerPool

if TYPE_CHECKING:
    from modelops.infra.doctor import Check
    from modelops.specs.config import GlobalConfig

Problems = list[tuple[str, str]]
Note = Callable[[str], None]
MAX_GPU_POOLS = 10


class CloudLoginMissing(automation.InfraError):
    """No usable credentials for the provider's cloud (the same exit code as a missing ``az login``)."""

    exit_code = automation.EXIT_AZURE_LOGIN


@runtime_checkable
class CloudProvider(Protocol):
    """One cloud, from its provider config. Plans are pure; ``check_login`` and ``prepare`` have effects."""

    name: str

    def infra_stack(
        self,
        environment: str,
        username: str,
        worker_groups: Mapping[str, WorkerPool] | None = None,
        problems: Problems | None = None,
    ) -> StackPlan: ...

    def registry_stack(self, environment: str, username: str, organization: str | None) -> StackPlan: ...

    @property
    def registry_enabled(self) -> bool:
        """Whether the provider config asks for a registry (`mops infra plan` then lists the registry stack)."""
        ...

    def storage_stack(self, environment: str, username: str, organization: str | None) -> StackPlan: ...

    def check_login(self) -> str | None:
        """Who Pulumi will act as; CloudLoginMissing (no traceback) saying what to run when nobody is logged in."""
        ...

    def prepare(self, ctx: automation.PulumiContext, stack: StackPlan, note: Note | None = None) -> dict[str, Any]:
        """One-time stack state before ``up`` and the secret stack settings it needs."""
        ...

    def describe(self, stack: StackPlan) -> str:
        """One line saying what ``up`` of this stack creates (for the progress message)."""
        ...

    def after_up(self, stack: StackPlan, outputs: Mapping[str, Any]) -> str | None:
        """What to do next, from the stack's outputs (e.g. how to log in to the registry)."""
        ...

    def doctor(self, config: GlobalConfig) -> list[Check]:
        """The provider's own preconditions of ``mops infra up`` (login, versions), checked without changes."""
        ...


def cloud_stack_plan(
    component: str,
    environment: str,
    config: dict[str, Any],
    *,
    stack_config: dict[str, str],
    programs: str,
    plugins: tuple[str, ...],
    **kw: Any,
) -> StackPlan:
    """A stack of one cloud's program module (``{programs}:{component}_program``), named as every stack is."""
    return StackPlan(
        component=component,
        stack=naming.stack_name(component, environment),
        project=naming.project_name(component),
        config=config,
        stack_config=stack_config,
        program=f"{programs}:{component}_program",
        plugins=plugins,
        **kw,
    )


def require_extra(module: str, extra: str, cloud: str) -> None:
    """InfraError naming the extra to install when ``module`` (e.g. pulumi_aws) is missing."""
    if importlib.util.find_spec(module) is None:
        raise automation.InfraError(
            f"the {cloud} provider needs {module}, which is not installed",
            hint=f"install the {extra} extra: pip install 'modelops[{extra}]' (or uv sync --extra {extra})",
        )


def workload_bounds(pool_min: int, pool_max: int, worker_groups: Mapping[str, WorkerPool] | None) -> tuple[int, int]:
    """The workload pool's autoscaler bounds: the config's, widened to the sum of the CPU worker groups' nodes."""
    cpu = [g for g in (worker_groups or {}).values() if g.profile == "cpu"]
    return max(pool_min, sum(g.min for g in cpu)), max(pool_max, sum(g.max for g in cpu))


def gpu_groups(
    worker_groups: Mapping[str, WorkerPool] | None,
    problems: Problems,
    known: Mapping[str, Any],
    cloud: str,
) -> list[tuple[int, str, WorkerPool, Any]]:
    """The GPU worker groups with their index and the cloud's machine for ``gpu.model`` (from ``known``); a group
    whose model the cloud does not offer, or that names an Azure ``vm_size``, becomes a problem."""
    groups = [(name, g) for name, g in (worker_groups or {}).items() if g.profile == "gpu"]
    if len(groups) > MAX_GPU_POOLS:
        problems.append(("spec.workerGroups", f"at most {MAX_GPU_POOLS} GPU worker groups fit one cluster"))
    found = []
    for index, (name, group) in enumerate(groups[:MAX_GPU_POOLS]):
        model = (group.gpu.model or "").upper() if group.gpu else ""
        if group.vm_size:
            problems.append(
                (f"spec.workerGroups.{name}.vm_size", f"vm_size is an Azure VM size; on {cloud} name gpu.model")
            )
            continue
        if model not in known:
            problems.append(
                (
                    f"spec.workerGroups.{name}.gpu.model",
                    f"{cloud} has no machine here for GPU model {model or 'none'!r}; use one of {', '.join(known)}",
                )
            )
            continue
        found.append((index, name, group, known[model]))
    return found
