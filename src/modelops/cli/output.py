"""Shared CLI output: consoles that never read user text as markup, JSON printing, and the ONE error boundary.

Markup: both consoles have rich markup and emoji codes off, so a name, a column, a run id or a model's error text
containing ``[bold]`` or ``:smile:`` prints as written (it used to raise MarkupError or restyle the output). Our own
styling goes through :func:`styled`, which escapes the values it fills in.

Errors: every command runs inside :class:`ErrorBoundaryGroup` (the root group of `mops`). Whatever a command raises
ends as ONE message on stderr (or, with ``--json``, one JSON object on stdout) and the exit code of the table below,
never a traceback. Every message passes through :func:`modelops.core.redaction.redact_text` first, so an error quoting a
storage URL (from modelops or from the science package) never prints its password.

Exit codes (docs/user-guide.md, "Errors and exit codes"; docs/architecture.md, "Exit codes"):

====  ==========================================================================================================
0     success
1     the command failed (a service unreachable, a cloud call refused, a run that could not start...)
2     invalid input: a bad option, spec, config or data file (the message names the file and the field)
3-7   cloud set-up problems with a fixed remedy (docs/cloud.md): 3 Pulumi missing, 4 passphrase missing,
      5 not logged in to the cloud, 6 stack locked, 7 stack missing
10    a run started and ended ``failed`` (its records say why: `mops runs show RUN`)
70    an internal error (a bug in ModelOps: the message says how to get the traceback to report it)
130   interrupted (Ctrl-C); a run can be resumed with --resume RUN_ID
====  ==========================================================================================================

With ``--json`` an error prints ``{"error": {"code", "kind", "message", "hint", "problems"}}`` on stdout (``problems``
is a list of ``{"field", "message"}``, empty unless the input had field-level problems).
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup
from typer.exceptions import TyperException

from modelops.core.redaction import redact_text

console = Console(markup=False, emoji=False)
err_console = Console(stderr=True, markup=False, emoji=False)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INPUT = 2
EXIT_RUN_FAILED = 10
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
DEBUG_ENV = "MODELOPS_DEBUG"

# Whether the command line asked for --json (set by the root group before the command runs).
_json_mode: contextvars.ContextVar[bool] = contextvars.ContextVar("modelops_cli_json", default=False)


def styled(template: str, *values: Any) -> Text:
    """Our markup with user values filled in literally: ``styled("run [bold]{}[/] started", run_id)``."""
    return Text.from_markup(template.format(*(escape(str(v)) for v in values)), emoji=False)


def print_json(data: Any) -> None:
    """Print machine-readable JSON on stdout (no rich markup, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


class CliError(Exception):
    """An error that ends a command with one message, an optional hint and an exit code (see the module table)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: int = EXIT_ERROR,
        kind: str = "error",
        problems: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.kind = kind
        self.problems = problems or []


def fail(message: str, *, hint: str | None = None, code: int = EXIT_ERROR, kind: str | None = None) -> NoReturn:
    """End the command with a clear error (and how to fix it); the error boundary prints it and exits ``code``."""
    raise CliError(message, hint=hint, code=code, kind=kind or ("invalid_input" if code == EXIT_INPUT else "error"))


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
    # markup is off on our consoles: Pulumi's lines contain brackets ([urn=...]) and print as they are
    return lambda line: err_console.print(line.rstrip("\n"), style="dim", highlight=False, soft_wrap=True)


# --- the error boundary ------------------------------------------------------------------------------------------

# Known error classes (by "module:QualName" anywhere in the exception's MRO, so nothing heavy is imported here):
# exit code, kind for --json, and a hint. InfraError carries its own code and hint.
_SPEC_HINT = "fix the problems listed above; docs/study-spec.md, docs/kubernetes.md and docs/cloud.md list every key"
_KNOWN: dict[str, tuple[int, str, str | None]] = {
    "modelops.specs.base:SpecError": (EXIT_INPUT, "invalid_input", _SPEC_HINT),
    "modelops.runner.study:StudyError": (EXIT_INPUT, "invalid_input", None),
    "modelops.core.fnref:FnRefError": (EXIT_INPUT, "invalid_input", None),
    "modelops.core.naming:NamingError": (EXIT_INPUT, "invalid_input", None),
    "modelops.infra.bindings:BindingError": (EXIT_ERROR, "error", None),
    "modelops.planes.errors:PlaneError": (EXIT_ERROR, "error", None),
    "modelops.runner.driver:RunError": (EXIT_ERROR, "run_error", None),
    "modelops.runner.plots:PlotError": (EXIT_ERROR, "error", None),
    "modelops.store.results:RunNotFound": (
        EXIT_INPUT,
        "not_found",
        "list the runs with `mops runs list` (and --runs-dir if they are elsewhere)",
    ),
    "modelops.bundles.errors:BundleError": (EXIT_ERROR, "bundle_error", None),
    "modelops.k8s.cluster:ClusterError": (EXIT_ERROR, "cluster_error", None),
    "modelops.k8s.adaptive:StudyFilesError": (EXIT_INPUT, "invalid_input", None),
    "modelops.k8s.workspace:K8sConfigError": (EXIT_ERROR, "config_error", None),
    "modelops.k8s.identity:IdentityConfigError": (EXIT_INPUT, "invalid_input", None),
    "modelops.k8s.managed_store:ManagedStoreError": (EXIT_INPUT, "invalid_input", None),
    "modelops.infra.pg_bootstrap:BootstrapError": (EXIT_ERROR, "store_error", None),
    "modelops.store.backups:BackupError": (EXIT_ERROR, "store_error", None),
    "modelops.runner.forward:ForwardError": (EXIT_ERROR, "run_error", None),
    "modelops.services.dask:ClusterConnectionError": (EXIT_ERROR, "connection_error", None),
    "modelops.services.versions:ClusterVersionError": (EXIT_ERROR, "connection_error", None),
}


def _classify(exc: BaseException) -> CliError:
    """The CliError an exception stands for: known kinds keep their message; anything else is an internal error."""
    if isinstance(exc, CliError):
        return exc
    names = [f"{c.__module__}:{c.__qualname__}" for c in type(exc).__mro__]
    cause = exc.__cause__ or exc.__context__
    if "modelops.runner.driver:RunError" in names and cause is not None:
        # The runner re-raises a bad spec or study as RunError (its message); the cause tells it is bad input.
        inner = _classify(cause)
        if inner.code == EXIT_INPUT:
            return CliError(str(exc), hint=inner.hint, code=EXIT_INPUT, kind=inner.kind, problems=inner.problems)
    if "modelops.infra.automation:InfraError" in names:
        return CliError(exc.message, hint=exc.hint, code=exc.exit_code, kind="infra_error")  # type: ignore[attr-defined]
    for name in names:
        if name in _KNOWN:
            code, kind, hint = _KNOWN[name]
            problems = list(getattr(exc, "problems", None) or []) if name.endswith(":SpecError") else []
            if name.endswith(":SpecError") and not any(field for field, _ in problems):
                hint = None  # a problem with the file as a whole (encoding, YAML, size): the message says what to do
            return CliError(str(exc), hint=getattr(exc, "hint", None) or hint, code=code, kind=kind, problems=problems)
    if isinstance(exc, KeyboardInterrupt):
        return CliError("interrupted", code=EXIT_INTERRUPTED, kind="interrupted")
    if isinstance(exc, OSError):  # a file, a socket, a permission: the user's environment, not a bug
        return CliError(f"{type(exc).__name__}: {exc}", code=EXIT_ERROR, kind="os_error")
    detail = str(exc) or "(no message)"
    return CliError(
        f"internal error: {type(exc).__name__}: {detail}",
        hint=f"this is a bug in ModelOps; rerun with {DEBUG_ENV}=1 for the traceback and report it",
        code=EXIT_INTERNAL,
        kind="internal_error",
    )


def run_failed(exc: BaseException, run_id: str) -> CliError:
    """The error of a run that started and then failed: exit 10, whatever the cause (its records say why)."""
    error = _classify(exc)
    return CliError(
        error.message,
        hint=error.hint or f"the run's records keep what happened: `mops runs show {run_id}`",
        code=EXIT_RUN_FAILED,
        kind="run_failed",
        problems=error.problems,
    )


def render_error(error: CliError, *, as_json: bool | None = None) -> None:
    """Print ``error`` once, redacted: JSON on stdout with ``--json``, a red line and a hint on stderr otherwise."""
    as_json = _json_mode.get() if as_json is None else as_json
    message = redact_text(error.message)
    hint = redact_text(error.hint) if error.hint else None
    if as_json:
        problems = [{"field": f, "message": redact_text(m)} for f, m in error.problems]
        body = {"code": error.code, "kind": error.kind, "message": message, "hint": hint, "problems": problems}
        typer.echo(json.dumps({"error": body}, indent=2, sort_keys=True, default=str))
        return
    err_console.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)
    if hint:
        err_console.print(Text.assemble(("hint: ", "dim"), hint), highlight=False, soft_wrap=True)


@contextmanager
def handled(spec_hint: str | None = None) -> Iterator[None]:
    """Errors inside become one message and an exit code (what the root group does; kept for explicit blocks).

    ``spec_hint`` replaces the generic hint for an invalid spec (e.g. where the keys of this kind of spec are shown).
    """
    try:
        yield
    except (typer.Exit, typer.Abort, TyperException, CliError):
        raise
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        error = _classify(exc)
        if spec_hint and error.kind == "invalid_input" and any(field for field, _ in error.problems):
            error.hint = spec_hint
        raise error from None


class ErrorBoundaryGroup(TyperGroup):
    """The root group of `mops`: every command runs inside the one error boundary (see the module docstring)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # Decided from the whole command line, before the subcommand parses it: a usage error in that parse must be
        # reported as JSON too. ("--json" after "--" would be a positional value; no command takes one like that.)
        _json_mode.set("--json" in args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        # Typer (0.2x) carries its own copy of click: its Exit/Abort are typer.Exit/typer.Abort, and every usage
        # error is a TyperException with an exit_code.
        try:
            return super().invoke(ctx)
        except typer.Exit:
            raise
        except typer.Abort:
            render_error(CliError("aborted", code=EXIT_ERROR, kind="aborted"))
            raise typer.Exit(EXIT_ERROR) from None
        except TyperException as exc:
            if not _json_mode.get():
                raise  # click prints the usage line and the problem, exit 2
            render_error(CliError(exc.format_message(), code=exc.exit_code, kind="usage"))
            raise typer.Exit(exc.exit_code) from None
        except (Exception, KeyboardInterrupt) as exc:
            if os.environ.get(DEBUG_ENV) and not isinstance(exc, CliError | KeyboardInterrupt):
                raise
            error = _classify(exc)
            render_error(error)
            raise typer.Exit(error.code) from None
