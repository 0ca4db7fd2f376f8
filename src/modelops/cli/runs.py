"""`mops runs`: list, inspect, export and plot the runs `mops run` recorded (local paths or object-store URLs)."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelops.cli.output import console, fail, print_json

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

RUNS_DIR = typer.Option(None, "--runs-dir", help="Where runs are kept (default $MODELOPS_RUNS_DIR or .modelops/runs).")


def _store(run_id: str, runs_dir: str | None) -> Any:
    from modelops.store.results import RunNotFound, RunStore

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


def run_report(store: Any) -> dict[str, Any]:
    """What `mops runs show` prints: status, counts, the best trial's parameters and per-target losses."""
    import polars as pl

    from modelops.store.results import LOSS_PREFIX, PARAM_PREFIX

    manifest = store.manifest()
    trials = store.load_trials()
    done = trials.filter(pl.col("status") == "completed") if trials.height else trials
    report: dict[str, Any] = {
        "run_id": manifest["run_id"],
        "url": store.url,
        "study": manifest.get("study"),
        "status": manifest.get("status"),
        "started_at": manifest.get("first_started_at") or manifest.get("started_at"),
        "ended_at": manifest.get("ended_at"),
        "n_trials": manifest.get("n_trials"),
        "trials": trials.height,
        "completed": done.height,
        "failed": trials.height - done.height,
        "replicates": manifest.get("replicates"),
        "base_seed": manifest.get("base_seed"),
        "storage": manifest.get("storage"),
        "service": (manifest.get("execution") or {}).get("service"),
        # A run killed outright still says "running": the time of its last recorded trial tells whether it is alive.
        "last_trial_at": (
            datetime.fromtimestamp(trials["told_at"].max(), UTC).isoformat(timespec="seconds")
            if trials.height
            else None
        ),
        "best": None,
    }
    from modelops.runner.posterior import science_report

    report.update(science_report(store, trials, manifest))  # failure reasons, posterior, simulation studies
    if done.height:
        best = done.sort("loss").row(0, named=True)
        report["best"] = {
            "trial": best["trial"],
            "param_id": best["param_id"],
            "loss": best["loss"],
            "params": json.loads(best["params_json"]),
            "target_losses": {
                c.removeprefix(LOSS_PREFIX): best[c] for c in trials.columns if c.startswith(LOSS_PREFIX)
            },
            "searched": {c.removeprefix(PARAM_PREFIX): best[c] for c in trials.columns if c.startswith(PARAM_PREFIX)},
        }
    return report


@app.command("list")
def list_cmd(
    runs_dir: str | None = RUNS_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List the runs under the runs directory, newest first."""
    from modelops.store.results import list_runs, runs_dir_url

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
    for column in ("run id", "study", "status", "started", "trials", "best loss"):
        table.add_column(column)
    for r in rows:
        trials = f"{_fmt(r['trials'])}/{_fmt(r['n_trials'])}"
        table.add_row(
            r["run_id"], _fmt(r["study"]), _fmt(r["status"]), _fmt(r["started_at"]), trials, _fmt(r["best_loss"])
        )
    console.print(table)


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="The run id (see `mops runs list`)."),
    runs_dir: str | None = RUNS_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show a run: status, trial counts, the best parameters and each target's loss."""
    report = run_report(_store(run_id, runs_dir))
    if as_json:
        print_json(report)
        return
    table = Table(show_header=False, box=None, title=f"run {report['run_id']}")
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
    console.print(table)
    from modelops.runner.posterior import print_science

    print_science(report, console)
    best = report["best"]
    if best is None:
        console.print("no completed trial yet")
        return
    detail = Table(title=f"best trial {best['trial']} (loss {_fmt(best['loss'])})", header_style="bold")
    detail.add_column("name")
    detail.add_column("value", justify="right")
    for name, value in best["params"].items():
        detail.add_row(name, _fmt(value))
    for name, value in best["target_losses"].items():
        detail.add_row(f"loss: {name}", _fmt(value))
    console.print(detail)


@app.command("export")
def export(
    run_id: str = typer.Argument(..., help="The run id."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet."),
    out: str | None = typer.Option(None, "--out", "-o", help="Output file (default ./<run-id>-trials.<format>)."),
    replicates: bool = typer.Option(False, "--replicates", help="Export the replicate rows instead of the trials."),
    runs_dir: str | None = RUNS_DIR,
) -> None:
    """Export a run's trials (one row per trial, every parameter a column) as CSV or Parquet."""
    import fsspec

    if fmt not in ("csv", "parquet"):
        fail(f"--format {fmt!r} is not supported", hint="use --format csv or --format parquet")
    trial_rows, replicate_rows = _store(run_id, runs_dir).load()
    frame = replicate_rows if replicates else trial_rows
    target = out or f"{run_id}-{'replicates' if replicates else 'trials'}.{fmt}"
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buffer)
    else:
        frame.write_parquet(buffer)
    fs, path = fsspec.core.url_to_fs(target)
    parent = str(Path(path).parent) if "://" not in target else None
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, buffer.getvalue())
    console.print(f"wrote {frame.height} rows to {target}", highlight=False)


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
    console.print(f"loss by trial:  {files.loss}", highlight=False)
    if files.pairs:
        console.print(f"parameters:     {files.pairs}", highlight=False)
    if files.posterior:
        console.print(f"posterior:      {files.posterior}", highlight=False)
    if files.fit:
        console.print(f"best fit:       {files.fit}", highlight=False)
    elif files.fit_error:
        console.print(f"[yellow]best fit not drawn:[/] {files.fit_error}", highlight=False)
