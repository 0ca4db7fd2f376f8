"""A real `mops run` process killed with SIGKILL, or interrupted with SIGINT, mid-run, then resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from modelops.store.results import RunStore

pytestmark = pytest.mark.slow

N_TRIALS = 30


def _spec(toy_study) -> Path:
    return toy_study(
        parameters={"slope": {"low": 0.0, "high": 4.0}, "fixed": {"sleep_s": 0.04}},
        algorithm={
            "ref": "optuna",
            "sampler": "tpe",
            "n_trials": N_TRIALS,
            "seed": 11,
            "options": {"heartbeat": 1.0, "lease_seconds": 6.0},
        },
        replicates=2,
        execution={"workers": 2},
    )


def _start(mops_cmd: list[str], spec: Path, runs: Path, *extra: str) -> subprocess.Popen:
    # A session of its own, so the test can signal the runner and the Dask workers it started, and nothing else.
    return subprocess.Popen(
        [*mops_cmd, "run", str(spec), "--runs-dir", str(runs), "--run-id", "k", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )


def _wait_for_trials(store: RunStore, n: int, proc: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mops run ended early ({proc.returncode}): {proc.stderr.read()}")
        if store.exists():
            count = store.load_trials().height
            if count >= n:
                return count
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} trials after {timeout} s")


def _finish(mops_cmd: list[str], spec: Path, runs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*mops_cmd, "run", str(spec), "--runs-dir", str(runs), "--resume", "k", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(toy_study, tmp_path: Path, mops_cmd) -> None:
    spec, runs = _spec(toy_study), tmp_path / "runs"
    store = RunStore(str(runs), "k")
    proc = _start(mops_cmd, spec, runs)
    try:
        _wait_for_trials(store, 8, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    before = store.load_trials()
    assert 8 <= before.height < N_TRIALS
    assert store.manifest()["status"] == "running"  # killed: it never got to say otherwise

    done = _finish(mops_cmd, spec, runs)
    assert done.returncode == 0, done.stderr
    after = store.load_trials()
    assert after.height == N_TRIALS
    assert after["param_id"].n_unique() == N_TRIALS  # none duplicated
    kept = before.select("param_id", "loss").join(after.select("param_id", "loss"), on="param_id", how="left")
    assert kept.height == before.height and kept["loss"].equals(kept["loss_right"])  # none lost or changed
    assert store.manifest()["status"] == "completed"
    assert pl.read_parquet(store.path("trials.parquet")).height == N_TRIALS


def test_sigint_finishes_in_flight_work_and_the_run_resumes(toy_study, tmp_path: Path, mops_cmd) -> None:
    spec, runs = _spec(toy_study), tmp_path / "runs"
    store = RunStore(str(runs), "k")
    proc = _start(mops_cmd, spec, runs)
    try:
        _wait_for_trials(store, 6, proc)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err  # interrupted (docs/user-guide.md, exit codes)
    assert "--resume k" in out
    manifest = store.manifest()
    assert manifest["status"] == "interrupted"
    interrupted = store.load_trials()
    assert 6 <= interrupted.height < N_TRIALS
    # In-flight work was finished, not thrown away as failures.
    assert interrupted.filter(pl.col("status") == "failed").height == 0
    done = _finish(mops_cmd, spec, runs)
    assert done.returncode == 0, done.stderr
    after = store.load_trials()
    assert after.height == N_TRIALS and after["param_id"].n_unique() == N_TRIALS
