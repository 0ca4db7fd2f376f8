"""modelops.run / open_run: a run as a Python object (tables, best trial, posterior, re-simulation, figures)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from matplotlib.figure import Figure

import modelops
from modelops.store.results import LOSS_PREFIX, PARAM_PREFIX

from .conftest import sir_study


@pytest.fixture
def finished(sir_project: Path, tmp_path: Path) -> modelops.Run:
    return modelops.run(sir_study(), workers=0, runs_dir=str(tmp_path / "runs"), base_dir=sir_project)


def test_run_returns_the_tables_and_the_best_trial(finished: modelops.Run) -> None:
    run = finished
    assert run.status == "completed" and run.error is None
    assert run.trials.height == 10 and run.replicates.height == 20
    assert isinstance(run.trials, pl.DataFrame)
    done = run.trials.filter(pl.col("status") == "completed")
    best = run.best
    assert best is not None and best.loss == done["loss"].min()
    row = done.filter(pl.col("trial") == best.trial).row(0, named=True)
    assert best.params["beta"] == row[PARAM_PREFIX + "beta"] and best.params["population"] == 100000
    assert best.target_losses == {"incidence": row[LOSS_PREFIX + "incidence"]}
    assert [t.loss for t in run.top(3)] == sorted(done["loss"].to_list())[:3]
    assert run.posterior is None
    assert run.summary is not None and run.summary.run_id == run.run_id
    assert run.run_id in repr(run)


def test_open_run_by_id_and_by_path_reads_the_same_record(finished: modelops.Run, tmp_path: Path) -> None:
    by_id = modelops.open_run(finished.run_id, runs_dir=str(tmp_path / "runs"))
    by_path = modelops.open_run(str(tmp_path / "runs" / finished.run_id))
    assert by_id.trials.equals(finished.trials) and by_path.trials.equals(finished.trials)
    assert by_path.best == finished.best
    with pytest.raises(modelops.RunNotFound, match="no run 'nope'"):
        modelops.open_run("nope", runs_dir=str(tmp_path / "runs"))


def test_posterior_is_read_when_the_run_has_one(finished: modelops.Run) -> None:
    draws = pl.DataFrame({"beta": [0.3, 0.31], "gamma": [0.1, 0.11], "weight": [0.5, 0.5]})
    buffer = io.BytesIO()
    draws.write_parquet(buffer)
    finished.store.write_bytes("posterior.parquet", buffer.getvalue())
    assert finished.reload().posterior.equals(draws)


def test_simulate_reproduces_the_best_trial_and_runs_forward(finished: modelops.Run) -> None:
    again = finished.simulate()
    assert len(again) == 2 and set(again[0]) == {"incidence", "prevalence"}
    repeat = finished.simulate()  # the recorded seeds: the same epidemics
    assert all(a["incidence"].equals(b["incidence"]) for a, b in zip(again, repeat, strict=True))
    forward = finished.simulate({"beta": 0.9}, seeds=[1])
    assert len(forward) == 1
    assert forward[0]["incidence"]["cases"].sum() != again[0]["incidence"]["cases"].sum()


def test_plots_are_figures_that_render_as_png(finished: modelops.Run) -> None:
    for name in ("loss", "parameters", "parallel", "fit"):
        fig = getattr(finished.plot, name)()
        assert isinstance(fig, Figure), name
        assert fig._repr_png_().startswith(b"\x89PNG"), name  # what Jupyter shows inline
    pairs = finished.plot.parameters()
    # beta and gamma are searched on a log scale: their axes are log axes
    assert {ax.get_xscale() for ax in pairs.axes[:4]} == {"log"}


def test_a_run_that_cannot_start_raises_run_error(sir_project: Path, tmp_path: Path) -> None:
    with pytest.raises(modelops.RunError, match="cannot import the model"):
        modelops.run(
            sir_study(model={"fn_ref": "no_such_module:simulate"}),
            workers=0,
            runs_dir=str(tmp_path / "runs"),
            base_dir=sir_project,
        )


def test_import_modelops_is_cheap_and_plots_leave_matplotlib_alone(finished: modelops.Run) -> None:
    code = f"""
import sys
import modelops
heavy = [m for m in ("polars", "pydantic", "matplotlib", "dask", "numpy") if m in sys.modules]
assert not heavy, heavy
import matplotlib
run = modelops.open_run({str(finished.url)!r})
run.plot.loss(); run.plot.parameters()
assert matplotlib.rcParams._get_backend_or_none() is None, matplotlib.rcParams._get_backend_or_none()
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_outputs_all_are_read_back_and_equal_a_re_simulation(sir_project: Path, tmp_path: Path) -> None:
    run = modelops.run(
        sir_study(outputs="all"), workers=0, runs_dir=str(tmp_path / "runs"), base_dir=sir_project, n_trials=4
    )
    kept = run.outputs()
    again = run.simulate()
    assert len(kept) == 2
    assert all(k["incidence"].equals(a["incidence"]) for k, a in zip(kept, again, strict=True))
    other = run.top(2)[1]
    assert run.outputs(other)[0]["incidence"].height == 100


def test_outputs_of_a_run_that_kept_none_say_how_to_get_them(finished: modelops.Run) -> None:
    with pytest.raises(ValueError, match=r"outputs: all, or re-create them with run\.simulate"):
        finished.outputs()


def test_progress_true_keeps_one_status_line(
    sir_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = modelops.run(
        sir_study(), workers=0, runs_dir=str(tmp_path / "runs"), base_dir=sir_project, n_trials=4, progress=True
    )
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1  # one line, rewritten in place with \r
    assert f"\r{run.run_id}: trial 4/4, best loss {run.best.loss:.6g}" in err
