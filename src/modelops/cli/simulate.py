"""`mops run SPEC` for a forward simulation study (`kind: Simulation`): parameter sets x scenarios x replicates."""

from __future__ import annotations

from pathlib import Path

from modelops.cli.output import console, err_console, fail, print_json


def run_simulation_cli(
    spec: Path,
    *,
    workers: int | None,
    scheduler: str | None,
    run_id: str | None,
    resume: bool,
    runs_dir: str | None,
    as_json: bool,
) -> None:
    """Run the study and print where its outputs are and how to read them."""
    from modelops.runner.forward import ForwardError, run_simulation

    def progress(done: int, total: int) -> None:
        if not as_json and (done == total or done % 50 == 0):
            err_console.print(f"{done}/{total} parameter sets simulated", highlight=False)

    try:
        summary = run_simulation(
            spec,
            workers=workers,
            scheduler=scheduler,
            run_id=run_id,
            resume=resume,
            runs_dir=runs_dir,
            progress=progress,
        )
    except ForwardError as exc:
        fail(str(exc))
    if as_json:
        print_json(summary.to_json())
        return
    state = "green" if summary.status == "completed" else "yellow"
    console.print(
        f"[{state}]{summary.status}[/]: {summary.groups} parameter sets x scenarios ({summary.ok} ok, "
        f"{summary.failed} failed, {summary.skipped} already done), {summary.simulations} simulations in "
        f"{summary.elapsed_s:.1f} s",
        highlight=False,
    )
    console.print(f"outputs    {summary.outputs_url}/<output>/<scenario>/<param_id>/replicate-*.parquet")
    glob = f"{summary.outputs_url}/<output>/**/*.parquet"
    console.print(f"read with  duckdb.sql(\"select * from '{glob}'\")", highlight=False)
    if summary.failed:
        fail(f"{summary.failed} parameter sets failed; see {summary.url}/simulations.parquet (column error)")
