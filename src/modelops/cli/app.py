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


def _root_app() -> typer.Typer:
    root = typer.Typer(
        name="mops",
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
    )

    @root.callback()
    def _root() -> None:
        """ModelOps: calibrate stochastic simulation models at scale."""

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
