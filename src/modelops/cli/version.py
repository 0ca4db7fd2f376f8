"""`mops version`: what is installed."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from modelops.cli.output import console, print_json
from modelops.versions import core_versions


def version_line() -> str:
    """``mops --version``: one line, the way other tools print it."""
    from modelops import __version__

    return f"mops (modelops) {__version__}"


def version(
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON."),
) -> None:
    """Print the versions of modelops, its sibling packages, Python, Dask, Optuna and Pulumi."""
    versions = core_versions()
    if as_json:
        print_json(versions)
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("package")
    table.add_column("version")
    for name, value in versions.items():
        table.add_row(name, value if value is not None else Text("not installed", style="dim"))
    console.print(table)
