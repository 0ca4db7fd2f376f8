"""`mops registry`: the Azure Container Registry in the stack modelops-registry-<env>."""

from __future__ import annotations

from pathlib import Path

import typer

from modelops.cli.infra import (
    CONFIG_OPTION,
    cloud_spec,
    context,
    deployed,
    destroy_component,
    global_config,
    handled,
    show_outputs,
    status_of,
    username,
)
from modelops.cli.output import console, fail, pulumi_progress

app = typer.Typer(
    help=(
        "The container registry for images and bundles (Azure ACR, AWS ECR repositories, Google Artifact "
        "Registry). Nodes pull from it without credentials: the cluster's node identity gets pull access (AcrPull, "
        "an ECR repository policy, artifactregistry.reader). Needs the registry enabled in the provider config and "
        "`mops infra up` first."
    ),
    no_args_is_help=True,
)


@app.command()
def create(
    config_file: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the stack outputs as JSON."),
) -> None:
    """Create or update the registry (per-user name modelops<env>acr<user> unless acr.name or per_user: false)."""
    from modelops.infra import automation, programs

    with handled():
        config = global_config()
        spec, cloud = cloud_spec(config_file, config)
        plan = cloud.registry_stack(config.environment, username(config, spec), config.organization)
        cloud.check_login()
        ctx = context(config, create=True)
        if not deployed(ctx, "infra"):
            fail(
                f"the registry lives in the cluster's resource group, and stack {ctx.stack_name('infra')} is not up",
                hint="run `mops infra up` first",
            )
        automation.up(
            ctx,
            "registry",
            programs.build(plan, ctx),
            config={**plan.stack_config, **cloud.prepare(ctx, plan)},
            on_output=None if as_json else pulumi_progress(),
            plugins=plan.plugins or None,
        )
        values = automation.read_output_values(ctx, "registry")
        show_outputs("registry", values, as_json, extra={"stack": plan.stack})
        next_step = cloud.after_up(plan, {k: v.value for k, v in values.items()})
        if next_step and not as_json:
            console.print(next_step)


@app.command()
def destroy(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete the registry and every image in it (the cluster stays)."""
    destroy_component(
        "registry", "registry_name", "Delete registry {name} and all its images?", "registry {name} destroyed", yes
    )


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The registry stack's outputs: login server, name, whether pulls need credentials."""
    status_of("registry", "registry", as_json, "mops registry create")
