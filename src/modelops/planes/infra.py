"""The infra plane: the cluster stack (``modelops-infra-<env>``), its kubeconfig, the shared state backend, and the
stacks a ``kind: Runtime`` document plans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelops.planes.stacks import (
    OnOutput,
    StackResult,
    azure_spec,
    cloud_spec,
    context,
    deployed,
    global_config,
    run_of,
    username,
)

if TYPE_CHECKING:
    from modelops.infra.automation import PulumiContext
    from modelops.infra.components.state_backend import StateBackendConfig
    from modelops.infra.doctor import Check
    from modelops.infra.plan import StackPlan
    from modelops.specs.config import GlobalConfig
    from modelops.specs.provider import AzureProviderSpec

OnNote = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def up(config_file: Path | None, runtime: Path | None = None, *, on_output: OnOutput = None,
       on_note: OnNote = _quiet) -> StackResult:  # fmt: skip
    """Create or update the cluster the provider config describes, its pools widened by the Runtime document's
    worker groups. Problems with the plan (a bad worker group, a missing SSH key file) fail before Pulumi starts;
    ``on_note`` hears the one-time preparations and what is brought up where."""
    from modelops.infra import automation, programs
    from modelops.specs.base import SpecError
    from modelops.specs.runtime import load_runtime

    config = global_config()
    spec, cloud = cloud_spec(config_file, config)
    user = username(config, spec)
    groups = load_runtime(runtime).spec.worker_groups if runtime else None
    problems: list[tuple[str, str]] = []
    plan = cloud.infra_stack(config.environment, user, groups, problems)
    if problems:
        raise SpecError(str(runtime), problems)
    program = programs.build(plan)  # resolves path/env SSH keys now: fail before Pulumi starts
    cloud.check_login()
    ctx = context(config, create=True)
    extra = cloud.prepare(ctx, plan, note=on_note)
    on_note(f"{cloud.describe(plan)}: stack {ctx.stack_name('infra')} on {ctx.backend_url}")
    automation.up(
        ctx,
        "infra",
        program,
        config={**plan.stack_config, **extra},
        on_output=on_output,
        plugins=plan.plugins or None,
    )
    return StackResult(plan.stack, automation.read_output_values(ctx, "infra"))


@dataclass(frozen=True)
class InfraTarget:
    """The deployed cluster stack about to be destroyed: its cluster and resource group (None on clouds without)."""

    stack: str
    cluster: str
    resource_group: str | None

    def check(self, delete_rg: bool) -> None:
        """Refuse ``delete_rg`` for a stack without a resource group, before anything is asked or changed."""
        from modelops.infra.automation import InfraError

        if self.resource_group is None and delete_rg:
            raise InfraError("--delete-rg applies to a stack with a resource group; this one has none")


def target(ctx: PulumiContext) -> InfraTarget:
    """The infra stack's cluster and resource group, from its outputs (the caller knows it is deployed)."""
    from modelops.infra import automation

    outputs = automation.read_outputs(ctx, "infra")
    rg = outputs.get("resource_group")
    return InfraTarget(ctx.stack_name("infra"), str(outputs.get("cluster_name", "?")), None if rg is None else str(rg))


def blockers(ctx: PulumiContext) -> list[str]:
    """The stacks that still use the cluster (registry, storage, workspace, adaptive runs), by stack name."""
    from modelops.infra import automation

    names = [ctx.stack_name(c) for c in ("registry", "storage", "workspace") if deployed(ctx, c)]
    return names + [s for s in automation.list_stacks(ctx, "adaptive") if deployed(ctx, "adaptive", run_of(ctx, s))]


def destroy(
    ctx: PulumiContext,
    config: GlobalConfig,
    config_file: Path | None,
    infra: InfraTarget,
    *,
    delete_rg: bool,
    on_output: OnOutput = None,
) -> None:
    """Destroy the infra stack: unprotect, destroy; the resource group stays (retain_on_delete) unless
    ``delete_rg``, which first updates the group's options in the state (a targeted up) so destroy removes it."""
    from modelops.infra import automation

    infra.check(delete_rg)
    if infra.resource_group is not None and delete_rg:
        _release_resource_group(ctx, config, config_file)
    automation.destroy(ctx, "infra", unprotect=True, on_output=on_output)


