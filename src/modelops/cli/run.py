"""`mops run SPEC`: calibrate a study end to end (locally by default) with a live progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from modelops.cli.output import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    console,
    err_console,
    fail,
    print_json,
    run_failed,
    styled,
)
from modelops.cli.runs import check_runs_dir


def _best_table(trials: Any, limit: int = 5) -> Table:
    import polars as pl

    # Searched parameters only: fixed ones hold one value across the run and would only crowd the table.
    params = [c for c in trials.columns if c.startswith("param.") and trials[c].n_unique() > 1]
    losses = [c for c in trials.columns if c.startswith("loss.")]
    best = trials.filter(pl.col("status") == "completed").sort("loss").head(limit)
    table = Table(title=f"best {min(limit, best.height)} trials", header_style="bold")
    table.add_column("trial", justify="right")
    table.add_column("loss", justify="right")
    for c in params:
        table.add_column(c.removeprefix("param."), justify="right")
    for c in losses if len(losses) > 1 else []:
        table.add_column(c, justify="right")
    for row in best.iter_rows(named=True):
        cells = [str(row["trial"]), f"{row['loss']:.6g}"]
        cells += [f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in params]
        cells += [f"{row[c]:.6g}" if row[c] is not None else "-" for c in (losses if len(losses) > 1 else [])]
        table.add_row(*cells)
    return table


def run(
    spec: Path = typer.Argument(..., help="The study spec (YAML, kind: Study).", show_default=False),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=0, help="Local worker processes (0: run in this process, for debugging)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of a running Dask scheduler (default: $DASK_SCHEDULER_ADDRESS if set)."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Continue run RUN_ID: keeps its trials, reuses cached simulations, tops up to n_trials."
    ),
    run_id: str | None = typer.Option(
        None, "--run-id", help="Name the run (continues it if it already exists; runners sharing a study use one id)."
    ),
    runs_dir: str | None = typer.Option(
        None,
        "--runs-dir",
        help="Where runs are kept: a path or fsspec URL (default $MODELOPS_RUNS_DIR or .modelops/runs).",
        callback=check_runs_dir,
    ),
    as_json: bool = typer.Option(False, "--json", help="No progress bar; print the run summary as JSON."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port (default: $MODELOPS_METRICS_PORT)."
    ),
) -> None:
    """Calibrate a study: ask the algorithm, simulate every parameter set's replicates, score them, repeat.

    Results go to <runs-dir>/<run-id>/: trials.parquet (one row per trial), replicates.parquet, manifest.json and
    the spec. Ctrl-C once finishes the simulations in flight and stops (resume later with --resume RUN_ID); twice
    cancels them.

    Examples:

      mops run examples/sir/study.yaml

      mops run study.yaml --workers 4 --run-id sir-a

      mops run study.yaml --resume sir-a

      mops run study.yaml --scheduler tcp://10.0.0.5:8786 --runs-dir az://results/runs
    """
    from modelops.runner import RunOptions, RunProgress, run_study
    from modelops.runner.ids import check_run_id
    from modelops.specs.inputs import check_runs_dir, check_scheduler_address
    from modelops.specs.study import check_workers
    from modelops.store.locations import runs_dir_url as runs_url

    if resume and run_id and resume != run_id:
        fail(f"--resume {resume} and --run-id {run_id} name different runs", hint="give one of them", code=EXIT_INPUT)
    if workers is not None and scheduler:
        fail(
            "--workers starts a local cluster and --scheduler uses an existing one",
            hint="give one of them",
            code=EXIT_INPUT,
        )
    if check_workers(workers):
        fail(f"--workers: {check_workers(workers)}", code=EXIT_INPUT)
    if scheduler and check_scheduler_address(scheduler):
        fail(f"--scheduler: {check_scheduler_address(scheduler)}", code=EXIT_INPUT)
    check_runs_dir(runs_url(runs_dir))  # an unknown protocol, a file in the way, a read-only directory: say so now
    named = resume or run_id
    if named:
        try:
            check_run_id(named)
        except ValueError as exc:
            fail(str(exc), code=EXIT_INPUT)
    if _is_simulation_spec(spec):  # kind: Simulation, a forward study (runner/forward.py)
        from modelops.cli.simulate import run_simulation_cli

        run_simulation_cli(spec, workers=workers, scheduler=scheduler, run_id=resume or run_id,
                           resume=resume is not None, runs_dir=runs_dir, as_json=as_json)  # fmt: skip
        return
    options = RunOptions(
        workers=workers,
        scheduler=scheduler,
        run_id=resume or run_id,
        resume=resume is not None,
        runs_dir=runs_dir,
        wait_for_close=False,  # this process exits next; the pool's processes stop when it is gone
    )

    progress_bar: Progress | None = None
    task_id: Any = None
    from modelops.runner import metrics as run_metrics

    try:
        port = run_metrics.port_from_env(metrics_port)
    except ValueError as exc:
        fail(str(exc))
    exporter: list[Any] = []  # [RunMetrics, server] once the run id is known

    started: list[str] = []  # the run id, once the run exists: a failure after that is a failed run (exit 10)

    def on_start(rid: str, url: str) -> None:
        nonlocal progress_bar, task_id
        started.append(rid)
        if port is not None:
            m = run_metrics.RunMetrics(rid, run_metrics.study_name(spec))
            try:
                exporter.extend([m, m.serve(port)])
            except OSError as exc:
                fail(f"cannot serve metrics on port {port}: {exc.strerror}", hint="choose another --metrics-port")
        if as_json:
            return
        err_console.print(styled("run [bold]{}[/] -> {}", rid, url), highlight=False)
        progress_bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TextColumn("{task.fields[rate]} sims/s"),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        progress_bar.start()
        task_id = progress_bar.add_task("trials", total=None, best="-", rate="0", failed="")

    def on_progress(p: RunProgress) -> None:
        if exporter:
            exporter[0].observe(p)
        if progress_bar is None:
            return
        progress_bar.update(
            task_id,
            completed=p.recorded,
            total=p.total,
            best=f"{p.best_loss:.6g}" if p.best_loss is not None else "-",
            rate=f"{p.sims_per_s:.0f}",
            failed=f"[yellow]{p.failed} failed[/]" if p.failed else "",
            description="stopping" if p.stopping else "trials",
        )

    try:
        summary = run_study(spec, options, progress=on_progress, on_start=on_start)
    except Exception as exc:
        if started:
            raise run_failed(exc, started[0]) from None
        raise  # the run never started: the error boundary says why (bad input 2, anything else 1)
    finally:  # any error (RunError or not) goes on to the CLI's error boundary: one message, its exit code
        if progress_bar is not None:
            progress_bar.stop()
        if exporter:
            exporter[1].shutdown()

    # Exit codes (docs/user-guide.md): 0 completed, 10 the run ended failed, 130 interrupted (resumable).
    exit_code = {"interrupted": EXIT_INTERRUPTED, "failed": EXIT_RUN_FAILED}.get(summary.status, 0)
    if as_json:
        from modelops.store.trial import trial_json

        # the best trial in the one trial shape every --json uses (docs/python-api.md)
        print_json({**summary.to_json(), "best": trial_json(summary.best)})
        raise typer.Exit(exit_code)
    from modelops.store.results import RunStore  # polars: after the run, which imports it once the workers started

    trials = RunStore(runs_dir or "", summary.run_id).load_trials() if summary.recorded else None
    if trials is not None and trials.height:
        console.print(_best_table(trials))
    state = {"completed": "green", "interrupted": "yellow"}.get(summary.status, "red")
    console.print(
        Text(summary.status, style=state),
        f": {summary.recorded} trials ({summary.completed} completed, {summary.failed} "
        f"failed), {summary.new_trials} new this session; {summary.sims} simulations run, {summary.cached_sims} "
        f"from cache; {summary.elapsed_s:.1f} s on {summary.service}",
        sep="",
        highlight=False,
        soft_wrap=True,
    )
    # Plain lines, never a table: paths must print whole (a terminal-width table would cut them with an ellipsis).
    for label, value in (
        ("run", summary.url),
        ("trials", summary.trials_url),
        ("replicates", summary.replicates_url),
        ("storage", summary.storage),
    ):
        console.print(f"{label:<11}{value}", highlight=False, soft_wrap=True)
    if summary.status == "interrupted":
        console.print(f"resume with: mops run {spec} --resume {summary.run_id}", highlight=False, soft_wrap=True)
    console.print(f"next: mops runs show {summary.run_id}  |  mops runs plot {summary.run_id}", highlight=False)
    raise typer.Exit(exit_code)


def _is_simulation_spec(path: Path) -> bool:
    """True when the file says ``kind: Simulation`` (a forward study, runner/forward.py). Read through the input
    boundary and without importing the forward runner (numpy), which would delay the calibration's workers."""
    from modelops.specs.base import SpecError
    from modelops.specs.inputs import read_yaml_file

    try:
        data = read_yaml_file(path)
    except (OSError, SpecError):
        return False  # the study loader explains what is wrong with the file
    return isinstance(data, dict) and data.get("kind") == "Simulation"
