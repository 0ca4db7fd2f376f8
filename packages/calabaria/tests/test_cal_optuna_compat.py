"""The Optuna compat layer: the version gate, every private-API assumption checked against the installed Optuna,
and no global log level change at import.

CI runs this file against the locked Optuna. A compat job runs it, with the algorithm tests, against the oldest and
the newest supported releases (checked by hand at 4.3.0 and 5.0.0: all pass; 4.2 lacks UpdateFinishedTrialError):
    uv run --with 'optuna==4.3.0' pytest packages/calabaria/tests/test_cal_optuna_compat.py \
        packages/calabaria/tests/test_cal_optuna.py packages/calabaria/tests/test_cal_perf_census.py
    uv run --with 'optuna<6' pytest ...   (the newest release in range)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from calabaria.algorithms import _optuna_compat as compat


def test_the_installed_optuna_meets_every_assumption() -> None:
    held = compat.self_check()
    print("\n".join(held))
    assert len(held) == 4


@pytest.mark.parametrize("version", ["4.3.0", "4.5.1", "5.0.0", "5.9.0.dev0"])
def test_supported_versions_pass_the_gate(version: str) -> None:
    assert compat.check_version(version) >= (4, 0)


@pytest.mark.parametrize("version", ["3.6.1", "4.2.0", "6.0.0", "10.1"])
def test_unsupported_versions_are_refused_naming_the_range(version: str) -> None:
    with pytest.raises(compat.OptunaVersionError, match=r"supports optuna>=4\.3,<6, but Optuna .* is installed"):
        compat.check_version(version)


def test_the_pyproject_bound_matches_the_gate() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'"{compat.SUPPORTED_TEXT}"' in text


def test_importing_calabaria_leaves_optunas_log_level_alone() -> None:
    code = (
        "import logging, optuna\n"
        "before = optuna.logging.get_verbosity()\n"
        "import calabaria.algorithms\n"
        "from calabaria.algorithms import OptunaAlgorithm\n"
        "OptunaAlgorithm({'x': {'low': 0.0, 'high': 1.0}}, n_trials=2)\n"
        "print(before, optuna.logging.get_verbosity())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    before, after = out.stdout.split()
    assert before == after == "20"  # INFO, Optuna's default, untouched
    assert "A new study created" not in out.stderr  # yet creating the study printed nothing
