"""Helpers for the runner's tests: write a study spec for the toy model (or the SIR example) into a directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def write_toy_study(folder: Path, **overrides: Any) -> Path:
    """A toy study (noisy line, true slope 2.0) in ``folder``; keyword overrides replace top-level spec keys whole."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(10)
    rng = np.random.default_rng(0)
    pl.DataFrame({"t": t, "y": 2.0 * t + 1.0 + rng.normal(0, 0.5, t.size)}).write_csv(folder / "observed.csv")
    spec: dict[str, Any] = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": "toy",
        "model": {"fn_ref": "run_toy_model:simulate", "project": str(HERE)},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0}},
        "targets": [
            {
                "name": "line",
                "output": "line",
                "observed": "observed.csv",
                "keys": ["t"],
                "values": ["y"],
                "loss": "mse",
            }
        ],
        "algorithm": {"ref": "optuna", "sampler": "random", "n_trials": 12, "seed": 3},
        "replicates": 2,
        "execution": {"workers": 0},
    }
    for key, value in overrides.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def toy_study(tmp_path: Path):
    """A factory: toy_study(**overrides) -> the spec path (runs go to tmp_path / 'runs')."""

    def make(**overrides: Any) -> Path:
        return write_toy_study(tmp_path / "study", **overrides)

    return make


@pytest.fixture(autouse=True)
def _no_scheduler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A DASK_SCHEDULER_ADDRESS left in the environment would send these tests to some other cluster.
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.delenv("MODELOPS_RUNS_DIR", raising=False)


@pytest.fixture
def mops_cmd() -> list[str]:
    """How tests start `mops` as a separate process (what the console script runs)."""
    return [sys.executable, "-c", "from modelops.cli.app import main; main()"]
