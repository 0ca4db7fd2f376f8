"""`mops runs`: list, inspect, export and plot the runs `mops run` recorded (local paths or object-store URLs)."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelops.cli.output import EXIT_INPUT, console, err_console, fail, print_json, styled

app = typer.Typer(
    help=(
        "Runs recorded by `mops run`: list them, show one (status, best parameters, per-target losses), export its "
        "trials, draw its plots.\n\n"
        "Runs live under --runs-dir (default $MODELOPS_RUNS_DIR or .modelops/runs), a local path or any fsspec URL "
        "such as az://container/runs (Azure credentials from AZURE_STORAGE_CONNECTION_STRING or "
        "AZURE_STORAGE_ACCOUNT_NAME + AZURE_STORAGE_SAS_TOKEN)."
    ),
    no_args_is_help=True,
)


def check_runs_dir(value: str | None) -> str | None:
    """A usage error (not a traceback) when the runs directory's URL scheme needs a package that is missing."""
    from modelops.store.urls import FilesystemMissing, check_url

    try:
        return value if value is None else check_url(value)
    except FilesystemMissing as exc:
        raise typer.BadParameter(str(exc)) from None


RUNS_DIR = typer.Option(
    None,
    "--runs-dir",
    help="Where runs are kept (default $MODELOPS_RUNS_DIR or .modelops/runs).",
    callback=check_runs_dir,
)


def _store(run_id: str, runs_dir: str | None) -> Any:
    from modelops.runner.ids import check_run_id
    from modelops.specs.inputs import check_runs_dir
    from modelops.store.results import RunNotFound, RunStore, runs_dir_url

    try:
        check_run_id(run_id)  # also keeps "a://b" or "../x" from being read as a URL or a path outside the runs
    except ValueError as exc:
        fail(str(exc), code=EXIT_INPUT)
    check_runs_dir(runs_dir_url(runs_dir), write=False)
    store = RunStore(runs_dir or "", run_id)
    try:
        store.manifest()
    except RunNotFound as exc:
        fail(str(exc), hint="list the runs with `mops runs list` (and --runs-dir if they are elsewhere)")
    return store


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return "-" if value is None else str(value)


def _print_whole(renderable: Any) -> None:
    """Print a table so that run ids and paths are never cut: at its natural width when stdout is not a terminal
    (a pipe or a file has no width to fit; rich would otherwise assume 80 columns and cut or fold)."""
    if console.is_terminal:
        console.print(renderable)
        return
    from rich.console import Console

    # a width no table reaches: rich lays the table out at its natural width and cuts nothing
    Console(width=100_000, highlight=False).print(renderable)


def _line(text: str) -> None:
    """One plain line, never wrapped (paths are printed whole)."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


@app.command("list")
def list_cmd(
    runs_dir: str | None = RUNS_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List the runs under the runs directory, newest first."""
    from modelops.specs.inputs import check_runs_dir
    from modelops.store.results import list_runs, runs_dir_url

    check_runs_dir(runs_dir_url(runs_dir), write=False)
    runs = list_runs(runs_dir)
    rows = [
        {
            "run_id": m.get("run_id"),
            "study": m.get("study"),
            "status": m.get("status"),
            "started_at": m.get("first_started_at") or m.get("started_at"),
            "trials": (m.get("summary") or {}).get("recorded"),
            "n_trials": m.get("n_trials"),
            "best_loss": (m.get("summary") or {}).get("best_loss"),
        }
        for m in runs
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"no runs under {runs_dir_url(runs_dir)}; start one with `mops run SPEC` or `mops demo`")
        return
    table = Table(title=f"runs in {runs_dir_url(runs_dir)}", header_style="bold")
    # A run id is what the user copies into the next command: never cut or folded, whatever the width.
    table.add_column("run id", no_wrap=True, min_width=max(len(str(r["run_id"])) for r in rows))
    for column in ("study", "status", "started", "trials", "best loss"):
        table.add_column(column)
    for r in rows:
        trials = f"{_fmt(r['trials'])}/{_fmt(r['n_trials'])}"
        table.add_row(
            r["run_id"], _fmt(r["study"]), _fmt(r["status"]), _fmt(r["started_at"]), trials, _fmt(r["best_loss"])
        )
    _print_whole(table)


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="The run id (see `mops runs list`)."),
    runs_dir: str | None = RUNS_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show a run: status, trial counts, the best parameters and each target's loss."""
    from modelops.runner.report import run_report

    report = run_report(_store(run_id, runs_dir))
    if as_json:
        print_json(report)
        return
    table = Table(show_header=False, box=None, title=f"run {report['run_id']}")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    for key in (
        "study",
        "status",
        "url",
        "started_at",
        "ended_at",
        "last_trial_at",
        "service",
        "storage",
        "base_seed",
        "replicates",
    ):
        table.add_row(key, _fmt(report[key]))
    table.add_row("trials", f"{report['trials']} of {_fmt(report['n_trials'])} ({report['failed']} failed)")
    _print_whole(table)
    if report["error"]:
        console.print(styled("[red]the run stopped with an error:[/]"), highlight=False)
        _line(report["error"])
    if report["failures"]:
        console.print(styled("[yellow]{} failed trials[/], by reason:", report["failed"]), highlight=False)
        for kind in report["failures"]:
            _line(f"  {kind['trials']:>5} x {kind['reason']}  (first: trial {kind['first_trial']})")
    from modelops.runner.posterior import print_science

    print_science(report, console)
    best = report["best"]
    if best is None:
        console.print("no completed trial" + (" yet" if report["status"] == "running" else ""))
        return
    detail = Table(title=f"best trial {best['trial']} (loss {_fmt(best['loss'])})", header_style="bold")
    detail.add_column("name")
    detail.add_column("value", justify="right")
    for name, value in best["params"].items():
        detail.add_row(name, _fmt(value))
    for name, value in best["target_losses"].items():
        detail.add_row(f"loss: {name}", _fmt(value))
    _print_whole(detail)


