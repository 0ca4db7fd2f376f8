"""Shared CLI output: a rich console, JSON printing, and errors that exit non-zero without a traceback."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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


def confirm(question: str, yes: bool) -> None:
    """Ask before destroying; ``--yes`` answers for scripts. Without a terminal, refuse rather than hang."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail("this command needs confirmation and no terminal is attached", hint="rerun with --yes", code=1)
    if not typer.confirm(question, default=False):
        err_console.print("aborted; nothing was changed")
        raise typer.Exit(1)


def pulumi_progress() -> Callable[[str], None]:
    """Pulumi's progress lines, dimmed on stderr (stdout stays clean for --json)."""
    # markup off: Pulumi's lines contain brackets ([urn=...]) that rich would read as tags
    return lambda line: err_console.print(line.rstrip("\n"), style="dim", highlight=False, markup=False, soft_wrap=True)
