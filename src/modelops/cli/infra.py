"""`mops infra`: the Azure cluster (resource group + AKS) in the infra stack, and the shared state backend.

Also home of the helpers the other cloud command groups (registry, storage, destroy) share: loading the configs,
making the Pulumi context, confirmation prompts and turning errors into one clear message and exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from modelops.cli import output
from modelops.cli.output import confirm, console, err_console, fail, print_json, pulumi_progress, styled

if TYPE_CHECKING:
    from modelops.infra.automation import PulumiContext
    from modelops.infra.providers.cloud import CloudProvider
    from modelops.specs.config import GlobalConfig
    from modelops.specs.provider import AzureProviderSpec

app = typer.Typer(
    help=(
        "The cluster (Azure AKS, AWS EKS or Google GKE, picked by the provider config's `provider:`), with a system "
        "pool and an autoscaling workload pool, kept in the Pulumi stack modelops-infra-<env>.\n\n"
        "First time: `mops config init`, copy examples/providers/<cloud>.yaml to ~/.modelops/providers/ and fill it "
        "in, log in to the cloud, `mops infra doctor`, then `mops infra up --config FILE`."
    ),
    no_args_is_help=True,
)

CONFIG_OPTION = typer.Option(
    None,
    "--config",
    "-c",
    help="Provider config YAML (default: provider_config from `mops config show`, else "
    "~/.modelops/providers/azure.yaml).",
)
EXIT_SPEC = 2


# --- shared helpers ----------------------------------------------------------------------------------------------
def handled() -> AbstractContextManager[None]:
    """Expected failures become one message, a hint and a distinct exit code (the CLI's one error boundary)."""
    return output.handled(spec_hint="fix the fields listed above; examples/providers/azure.yaml shows every key")


def global_config() -> GlobalConfig:
    from modelops.specs.config import load_config

    return load_config()


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


def context(config: GlobalConfig, *, create: bool = False, backend_url: str | None = None) -> PulumiContext:
    """The Pulumi context for ``config`` (``create`` only for commands that create stacks)."""
    from modelops.infra.automation import PulumiContext

    if backend_url is not None:
        config = config.model_copy(update={"pulumi_backend_url": backend_url})
    return PulumiContext.from_config(config, create_passphrase=create)


def show_outputs(title: str, values: Mapping[str, Any], as_json: bool, extra: Mapping[str, Any] | None = None) -> None:
    """Stack outputs with secrets hidden, as a table or JSON."""
    from modelops.infra.automation import redact

    shown = redact(values)
    if as_json:
        print_json({**(extra or {}), "deployed": True, "outputs": shown})
        return
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key in sorted(shown):
        value = shown[key]
        table.add_row(key, Text("[secret]", style="dim") if value == "[secret]" else str(value))
    console.print(table)


def not_deployed(component: str, stack: str, as_json: bool, how: str) -> None:
    if as_json:
        print_json({"stack": stack, "deployed": False, "outputs": {}})
    else:
        console.print(styled("{}: [yellow]not deployed[/] (stack {}); create it with `{}`", component, stack, how))


def status_of(component: str, title: str, as_json: bool, how: str) -> None:
    """Shared `status`: outputs of the component's stack with secrets hidden, or "not deployed"."""
    from modelops.infra import automation

    with handled():
        config = global_config()
        ctx = context(config)
        stack = ctx.stack_name(component)
        if not automation.stack_exists(ctx, component):
            not_deployed(component, stack, as_json, how)
            return
        values = automation.read_output_values(ctx, component)
        if not values:
            not_deployed(component, stack, as_json, how)
            return
        show_outputs(f"{title} ({stack}, {ctx.backend_url})", values, as_json, extra={"stack": stack})


def destroy_component(component: str, name_output: str | tuple[str, ...], question: str, done: str, yes: bool) -> None:
    """Shared `destroy`/`down` of a single-stack component: nothing to do if not deployed, else confirm and destroy.
    ``question`` and ``done`` may use ``{name}``, the value of the stack output ``name_output`` (the first present,
    when several are given: clouds name the same thing differently)."""
    from modelops.infra import automation

    with handled():
        ctx = context(global_config())
        if not deployed(ctx, component):
            console.print(f"{component}: nothing to destroy (stack {ctx.stack_name(component)} is not deployed)")
            return
        outputs = automation.read_outputs(ctx, component)
        keys = (name_output,) if isinstance(name_output, str) else name_output
        name = next((outputs[k] for k in keys if outputs.get(k)), "?")
        confirm(question.format(name=name), yes)
        automation.destroy(ctx, component, on_output=pulumi_progress())
        console.print(done.format(name=name))


def run_of(ctx: PulumiContext, stack: str) -> str:
    """The run id part of an adaptive stack's name (``modelops-adaptive-dev-run1`` -> ``run1``)."""
    from modelops.core import naming

    return stack.removeprefix(f"{naming.PREFIX}-adaptive-{ctx.environment}-")


def deployed(ctx: PulumiContext, component: str, run_id: str | None = None) -> bool:
    """The stack exists and holds resources (a destroyed stack keeps its name but has no outputs)."""
    from modelops.infra import automation

    return automation.stack_exists(ctx, component, run_id) and bool(
        automation.read_output_values(ctx, component, run_id)
    )


# --- commands ----------------------------------------------------------------------------------------------------
@app.command()
def up(
    config_file: Path | None = CONFIG_OPTION,
    runtime: Path | None = typer.Option(
        None, "--runtime", help="A `kind: Runtime` document whose worker groups size the pools (GPU groups add pools)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the stack outputs (secrets hidden) as JSON."),
) -> None:
    """Create or update the cluster the provider config describes (idempotent: run it again after editing it).

    Azure: resource group (protected, kept on `down`) + AKS; AWS: VPC + EKS; GCP: VPC network + GKE. The kubeconfig
    is stored as a secret stack output (write it out with `mops infra kubeconfig`)."""
    from modelops.infra import automation, programs
    from modelops.specs.base import SpecError
    from modelops.specs.runtime import load_runtime

    with handled():
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
        extra = cloud.prepare(ctx, plan, note=err_console.print)
        err_console.print(f"{cloud.describe(plan)}: stack {ctx.stack_name('infra')} on {ctx.backend_url}")
        automation.up(
            ctx,
            "infra",
            program,
            config={**plan.stack_config, **extra},
            on_output=None if as_json else pulumi_progress(),
            plugins=plan.plugins or None,
        )
        show_outputs("infra", automation.read_output_values(ctx, "infra"), as_json, extra={"stack": plan.stack})
        if not as_json:
            console.print("next: `mops infra kubeconfig -o ~/.kube/modelops.yaml`, then `mops workspace up`")


@app.command()
def down(
    config_file: Path | None = CONFIG_OPTION,
    delete_rg: bool = typer.Option(
        False, "--delete-rg", help="Also delete the resource group and everything in it (default: keep it)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Destroy the AKS cluster. The resource group is kept unless --delete-rg. Refuses while the registry, storage,
    workspace or adaptive stacks still hold resources (destroy them first, or use `mops destroy --all`)."""
    from modelops.infra import automation

    with handled():
        config = global_config()
        ctx = context(config)
        if not deployed(ctx, "infra"):
            console.print(f"infra: nothing to destroy (stack {ctx.stack_name('infra')} is not deployed)")
            return
        blockers = [ctx.stack_name(c) for c in ("registry", "storage", "workspace") if deployed(ctx, c)]
        blockers += [s for s in automation.list_stacks(ctx, "adaptive") if deployed(ctx, "adaptive", run_of(ctx, s))]
        if blockers:
            fail(
                f"these stacks still use the cluster: {', '.join(blockers)}",
                hint="destroy them first (mops workspace down, mops registry destroy, ...) or run `mops destroy --all`",
            )
        destroy_infra(ctx, config, config_file, delete_rg=delete_rg, yes=yes)


def destroy_infra(
    ctx: PulumiContext, config: GlobalConfig, config_file: Path | None, *, delete_rg: bool, yes: bool
) -> None:
    """Destroy the infra stack: unprotect, destroy; the resource group stays (retain_on_delete) unless
    ``delete_rg``, which first updates the group's options in the state (a targeted up) so destroy removes it."""
    from modelops.infra import automation
    from modelops.infra.automation import InfraError

    outputs = automation.read_outputs(ctx, "infra")
    cluster, rg = outputs.get("cluster_name", "?"), outputs.get("resource_group")
    if rg is None:  # a cloud without resource groups (the whole stack goes)
        if delete_rg:
            raise InfraError("--delete-rg applies to a stack with a resource group; this one has none")
        confirm(f"Destroy cluster {cluster} and its network (stack {ctx.stack_name('infra')})?", yes)
        automation.destroy(ctx, "infra", unprotect=True, on_output=pulumi_progress())
        console.print(f"infra destroyed: cluster {cluster}")
        return
    if delete_rg:
        confirm(f"Destroy AKS cluster {cluster} AND delete resource group {rg} with everything in it?", yes)
        _release_resource_group(ctx, config, config_file)
    else:
        confirm(f"Destroy AKS cluster {cluster} (stack {ctx.stack_name('infra')})? Resource group {rg} is kept.", yes)
    automation.destroy(ctx, "infra", unprotect=True, on_output=pulumi_progress())
    kept = "deleted" if delete_rg else "kept (delete it with `az group delete -n " + str(rg) + "` when empty)"
    console.print(f"infra destroyed; resource group {rg} {kept}")


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


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The infra stack's outputs (cluster, resource group, location; the kubeconfig hidden)."""
    status_of("infra", "infra", as_json, "mops infra up")


@app.command()
def kubeconfig(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (mode 0600) instead of stdout."
    ),
) -> None:
    """Print (or write) the cluster's kubeconfig from the infra stack's secret output."""
    import os

    from modelops.infra import automation
    from modelops.infra.bindings import ClusterBinding

    with handled():
        ctx = context(global_config())
        binding = ClusterBinding.from_outputs(automation.read_outputs(ctx, "infra"))
        if output is None:
            typer.echo(binding.kubeconfig)
            return
        output = output.expanduser()
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(binding.kubeconfig)
        console.print(f"wrote {output}; use it with `export KUBECONFIG={output}`")


@app.command()
def doctor(
    config_file: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check what `mops infra up` needs: the global and provider configs, the pulumi CLI, the secrets passphrase,
    the Azure login (and subscription), and that Azure still offers the pinned AKS version in your region."""
    from modelops.infra.doctor import run_checks

    checks = run_checks(config_file)
    if as_json:
        print_json({"ok": all(c.status != "fail" for c in checks), "checks": [c.to_dict() for c in checks]})
    else:
        table = Table(show_header=True, header_style="bold")
        for column in ("check", "status", "detail", "fix"):
            table.add_column(column, overflow="fold")
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        for c in checks:
            table.add_row(c.name, Text(c.status, style=colours[c.status]), c.detail, c.fix or "")
        console.print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


@app.command()
def bootstrap(
    config_file: Path | None = CONFIG_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Create the shared Pulumi state backend on Azure, once per environment, and switch to it.

    Creates a separate resource group (modelops-<env>-state-rg, with a delete lock) holding a storage account and
    a container for Pulumi state, sets `pulumi_backend_url` to it (azblob://...) in ~/.modelops/config.yaml, and
    stores an ephemeral SSH public key as a secret setting of the infra stack (the private key is discarded).
    The backend's own stack stays on the local file backend (~/.modelops/pulumi/backend)."""
    from modelops.core import naming
    from modelops.infra import automation, programs
    from modelops.infra.azure_cli import check_login
    from modelops.infra.components.state_backend import StateBackendConfig
    from modelops.infra.providers import azure
    from modelops.specs.config import save_config

    with handled():
        config = global_config()
        spec = azure_spec(config_file, config)
        check_login(spec)
        state = StateBackendConfig(environment=config.environment, location=spec.location, tags=spec.tags)
        confirm(
            f"Create the state backend resource group {state.resource_group} in {spec.location} "
            f"(storage account + container {state.container}, delete lock)?",
            yes,
        )
        local = context(config, create=True, backend_url=automation.default_backend_url())
        outputs = automation.up(
            local,
            naming.STATE_COMPONENT,
            programs.state_program(state),
            config={**azure.azure_stack_config(spec), **azure.service_principal_secret(spec)},
            on_output=pulumi_progress(),
        )
        url = str(outputs["backend_url"])
        save_config(config.model_copy(update={"pulumi_backend_url": url}))
        console.print(f"state backend ready: {url} (saved as pulumi_backend_url)")
        ctx = context(global_config(), create=True)
        if azure.ensure_ephemeral_key(ctx, spec.ssh.mode):
            console.print("stored an ephemeral SSH public key in the infra stack (private key discarded)")
        console.print(
            "keep the passphrase (~/.modelops/pulumi/passphrase or $PULUMI_CONFIG_PASSPHRASE): the stacks' secrets "
            "cannot be read without it"
        )


@app.command()
def plan(
    runtime: Path = typer.Argument(..., help="A `kind: Runtime` document."),
    as_json: bool = typer.Option(False, "--json", help="Print the compiled plan as JSON."),
) -> None:
    """Compile a Runtime document (no cloud calls) and show the stacks it needs, in order, with what each reads."""
    from modelops.infra import providers
    from modelops.specs.runtime import load_runtime

    with handled():
        config = global_config()
        spec = load_runtime(runtime)
        provider = spec.spec.provider
        plugin = providers.get(
            provider.name,
            environment=config.environment,
            username=username(config, provider),
            organization=config.organization,
        )
        compiled = plugin.compile(spec)
    if as_json:
        print_json(compiled.to_dict())
        return
    table = Table(
        title=f"{compiled.name}: {compiled.provider}, environment {compiled.environment}", header_style="bold"
    )
    for column in ("#", "component", "stack", "reads"):
        table.add_column(column, overflow="fold")
    for i, stack in enumerate(compiled.stacks, 1):
        table.add_row(str(i), stack.component, stack.stack, ", ".join(stack.reads) or "-")
    console.print(table)
