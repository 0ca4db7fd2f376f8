"""`mops registry`: the Azure Container Registry in the stack modelops-registry-<env>."""

from __future__ import annotations

from pathlib import Path

import typer

from modelops.cli.infra import (
    CONFIG_OPTION,
    azure_spec,
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
        "The container registry (ACR) for images and bundles, in the infra stack's resource group. Nodes pull "
        "from it without credentials: the AKS kubelet identity gets the AcrPull role. Needs `acr: {enabled: true}` "
        "in the provider config and `mops infra up` first."
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
    from modelops.infra.azure_cli import check_login
    from modelops.infra.providers import azure

    with handled():
        config = global_config()
        spec = azure_spec(config_file, config)
        plan = azure.registry_stack(spec, config.environment, username(config, spec), config.organization)
        check_login(spec)
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
            config={**plan.stack_config, **azure.service_principal_secret(spec)},
            on_output=None if as_json else pulumi_progress(),
        )
        values = automation.read_output_values(ctx, "registry")
        show_outputs("registry", values, as_json, extra={"stack": plan.stack})
        if not as_json:
            console.print(f"push with: az acr login --name {values['registry_name'].value}")


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
