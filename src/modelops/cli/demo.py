"""`mops demo`: calibrate the SIR example end to end and draw its plots (about a minute on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from modelops.cli.output import console, fail, styled

EXAMPLE = Path("examples") / "sir" / "study.yaml"


def find_example(start: Path | None = None) -> Path:
    """examples/sir/study.yaml in the working directory or a parent, else next to this checkout's sources."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / EXAMPLE).is_file():
            return folder / EXAMPLE
    # An editable install or a source checkout: src/modelops/cli/demo.py -> repository root is three levels up.
    checkout = Path(__file__).resolve().parents[3] / EXAMPLE
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(str(EXAMPLE))


def demo(
    workers: int = typer.Option(2, "--workers", "-w", min=0, help="Local worker processes."),
    runs_dir: str | None = typer.Option(None, "--runs-dir", help="Where to keep the run (default .modelops/runs)."),
) -> None:
    """Run the SIR example: recover known beta and gamma from observed incidence, then plot the result.

    Runs examples/sir/study.yaml with `mops run`, prints the best parameters next to the true ones (from
    examples/sir/data/truth.json) and writes the plots; everything lands in .modelops/runs/<run-id>/.
    """
    from modelops.cli.run import _best_table
    from modelops.runner import RunError, RunOptions, run_study
    from modelops.runner.plots import PlotError, plot_run
    from modelops.store.results import RunStore

    try:
        spec = find_example()
    except FileNotFoundError:
        fail(
            f"cannot find {EXAMPLE} in this directory, its parents or the ModelOps checkout",
            hint="run `uv run mops demo` from the root of a ModelOps clone",
        )
    console.print(
        styled("[bold]ModelOps demo[/]: calibrating {} on {} local workers", spec, workers),
        highlight=False,
        soft_wrap=True,
    )
    try:
        from rich.status import Status

        with Status("calibrating...", console=console) as status:

            def on_progress(p) -> None:  # type: ignore[no-untyped-def]
                best = f"{p.best_loss:.6g}" if p.best_loss is not None else "-"
                status.update(f"trial {p.recorded}/{p.total}  best loss {best}  {p.sims_per_s:.0f} sims/s")

            summary = run_study(spec, RunOptions(workers=workers, runs_dir=runs_dir), progress=on_progress)
    except RunError as exc:
        fail(str(exc))
    store = RunStore(runs_dir or "", summary.run_id)
    trials = store.load_trials()
    console.print(_best_table(trials))
    truth_file = spec.parent / "data" / "truth.json"
    if summary.best is not None and truth_file.is_file():
        truth = json.loads(truth_file.read_text())["params"]
        for name, true in truth.items():
            found = summary.best.get(f"param.{name}")
            if isinstance(found, float):
                console.print(
                    f"{name}: calibrated {found:.4g}, true {true:.4g} ({100 * (found - true) / true:+.1f}%)",
                    highlight=False,
                )
    try:
        files = plot_run(store)
    except PlotError as exc:
        fail(str(exc))
    console.print(
        f"\n{summary.recorded} trials in {summary.elapsed_s:.0f} s ({summary.sims} simulations) on {summary.service}",
        highlight=False,
    )
    console.print(f"run record: {summary.url}", highlight=False, soft_wrap=True)
    console.print(f"trials:     {summary.trials_url}", highlight=False, soft_wrap=True)
    for label, path in (("plots:", files.loss), ("", files.pairs), ("", files.fit)):
        if path:
            console.print(f"{label:<11} {path}", highlight=False, soft_wrap=True)
    console.print(f"\nnext: mops runs show {summary.run_id}", highlight=False, soft_wrap=True)
