"""The `mops` application: the root Typer app and the registration of every command group.

`app` is built on first use (``from modelops.cli.app import app`` works as before). The console script builds only
what the command needs for `mops run`: a calibration's first simulation waits for the runner to start its workers, and
importing the cloud command groups (infra, workspace, adaptive, ...) first cost it 30-100 ms on a 2-core VM.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

HELP = (
    "ModelOps: calibrate stochastic simulation models at scale.\n\n"
    "Start on a laptop with `mops run study.yaml` (a local process pool, results as Parquet); move the same study "
    "to Kubernetes with `mops infra up`, `mops workspace up` and `mops adaptive up`."
)


# Command groups that need the cloud extra (Pulumi, the Kubernetes client, Azure SDKs, oras), and the modules whose
# absence means it is not installed. The check runs before the group parses anything, so the user gets one message
# instead of an ImportError from deep inside a command.
CLOUD_COMMANDS = ("config", "infra", "registry", "storage", "workspace", "adaptive", "destroy")
CLOUD_MODULES = ("pulumi", "pulumi_azure_native", "pulumi_kubernetes", "pulumi_random", "kubernetes", "adlfs", "oras")
CLOUD_INSTALL = "pip install 'modelops[cloud]'  (in a checkout: uv sync --extra cloud)"


def missing_cloud_modules() -> list[str]:
    """The cloud extra's modules that cannot be imported here (empty when the extra is installed)."""
    import importlib.util

    missing = []
    for name in CLOUD_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def _root_app() -> typer.Typer:
    from modelops.cli.output import ErrorBoundaryGroup

    root = typer.Typer(
        name="mops",
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
        cls=ErrorBoundaryGroup,  # every command inside the one error boundary: one message, a documented exit code
    )

    @root.callback(invoke_without_command=True)
    def _root(
        ctx: typer.Context,
        show_version: bool = typer.Option(
            False, "--version", is_eager=True, help="Print the modelops version and exit (`mops version` lists more)."
        ),
    ) -> None:
        """ModelOps: calibrate stochastic simulation models at scale."""
        if show_version:
            from modelops.cli import version as version_cmd

            typer.echo(version_cmd.version_line())
            raise typer.Exit(0)
        if ctx.invoked_subcommand is None:
            typer.echo(ctx.get_help())
            raise typer.Exit(0)
        if ctx.invoked_subcommand in CLOUD_COMMANDS:
            missing = missing_cloud_modules()
            if missing:
                from modelops.cli.output import fail

                fail(
                    f"`mops {ctx.invoked_subcommand}` needs the cloud extra, which is not installed "
                    f"(missing: {', '.join(missing)})",
                    hint=f"install it with: {CLOUD_INSTALL}",
                )

    return root


def build_app() -> typer.Typer:
    """The whole `mops` application, every command group registered."""
    from modelops.cli import adaptive as adaptive_cmd
    from modelops.cli import bundle as bundle_cmd
    from modelops.cli import config as config_cmd
    from modelops.cli import demo as demo_cmd
    from modelops.cli import destroy as destroy_cmd
    from modelops.cli import infra as infra_cmd
    from modelops.cli import registry as registry_cmd
    from modelops.cli import run as run_cmd
    from modelops.cli import runs as runs_cmd
    from modelops.cli import storage as storage_cmd
    from modelops.cli import version as version_cmd
    from modelops.cli import workspace as workspace_cmd

    root = _root_app()
    root.command("version")(version_cmd.version)
    # The study workflow: run (a plain command, so `mops run SPEC` takes the spec positionally), runs, demo, bundles.
    root.command("run")(run_cmd.run)
    root.command("demo")(demo_cmd.demo)
    root.add_typer(runs_cmd.app, name="runs")
    root.add_typer(bundle_cmd.app, name="bundle")
    # The cloud: Azure from zero (infra plane), then the workspace and adaptive planes on Kubernetes.
    root.add_typer(config_cmd.app, name="config")
    root.add_typer(infra_cmd.app, name="infra")
    root.add_typer(registry_cmd.app, name="registry")
    root.add_typer(storage_cmd.app, name="storage")
    root.add_typer(workspace_cmd.app, name="workspace")
    root.add_typer(adaptive_cmd.app, name="adaptive")
    root.add_typer(destroy_cmd.app, name="destroy")
    return root


def build_run_app() -> typer.Typer:
    """The root app with only `run` registered: what `mops run ...` parses with (same command, same options)."""
    from modelops.cli import run as run_cmd

    root = _root_app()
    root.command("run")(run_cmd.run)
    return root


_app: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    if name == "app":
        global _app
        if _app is None:
            _app = build_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] == ["run"]:
        build_run_app()()
    else:
        __getattr__("app")()
