"""What every plane asks of the global config and of Pulumi: the environment, the Pulumi context, the provider
config, whether a stack is deployed, its outputs, and the teardown of a single-stack component."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.planes.errors import PlaneError

if TYPE_CHECKING:
    from pulumi.automation import OutputValue

    from modelops.infra.automation import PulumiContext
    from modelops.infra.plan import StackPlan
    from modelops.infra.providers.cloud import CloudProvider
    from modelops.specs.config import GlobalConfig
    from modelops.specs.provider import AzureProviderSpec

# Pulumi's progress lines, one at a time (None: run quietly).
OnOutput = Callable[[str], None] | None


def global_config(env: str | None = None) -> GlobalConfig:
    """~/.modelops/config.yaml, with ``env`` (checked: it names stacks and namespaces) replacing its environment."""
    from modelops.specs.config import load_config

    config = load_config()
    if env:
        from modelops.core.naming import check_environment

        config = config.model_copy(update={"environment": check_environment(env)})
    return config


def context(config: GlobalConfig, *, create: bool = False, backend_url: str | None = None) -> PulumiContext:
    """The Pulumi context for ``config`` (``create`` only for commands that create stacks: it may make the
    passphrase file)."""
    from modelops.infra.automation import PulumiContext

    if backend_url is not None:
        config = config.model_copy(update={"pulumi_backend_url": backend_url})
    return PulumiContext.from_config(config, create_passphrase=create)


def provider_path(option: Path | None, config: GlobalConfig) -> Path:
    from modelops.infra.providers import provider_config_path

    return provider_config_path(option, config)


def azure_spec(option: Path | None, config: GlobalConfig) -> AzureProviderSpec:
    """The Azure provider config (a kubeconfig provider config is refused: it has no Azure resources)."""
    from modelops.infra.automation import InfraError
    from modelops.specs.provider import AzureProviderSpec, load_provider

    path = provider_path(option, config)
    spec = load_provider(path)
    if not isinstance(spec, AzureProviderSpec):
        raise InfraError(
            f"{path} is a provider: {spec.provider} config, and this command manages Azure resources only",
            hint="for an existing cluster use `mops workspace up` directly; other clouds keep their Pulumi state "
            "where `mops config set pulumi_backend_url` points",
        )
    return spec


def cloud_spec(option: Path | None, config: GlobalConfig) -> tuple[Any, CloudProvider]:
    """The provider config and its CloudProvider (a kubeconfig provider config is refused: no cloud to manage)."""
    from modelops.infra.providers import cloud_for
    from modelops.specs.provider import load_provider

    spec = load_provider(provider_path(option, config))
    return spec, cloud_for(spec)


def username(config: GlobalConfig, spec: Any = None) -> str:
    from modelops.specs.config import resolve_username

    return resolve_username(config, getattr(spec, "username", None))


def deployed(ctx: PulumiContext, component: str, run_id: str | None = None) -> bool:
    """The stack exists and holds resources (a destroyed stack keeps its name but has no outputs)."""
    from modelops.infra import automation

    return automation.stack_exists(ctx, component, run_id) and bool(
        automation.read_output_values(ctx, component, run_id)
    )


def run_of(ctx: PulumiContext, stack: str) -> str:
    """The run id part of an adaptive stack's name (``modelops-adaptive-dev-run1`` -> ``run1``)."""
    from modelops.core import naming

    return stack.removeprefix(f"{naming.PREFIX}-adaptive-{ctx.environment}-")


def deployed_runs(ctx: PulumiContext) -> list[str]:
    """The run ids of the adaptive stacks that hold resources."""
    from modelops.infra import automation

    runs = [run_of(ctx, stack) for stack in automation.list_stacks(ctx, "adaptive")]
    return [run for run in runs if deployed(ctx, "adaptive", run)]


@dataclass(frozen=True)
class StackResult:
    """A stack brought up: its name, its outputs with their secret flags, and what the provider says to do next."""

    stack: str
    values: Mapping[str, OutputValue]
    next_step: str | None = None


@dataclass(frozen=True)
class StackStatus:
    """A component's stack: its name, the backend, and its outputs (None when it is not deployed)."""

    stack: str
    backend_url: str
    values: Mapping[str, OutputValue] | None


def status(component: str) -> StackStatus:
    """The component's stack outputs, or ``values=None`` when the stack does not exist or holds nothing."""
    from modelops.infra import automation

    ctx = context(global_config())
    stack = ctx.stack_name(component)
    if not automation.stack_exists(ctx, component):
        return StackStatus(stack, ctx.backend_url, None)
    values = automation.read_output_values(ctx, component)
    return StackStatus(stack, ctx.backend_url, values or None)


@dataclass(frozen=True)
class Deployed:
    """A deployed single-stack component about to be destroyed: its stack and the name its outputs give it."""

    component: str
    stack: str
    name: str


def single_stack(ctx: PulumiContext, component: str, name_output: str | tuple[str, ...]) -> Deployed | None:
    """The component's stack when it holds resources (None: nothing to destroy), named by the first of the
    ``name_output`` outputs present (clouds name the same thing differently)."""
    from modelops.infra import automation

    if not deployed(ctx, component):
        return None
    outputs = automation.read_outputs(ctx, component)
    keys = (name_output,) if isinstance(name_output, str) else name_output
    name = next((outputs[k] for k in keys if outputs.get(k)), "?")
    return Deployed(component, ctx.stack_name(component), str(name))


def destroy(ctx: PulumiContext, component: str, *, on_output: OnOutput = None) -> None:
    from modelops.infra import automation

    automation.destroy(ctx, component, on_output=on_output)


def bring_up(
    ctx: PulumiContext, cloud: CloudProvider, plan: StackPlan, where: str, on_output: OnOutput
) -> dict[str, OutputValue]:
    """Up a stack that lives beside the cluster (registry, storage; refused while the infra stack is not up) and
    its outputs with their secret flags. ``where`` says why the infra stack is needed."""
    from modelops.infra import automation, programs

    if not deployed(ctx, "infra"):
        raise PlaneError(f"{where}, and stack {ctx.stack_name('infra')} is not up", hint="run `mops infra up` first")
    automation.up(
        ctx,
        plan.component,
        programs.build(plan, ctx),
        config={**plan.stack_config, **cloud.prepare(ctx, plan)},
        on_output=on_output,
        plugins=plan.plugins or None,
    )
    return automation.read_output_values(ctx, plan.component)


def up_beside_cluster(
    config_file: Path | None, stack: str, where: str, on_output: OnOutput
) -> tuple[CloudProvider, StackPlan, dict[str, OutputValue]]:
    """Plan the provider config's ``stack`` (``registry_stack`` or ``storage_stack``), check the cloud login, and
    bring it up beside the cluster (see ``bring_up``): the cloud, the plan and the outputs."""
    config = global_config()
    spec, cloud = cloud_spec(config_file, config)
    plan = getattr(cloud, stack)(config.environment, username(config, spec), config.organization)
    cloud.check_login()
    return cloud, plan, bring_up(context(config, create=True), cloud, plan, where, on_output)