@app.command("compare")
def compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (see `mops runs list`)."),
    runs_dir: str | None = RUNS_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print each run's report (as `runs show --json`) in a list."),
) -> None:
    """Compare runs side by side: status, budgets, best loss, the best parameters and each target's loss."""
    if len(run_ids) < 2:
        fail("compare needs at least two runs", hint="mops runs compare RUN_A RUN_B")
    from modelops.runner.report import run_report

    reports = [run_report(_store(run_id, runs_dir)) for run_id in run_ids]
    if as_json:
        print_json(reports)
        return
    table = Table(title="runs compared", header_style="bold")
    table.add_column("")
    for report in reports:
        table.add_column(report["run_id"], justify="right", no_wrap=True, min_width=len(report["run_id"]))

    def row(label: str, values: list[Any]) -> None:
        table.add_row(label, *(_fmt(v) for v in values))

    for key in ("study", "status", "algorithm", "replicates", "base_seed", "elapsed_s"):
        row(key, [r[key] for r in reports])
    row("trials", [f"{r['trials']}/{_fmt(r['n_trials'])}" for r in reports])
    row("completed", [r["completed"] for r in reports])
    row("failed", [r["failed"] for r in reports])
    bests = [r["best"] or {} for r in reports]
    row("best loss", [b.get("loss") for b in bests])
    row("best trial", [b.get("trial") for b in bests])
    params: list[str] = []
    for report, best in zip(reports, bests, strict=True):
        for name in [*report["searched"], *best.get("params", {})]:
            if name not in params:
                params.append(name)
    for name in params:
        row(name, [b.get("params", {}).get(name) for b in bests])
    targets: list[str] = []
    for best in bests:
        targets += [t for t in best.get("target_losses", {}) if t not in targets]
    for name in targets:
        row(f"loss: {name}", [b.get("target_losses", {}).get(name) for b in bests])
    _print_whole(table)


@app.command("export")
def export(
    run_id: str = typer.Argument(..., help="The run id."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Output file (default ./<run-id>-trials.<format>); '-' writes to stdout."
    ),
    replicates: bool = typer.Option(False, "--replicates", help="Export the replicate rows instead of the trials."),
    runs_dir: str | None = RUNS_DIR,
) -> None:
    """Export a run's trials (one row per trial, every parameter a column) as CSV or Parquet."""
    import fsspec

    if fmt not in ("csv", "parquet"):
        fail(f"--format {fmt!r} is not supported", hint="use --format csv or --format parquet", code=EXIT_INPUT)
    trial_rows, replicate_rows = _store(run_id, runs_dir).load()
    frame = replicate_rows if replicates else trial_rows
    target = out or f"{run_id}-{'replicates' if replicates else 'trials'}.{fmt}"
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buffer)
    else:
        frame.write_parquet(buffer)
    if target == "-":
        # stdout carries the data only; the note goes to stderr so `... -o - | other-tool` stays clean
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        err_console.print(f"wrote {frame.height} rows to stdout", highlight=False)
        return
    fs, path = fsspec.core.url_to_fs(target)
    parent = str(Path(path).parent) if "://" not in target else None
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, buffer.getvalue())
    _line(f"wrote {frame.height} rows to {target}")


@app.command("plot")
def plot(
    run_id: str = typer.Argument(..., help="The run id."),
    out: str | None = typer.Option(None, "--out", "-o", help="Directory for the PNGs (default <run>/plots)."),
    runs_dir: str | None = RUNS_DIR,
) -> None:
    """Draw a run's plots: loss by trial with the running best, parameters coloured by loss, best fit vs data.

    The fit plot re-runs the best trial's replicates in this process with their recorded seeds (from the run's
    cache when there is one), so the model must be importable here.
    """
    from modelops.runner.plots import PlotError, plot_run

    try:
        files = plot_run(_store(run_id, runs_dir), out)
    except PlotError as exc:
        fail(str(exc))
    _line(f"loss by trial:  {files.loss}")
    labelled = (
        ("parameters:", files.pairs),
        ("parallel:", files.parallel),
        ("heatmap:", files.heatmap),
        ("posterior:", files.posterior),
    )
    for label, path in labelled:
        if path:
            _line(f"{label:<16}{path}")
    if files.fit:
        _line(f"best fit:       {files.fit}")
    elif files.fit_error:
        console.print(styled("[yellow]best fit not drawn:[/] {}", files.fit_error), highlight=False)
