"""`mops storage`: the object store (results, simulation cache, bundles) in the stack modelops-storage-<env>."""

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
)
from modelops.cli.output import err_console, fail, pulumi_progress

app = typer.Typer(
    help=(
        "The Azure Storage account runs write to: blob containers for results, the simulation cache and bundles. "
        "HTTPS only, no public access; workers use a read/write SAS token kept as a secret stack output (never the "
        "account key). Needs `mops infra up` first."
    ),
    no_args_is_help=True,
)


@app.command()
def up(
    config_file: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the stack outputs (SAS hidden) as JSON."),
) -> None:
    """Create or update the storage account and its containers; every run issues a fresh SAS token."""
    from modelops.infra import automation, programs
    from modelops.infra.azure_cli import check_login
    from modelops.infra.providers import azure

    with handled():
        config = global_config()
        spec = azure_spec(config_file, config)
        plan = azure.storage_stack(spec, config.environment, config.organization)
        check_login(spec)
        ctx = context(config, create=True)
        if not deployed(ctx, "infra"):
            fail(
                f"storage lives in the cluster's resource group, and stack {ctx.stack_name('infra')} is not up",
                hint="run `mops infra up` first",
            )
        automation.up(
            ctx,
            "storage",
            programs.build(plan, ctx),
            config={**plan.stack_config, **azure.service_principal_secret(spec)},
            on_output=None if as_json else pulumi_progress(),
        )
        show_outputs("storage", automation.read_output_values(ctx, "storage"), as_json, extra={"stack": plan.stack})


@app.command()
def down(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete the storage account with every result, cache entry and bundle in it."""
    destroy_component(
        "storage",
        "account_name",
        "Delete storage account {name} and ALL data in it (results, cache, bundles)?",
        "storage account {name} destroyed",
        yes,
    )


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The storage stack's outputs (the SAS token hidden)."""
    status_of("storage", "storage", as_json, "mops storage up")


@app.command()
def env() -> None:
    """Print `export` lines giving this shell access to the store (adlfs reads them; e.g. for
    `mops run --runs-dir az://results/...`). The SAS token is a secret: do not paste the output anywhere."""
    import shlex

    from modelops.infra import automation
    from modelops.infra.bindings import StorageBinding

    with handled():
        binding = StorageBinding.from_outputs(automation.read_outputs(context(global_config()), "storage"))
    for key, value in {**binding.public_env(), **binding.secret_env()}.items():
        typer.echo(f"export {key}={shlex.quote(value)}")
    if binding.mode == "sas":
        err_console.print(f"[dim]SAS token valid until {binding.sas_expiry or 'unknown'}[/]")
    else:
        # No key or SAS exists: this shell reaches the containers as the user (`az login`) through
        # DefaultAzureCredential, which needs a Storage Blob Data role of its own on the containers.
        typer.echo("export AZURE_STORAGE_ANON=false")
        err_console.print(
            "[dim]workload identity: no SAS is issued; adlfs uses your `az login` (you need Storage Blob Data "
            "Contributor on the containers)[/]"
        )
