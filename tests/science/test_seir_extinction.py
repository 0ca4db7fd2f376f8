"""The SEIR-with-extinction case of issue 14: a Poisson target on an epidemic that may die out early.

A simulated rate of 0 where cases were observed used to fail the trial (likelihood 0), so most trials were FAILED and
the sampler learnt from nothing. With the default on_impossible: penalty they complete with a graded, finite loss.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from science_helpers import HERE, write_study
from seir_model import simulate

from modelops.runner.driver import RunError, RunOptions, run_study
from modelops.store.results import RunStore

pytestmark = pytest.mark.slow
TRUTH = {"beta": 0.5, "gamma": 0.2}
# The likelihood has a ridge along R0 = beta/gamma and a local mode near R0 1.9: at 120 trials TPE recovered the truth
# from 1 of 5 seeds, at 400 trials from seeds 1, 2 and 3 (not 5, which stays in the local mode). SEIR_N/SEIR_SEED
# explore other budgets and seeds.
N_TRIALS = int(os.environ.get("SEIR_N", "400"))
SEED = int(os.environ.get("SEIR_SEED", "1"))


def _spec(folder: Path, on_impossible: str | None) -> Path:
    observed = simulate(TRUTH, 1)["incidence"]  # a typical epidemic, with sporadic cases in its first days
    folder.mkdir(parents=True, exist_ok=True)
    observed.write_csv(folder / "observed.csv")
    target: dict[str, Any] = {
        "name": "incidence",
        "output": "incidence",
        "observed": "observed.csv",
        "keys": ["day"],
        "values": ["cases"],
        "loss": "poisson_nll",
        "combine": "mean_signal",
    }
    if on_impossible:
        target["on_impossible"] = on_impossible
    return write_study(
        folder,
        {
            "apiVersion": "modelops/v1",
            "kind": "Study",
            "name": "seir",
            "model": {"fn_ref": "seir_model:simulate", "project": str(HERE)},
            "parameters": {"beta": {"low": 0.2, "high": 1.2, "log": True}, "gamma": {"low": 0.05, "high": 0.6}},
            "targets": [target],
            "algorithm": {"ref": "optuna", "sampler": "tpe", "n_trials": N_TRIALS, "seed": SEED},
            "replicates": 2,
            "execution": {"workers": 0},
        },
    )


def test_seir_extinction_penalty_completes_every_trial_and_recovers_the_parameters(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "penalty", None)
    summary = run_study(spec, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="pen", handle_signals=False))
    trials = RunStore(str(tmp_path / "runs"), "pen").load_trials()
    penalised = trials["summaries"].fill_null("").str.contains('"impossible"', literal=True).sum()
    best = json.loads(trials.sort("loss").row(0, named=True)["params_json"])
    print(
        f"penalty: {summary.completed} completed, {summary.failed} failed, {penalised} penalised; best beta "
        f"{best['beta']:.3f} gamma {best['gamma']:.3f} (truth {TRUTH['beta']}, {TRUTH['gamma']})"
    )
    assert summary.failed == 0 and summary.completed == N_TRIALS
    assert penalised > 0  # the case arises: impossible fits were scored, not failed
    assert abs(best["beta"] / best["gamma"] - 2.5) < 0.25 * 2.5  # R0 recovered within 25%
    assert abs(best["beta"] - TRUTH["beta"]) < 0.25 * TRUTH["beta"]


def test_seir_extinction_fail_keeps_the_old_behaviour(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "fail", "fail")
    # Every early trial FAILS on a day with no simulated case, so the runner's fail-fast stops the run: the sampler
    # never had a completed trial to learn from.
    with pytest.raises(RunError, match="trials all failed") as info:
        run_study(spec, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="fail", handle_signals=False))
    trials = RunStore(str(tmp_path / "runs"), "fail").load_trials()
    failed = trials.filter(pl.col("status") == "failed")
    print(f"fail: {trials.height} trials, {failed.height} failed; {str(info.value).splitlines()[0]}")
    assert failed.height == trials.height >= 10
    assert failed["error"].str.contains("simulated rate is 0").all()
