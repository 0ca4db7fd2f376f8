"""`mops storage`: the object store (results, simulation cache, bundles) in the stack modelops-storage-<env>."""

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
from modelops.cli.output import err_console, fail, pulumi_progress, styled

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
    from modelops.infra import automation, programs

    with handled():
        config = global_config()
        spec, cloud = cloud_spec(config_file, config)
        plan = cloud.storage_stack(config.environment, username(config, spec), config.organization)
        cloud.check_login()
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
            config={**plan.stack_config, **cloud.prepare(ctx, plan)},
            on_output=None if as_json else pulumi_progress(),
            plugins=plan.plugins or None,
        )
        show_outputs("storage", automation.read_output_values(ctx, "storage"), as_json, extra={"stack": plan.stack})


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

    from modelops.infra import automation
    from modelops.infra.bindings import StorageBinding

    with handled():
        outputs = automation.read_outputs(context(global_config()), "storage")
        if isinstance(outputs.get("env"), dict):  # a store reached by workload identity: URLs only, no secret
            for key, value in outputs["env"].items():
                typer.echo(f"export {key}={shlex.quote(str(value))}")
            err_console.print(styled("[dim]access comes from your own cloud login (or the pods' workload identity)[/]"))
            return
        binding = StorageBinding.from_outputs(outputs)
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