def _release_resource_group(ctx: PulumiContext, config: GlobalConfig, config_file: Path | None) -> None:
    from dataclasses import replace

    from modelops.infra import automation, programs
    from modelops.infra.components.cluster import ClusterConfig, resource_group_urn
    from modelops.infra.providers import azure

    spec = azure_spec(config_file, config)
    plan = azure.infra_stack(spec, config.environment, username(config, spec))
    cluster = replace(
        ClusterConfig.from_dict(plan.config["cluster"]), protect_resource_group=False, retain_resource_group=False
    )
    plan = replace(plan, config={**plan.config, "cluster": cluster.to_dict()})
    urn = resource_group_urn(ctx.stack_name("infra").rsplit("/", 1)[-1], plan.project)
    automation.up(ctx, "infra", programs.infra_program(plan), config=plan.stack_config, target=[urn])


def doctor(config_file: Path | None) -> list[Check]:
    """What `up` needs, checked without changing anything: the configs, the pulumi CLI, the passphrase, the cloud
    login and versions (each a Check with its status, detail and fix)."""
    from modelops.infra.doctor import run_checks

    return run_checks(config_file)


def kubeconfig() -> str:
    """The cluster's kubeconfig, from the infra stack's secret output."""
    from modelops.infra import automation
    from modelops.infra.bindings import ClusterBinding

    ctx = context(global_config())
    return ClusterBinding.from_outputs(automation.read_outputs(ctx, "infra")).kubeconfig


@dataclass(frozen=True)
class StateBackendPlan:
    """What `bootstrap` creates (the state backend of the current environment) and from which provider config."""

    config: GlobalConfig
    spec: AzureProviderSpec
    state: StateBackendConfig


def state_backend_plan(config_file: Path | None) -> StateBackendPlan:
    """The state backend for the current environment (the Azure login is checked first: nothing changes yet)."""
    from modelops.infra.azure_cli import check_login
    from modelops.infra.components.state_backend import StateBackendConfig

    config = global_config()
    spec = azure_spec(config_file, config)
    check_login(spec)
    return StateBackendPlan(config, spec, StateBackendConfig(config.environment, spec.location, spec.tags))


def create_state_backend(plan: StateBackendPlan, *, on_output: OnOutput = None) -> str:
    """Create the state backend (its own stack stays on the local file backend) and switch the global config's
    ``pulumi_backend_url`` to it; the backend's URL."""
    from modelops.core import naming
    from modelops.infra import automation, programs
    from modelops.infra.providers import azure
    from modelops.specs.config import save_config

    local = context(plan.config, create=True, backend_url=automation.default_backend_url())
    outputs = automation.up(
        local,
        naming.STATE_COMPONENT,
        programs.state_program(plan.state),
        config={**azure.azure_stack_config(plan.spec), **azure.service_principal_secret(plan.spec)},
        on_output=on_output,
    )
    url = str(outputs["backend_url"])
    save_config(plan.config.model_copy(update={"pulumi_backend_url": url}))
    return url


def store_ephemeral_key(plan: StateBackendPlan) -> bool:
    """Store an ephemeral SSH public key in the infra stack on the new backend, once; True if one was created."""
    from modelops.infra.providers import azure

    return azure.ensure_ephemeral_key(context(global_config(), create=True), plan.spec.ssh.mode)


@dataclass(frozen=True)
class RuntimePlan:
    """The stacks a Runtime document's cluster takes, in the order they are brought up: the infra stack with its
    pools sized by the worker groups (what `up --runtime` applies), then the registry stack when the provider
    config enables one (what `mops registry create` applies)."""

    name: str
    provider: str
    environment: str
    stacks: tuple[StackPlan, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "provider": self.provider,
            "environment": self.environment,
            "stacks": [s.to_dict() for s in self.stacks],
        }


def plan(runtime: Path) -> RuntimePlan:
    """Compile a Runtime document against its own ``provider``, purely (no cloud calls). SpecError naming each
    worker group the cloud cannot give a pool."""
    from modelops.infra.providers import cloud_for
    from modelops.specs.base import SpecError
    from modelops.specs.runtime import load_runtime

    config = global_config()
    spec = load_runtime(runtime)
    provider = spec.spec.provider
    cloud = cloud_for(provider)
    user = username(config, provider)
    problems: list[tuple[str, str]] = []
    stacks = [cloud.infra_stack(config.environment, user, spec.spec.worker_groups, problems)]
    if problems:
        raise SpecError(f"runtime {spec.metadata.name}", problems)
    if cloud.registry_enabled:
        stacks.append(cloud.registry_stack(config.environment, user, config.organization))
    return RuntimePlan(spec.metadata.name, provider.name, config.environment, tuple(stacks))
