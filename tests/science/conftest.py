"""Fixtures for the science tests; helpers live in science_helpers.py (on sys.path from here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _no_scheduler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.delenv("MODELOPS_RUNS_DIR", raising=False)


@pytest.fixture
def mops_cmd() -> list[str]:
    return [sys.executable, "-c", "from modelops.cli.app import main; main()"]
