"""The Starsim example runs under `mops run` (skipped unless the optional starsim extra is installed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelops.runner import RunOptions, run_study

pytest.importorskip("starsim", reason="the starsim extra is not installed (uv sync --extra starsim)")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "starsim"


@pytest.mark.slow
def test_the_starsim_study_runs_in_process(tmp_path: Path) -> None:
    spec = yaml.safe_load((EXAMPLE / "study.yaml").read_text())
    spec["model"]["project"] = str(EXAMPLE)
    spec["targets"][0]["observed"] = str(EXAMPLE / "data" / "observed.csv")
    spec["algorithm"]["n_trials"] = 3
    spec["replicates"] = 1
    spec["execution"] = {"workers": 0}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    summary = run_study(path, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="ss"))
    assert summary.status == "completed" and summary.completed == 3
