"""Hostile models: ones that hang, exit, segfault, stop themselves or kill their parent, at run time or at import.

They rely on ``execution.timeout_s`` (a per-simulation time limit) and on the backends replacing workers that die,
hang or stop (issue 13 item 4, issue 20 items 4-5). Each runs as a real `mops` process under a hard time limit, so a
hang is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hostile_corpus import MODELS, base_spec, write_spec

MOPS = [sys.executable, "-c", "from modelops.cli.app import main; main()"]
LIMIT_S = 180


def _study(tmp: Path, fn: str, n_trials: int = 30, timeout_s: float = 2) -> Path:
    spec = base_spec(
        name="hostile-models",
        model={"fn_ref": fn, "project": str(MODELS)},
        parameters={"slope": {"low": 0.0, "high": 4.0}},
        algorithm={"ref": "optuna", "sampler": "random", "n_trials": n_trials, "seed": 5},
        execution={"workers": 2, "timeout_s": timeout_s},
    )
    return write_spec(tmp, spec)


def _mops(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "MODELOPS_"))}
    env["HOME"] = str(tmp / "home")
    try:
        return subprocess.run([*MOPS, *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=LIMIT_S)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"hang: `mops {' '.join(args)}` did not exit within {LIMIT_S} s\n{exc.stderr}") from None


def _completes_with_failed_trials(tmp: Path, fn: str, cause: str) -> None:
    """The run completes; the misbehaving trials are FAILED with ``cause`` in their error, every other COMPLETE."""
    spec = _study(tmp, fn)
    done = _mops(tmp, "run", str(spec), "--runs-dir", str(tmp / "runs"), "--run-id", "h1", "--json")
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback (most recent call last)" not in done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "completed" and summary["recorded"] == 30
    trials = pl.read_parquet(tmp / "runs" / "h1" / "trials.parquet")
    failed = trials.filter(pl.col("status") != "completed")
    assert failed.height >= 1 and trials.height - failed.height >= 1
    assert all(cause in (e or "").lower() for e in failed["error"].to_list()), failed["error"].to_list()


def test_a_model_that_hangs_is_timed_out(tmp_path: Path) -> None:
    _completes_with_failed_trials(tmp_path, "hostile_model:hang_sometimes", "timeout")


def test_a_model_that_exits_fails_its_trials_only(tmp_path: Path) -> None:
    _completes_with_failed_trials(tmp_path, "hostile_model:exit_sometimes", "exit")


def test_a_model_that_segfaults_fails_its_trials_only(tmp_path: Path) -> None:
    _completes_with_failed_trials(tmp_path, "hostile_model:segfault_sometimes", "sig")


def test_a_model_that_stops_itself_is_timed_out(tmp_path: Path) -> None:
    _completes_with_failed_trials(tmp_path, "hostile_model:stop_self", "timeout")


def test_a_model_that_kills_its_parent_does_not_end_the_run(tmp_path: Path) -> None:
    spec = _study(tmp_path, "hostile_model:kill_parent", n_trials=12)
    done = _mops(tmp_path, "run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--run-id", "k1")
    assert done.returncode in (0, 10), f"exit {done.returncode}\n{done.stderr}"
    assert done.stderr.strip() and "Traceback (most recent call last)" not in done.stderr.split("error:")[0]
    manifest = json.loads((tmp_path / "runs" / "k1" / "manifest.json").read_text())
    assert manifest["status"] in ("completed", "failed")  # never left at "running"


@pytest.mark.parametrize("module", ["import_exit", "import_segfault"])
def test_a_model_that_dies_at_import_fails_fast_with_the_cause(tmp_path: Path, module: str) -> None:
    spec = _study(tmp_path, f"{module}:simulate", n_trials=5)
    done = _mops(tmp_path, "run", str(spec), "--runs-dir", str(tmp_path / "runs"))
    assert done.returncode not in (0, 3, 139, -11), f"a bare exit {done.returncode}\n{done.stderr}"
    assert "error:" in done.stderr and module in done.stderr, done.stderr
