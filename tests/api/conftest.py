"""Helpers for the Python API's tests: a project folder holding the SIR model and its observed data."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SIR = REPO / "examples" / "sir"


def sir_study(**changes: Any) -> dict[str, Any]:
    """A small SIR study as a dict with paths relative to the project folder (the API resolves them)."""
    study: dict[str, Any] = {
        "name": "sir-api",
        "model": {"fn_ref": "sir_model:simulate"},
        "parameters": {
            "beta": {"low": 0.1, "high": 1.0, "log": True},
            "gamma": {"low": 0.03, "high": 0.5, "log": True},
            "fixed": {"population": 100000, "initial_infected": 100, "days": 100},
        },
        "targets": [
            {
                "name": "incidence",
                "output": "incidence",
                "observed": "data/observed.csv",
                "keys": ["day"],
                "values": ["cases"],
                "loss": "mse",
            }
        ],
        "algorithm": {"ref": "optuna", "sampler": "tpe", "n_trials": 10, "seed": 7},
        "replicates": 2,
    }
    study.update(changes)
    return study


@pytest.fixture
def sir_project(tmp_path: Path) -> Path:
    """A copy of examples/sir (model module + data) in a temporary folder."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(SIR / "sir_model.py", folder / "sir_model.py")
    shutil.copytree(SIR / "data", folder / "data")
    return folder
