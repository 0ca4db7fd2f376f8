"""`mops registry`: the Azure Container Registry in the stack modelops-registry-<env>."""

from __future__ import annotations

from pathlib import Path

import typer

from modelops.cli.common import CONFIG_OPTION, cloud_errors, destroy_component, show_outputs, status_of
from modelops.cli.output import console, pulumi_progress

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
    from modelops.planes import registry

    with cloud_errors():
        result = registry.create(config_file, on_output=None if as_json else pulumi_progress())
        show_outputs("registry", result.values, as_json, extra={"stack": result.stack})
        if result.next_step and not as_json:
            console.print(result.next_step)


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
