"""`mops config`: the global settings in ~/.modelops/config.yaml (environment, provider, Pulumi backend, user)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from modelops.cli.output import console, fail, print_json, styled

app = typer.Typer(
    help=(
        "Global settings in ~/.modelops/config.yaml ($MODELOPS_HOME overrides the directory): the environment that "
        "names every stack and resource (dev, staging, prod), the provider, the Pulumi backend and the username "
        "used in per-user names."
    ),
    no_args_is_help=True,
)


def _fail_spec(exc: Exception) -> None:
    fail(str(exc), hint="`mops config show` lists the settings; `mops config init --force` rewrites the file", code=2)


@app.command()
def init(
    environment: str = typer.Option("dev", "--environment", "-e", help="dev, staging, prod... (1-10 a-z0-9)."),
    provider: str = typer.Option("azure", "--provider", help="azure, aws, gcp or kubeconfig."),
    provider_config: Path | None = typer.Option(None, "--provider-config", help="Default provider config file."),
    backend_url: str | None = typer.Option(
        None, "--backend-url", help="Pulumi backend (default: a local file backend under ~/.modelops/pulumi)."
    ),
    organization: str | None = typer.Option(None, "--organization", help="Pulumi Cloud organisation, if any."),
    username: str | None = typer.Option(None, "--username", help="Override $USER in per-user resource names."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing config."),
) -> None:
    """Write ~/.modelops/config.yaml with every setting spelled out."""
    from modelops.specs.base import SpecError, parse_spec
    from modelops.specs.config import GlobalConfig, config_path, save_config

    path = config_path()
    if path.exists() and not force:
        fail(f"{path} already exists", hint="change one setting with `mops config set KEY VALUE`, or use --force")
    data = {
        "environment": environment,
        "provider": provider,
        "provider_config": str(provider_config.expanduser()) if provider_config else None,
        "pulumi_backend_url": backend_url,
        "organization": organization,
        "username": username,
    }
    try:
        config = parse_spec(GlobalConfig, data, source="mops config init")
    except SpecError as exc:
        _fail_spec(exc)
        return
    save_config(config, path)
    console.print(f"wrote {path}")


@app.command()
def show(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show the settings in effect (defaults filled in) and where they come from."""
    from modelops.infra.automation import default_backend_url, passphrase_path
    from modelops.specs.base import SpecError
    from modelops.specs.config import config_path, load_config, resolve_username

    try:
        config = load_config()
    except SpecError as exc:
        _fail_spec(exc)
        return
    effective = {
        **config.model_dump(),
        "pulumi_backend_url": config.pulumi_backend_url or default_backend_url(),
        "username": resolve_username(config),
    }
    if as_json:
        print_json({"path": str(config_path()), "exists": config_path().exists(), "settings": effective})
        return
    table = Table(title=f"{config_path()}{'' if config_path().exists() else ' (not written yet: defaults)'}")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    for key, value in effective.items():
        explicit = getattr(config, key) is not None
        table.add_row(key, f"{value}" if explicit or value is None else styled("{} [dim](default)[/]", value))
    console.print(table)
    console.print(f"passphrase file: {passphrase_path()}", style="dim")


@app.command("set")
def set_(
    key: str = typer.Argument(
        ..., help="environment, provider, provider_config, pulumi_backend_url, organization, username."
    ),
    value: str = typer.Argument(..., help="The new value; `null` clears it back to the default."),
) -> None:
    """Change one setting (validated before it is written)."""
    from modelops.specs.base import SpecError
    from modelops.specs.config import load_config, save_config, update_config

    try:
        config = update_config(load_config(), key, value)
    except SpecError as exc:
        _fail_spec(exc)
        return
    path = save_config(config)
    console.print(f"{key} = {getattr(config, key)!r} (in {path})")
