"""Shared CLI output: a rich console, JSON printing, and errors that exit non-zero without a traceback."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Print machine-readable JSON on stdout (no rich markup, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(message: str, *, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print a clear error (and how to fix it) on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}", highlight=False)
    raise typer.Exit(code)
