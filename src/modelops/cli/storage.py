"""`mops storage`: the object store (results, simulation cache, bundles) in the stack modelops-storage-<env>."""

from __future__ import annotations

from pathlib import Path

import typer

from modelops.cli.common import CONFIG_OPTION, cloud_errors, destroy_component, show_outputs, status_of
from modelops.cli.output import err_console, pulumi_progress, styled

app = typer.Typer(
    help=(
        "The object store runs write to, for results, the simulation cache and bundles: Azure blob containers "
        "(workers use a read/write SAS token kept as a secret stack output, never the account key), or S3 / GCS "
        "buckets reached through the cluster's workload identity (no keys at all). Private, HTTPS only. Needs "
        "`mops infra up` first."
    ),
    no_args_is_help=True,
)


@app.command()
def up(
    config_file: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the stack outputs (SAS hidden) as JSON."),
) -> None:
    """Create or update the storage account and its containers; every run issues a fresh SAS token."""
    from modelops.planes import storage

    with cloud_errors():
        result = storage.up(config_file, on_output=None if as_json else pulumi_progress())
        show_outputs("storage", result.values, as_json, extra={"stack": result.stack})


@app.command()
def down(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete the storage account (or the buckets) with every result, cache entry and bundle in it."""
    destroy_component(
        "storage",
        ("account_name", "results_bucket"),
        "Delete storage {name} and ALL data in it (results, cache, bundles)?",
        "storage {name} destroyed",
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

    from modelops.planes import storage

    with cloud_errors():
        access = storage.shell_access()
        if access.identity_env is not None:  # a store reached by workload identity: URLs only, no secret
            for key, value in access.identity_env.items():
                typer.echo(f"export {key}={shlex.quote(str(value))}")
            err_console.print(styled("[dim]access comes from your own cloud login (or the pods' workload identity)[/]"))
            return
        binding = access.binding
        assert binding is not None
    for key, value in {**binding.public_env(), **binding.secret_env()}.items():
        typer.echo(f"export {key}={shlex.quote(value)}")
    if binding.mode == "sas":
        err_console.print(f"SAS token valid until {binding.sas_expiry or 'unknown'}", style="dim")
    else:
        # No key or SAS exists: this shell reaches the containers as the user (`az login`) through
        # DefaultAzureCredential, which needs a Storage Blob Data role of its own on the containers.
        typer.echo("export AZURE_STORAGE_ANON=false")
        err_console.print(
            "workload identity: no SAS is issued; adlfs uses your `az login` (you need Storage Blob Data "
            "Contributor on the containers)",
            style="dim",
        )
