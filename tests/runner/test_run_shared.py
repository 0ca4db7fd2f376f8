"""Several `mops run` processes sharing one study through PostgreSQL (what the adaptive pods do)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from modelops.store.results import RunStore

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_two_runners_with_one_run_id_share_the_budget(toy_study, tmp_path: Path, mops_cmd, postgres) -> None:
    n_trials = 24
    spec = toy_study(
        parameters={"slope": {"low": 0.0, "high": 4.0}, "fixed": {"sleep_s": 0.02}},
        algorithm={"ref": "optuna", "sampler": "tpe", "n_trials": n_trials, "seed": 5},
        storage={"kind": "postgres"},  # no dsn: PGHOST/PGPORT/PGUSER/PGDATABASE from the environment
    )
    env = {**os.environ, **postgres.env()}
    runs = tmp_path / "runs"
    command = [*mops_cmd, "run", str(spec), "--runs-dir", str(runs), "--run-id", "shared", "--workers", "0", "--json"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
    ]
    outcomes = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
    store = RunStore(str(runs), "shared")
    trials = store.load_trials()
    assert trials.height == n_trials  # exactly the budget, in total
    assert trials["param_id"].n_unique() == n_trials  # no parameter set evaluated twice
    assert trials["runner"].n_unique() == 2  # both took part
    assert sorted(trials["trial"].to_list()) == list(range(n_trials))
    assert trials.filter(pl.col("status") == "completed").height == n_trials
    manifest = store.manifest()
    assert manifest["storage"].startswith("postgresql+psycopg://postgres@127.0.0.1")
