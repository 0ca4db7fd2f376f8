"""ABC-SMC through `mops run`: the SIR posterior covers the truth; kill -9 in generation 2 + --resume gives the same
posterior.parquet as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from science_helpers import SIR, sir_abc_spec, write_study

from modelops.runner.driver import RunOptions, run_study
from modelops.runner.posterior import POSTERIOR, posterior_summary
from modelops.store.results import RunStore

pytestmark = pytest.mark.slow
TRUTH = json.loads((SIR / "data" / "truth.json").read_text())["params"]


def test_abc_smc_on_sir_covers_the_true_parameters(tmp_path: Path) -> None:
    spec = write_study(tmp_path / "s", sir_abc_spec(population_size=150, generations=6))
    summary = run_study(spec, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="abc", handle_signals=False))
    assert summary.status == "completed"
    post = posterior_summary(RunStore(str(tmp_path / "runs"), "abc"))
    assert post is not None and post["generations"] == 6 and post["particles"] == 150
    for name, truth in TRUTH.items():
        s = post["params"][name]
        print(f"{name}: median {s['median']:.4f}, 90% CI [{s['lo']:.4f}, {s['hi']:.4f}], truth {truth}")
        assert s["lo"] <= truth <= s["hi"]
    assert post["params"]["beta"]["hi"] - post["params"]["beta"]["lo"] < 0.3  # it learnt: the prior spans 0.1..1


def _posterior_bytes(runs: Path, run_id: str) -> bytes:
    return RunStore(str(runs), run_id).read_bytes(POSTERIOR)


def test_abc_smc_kill_9_in_generation_2_then_resume_gives_the_same_posterior(tmp_path: Path, mops_cmd) -> None:
    spec = write_study(tmp_path / "s", sir_abc_spec(population_size=40, generations=4))
    runs = tmp_path / "runs"
    ref = run_study(spec, RunOptions(runs_dir=str(runs), run_id="ref", handle_signals=False))
    assert ref.status == "completed"

    proc = subprocess.Popen(
        [*mops_cmd, "run", str(spec), "--runs-dir", str(runs), "--run-id", "k"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    store = RunStore(str(runs), "k")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            if store.fs.exists(store.path(POSTERIOR)):
                gens = pl.read_parquet(store.path(POSTERIOR))["generation"].max()
                if gens == 1:  # generations 0 and 1 written: generation 2 is being sampled
                    break  # kill now: the process pool can finish a whole generation in a fraction of a second
            time.sleep(0.05)
        else:
            raise AssertionError("generation 2 never started")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    killed_at = store.load_trials().height
    assert pl.read_parquet(store.path(POSTERIOR))["generation"].max() == 1  # killed inside generation 2
    assert store.manifest()["status"] == "running"

    done = subprocess.run(
        [*mops_cmd, "run", str(spec), "--runs-dir", str(runs), "--resume", "k"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    after = store.load_trials()
    print(f"killed after {killed_at} trials in generation 2; resumed to {after.height} (uninterrupted: {ref.recorded})")
    assert after["param_id"].n_unique() == after.height
    assert _posterior_bytes(runs, "k") == _posterior_bytes(runs, "ref")
    assert pl.read_parquet(store.path(POSTERIOR)).equals(pl.read_parquet(RunStore(str(runs), "ref").path(POSTERIOR)))
