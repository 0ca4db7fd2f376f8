"""The SIR example end to end: `mops demo` calibrates within 10% of the truth; runs are reproducible on Dask."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from modelops.runner import RunOptions, run_study
from modelops.store.results import VOLATILE_COLUMNS, RunStore

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SIR = REPO / "examples" / "sir"


def test_mops_demo_recovers_the_true_parameters(tmp_path: Path, mops_cmd) -> None:
    runs = tmp_path / "runs"
    done = subprocess.run(
        [*mops_cmd, "demo", "--runs-dir", str(runs)], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "best_fit.png" in done.stdout and "run record:" in done.stdout
    listed = subprocess.run(
        [*mops_cmd, "runs", "show", _only_run(runs), "--runs-dir", str(runs), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(listed.stdout)
    truth = json.loads((SIR / "data" / "truth.json").read_text())["params"]
    assert report["status"] == "completed" and report["trials"] == 300
    for name, true in truth.items():
        found = report["best"]["params"][name]
        assert abs(found - true) / true < 0.10, f"{name}: calibrated {found}, true {true}"
    for png in ("loss_by_trial.png", "parameters.png", "best_fit.png"):
        assert (runs / report["run_id"] / "plots" / png).stat().st_size > 5000


def _only_run(runs: Path) -> str:
    (run_dir,) = [p for p in runs.iterdir() if (p / "manifest.json").exists()]
    return run_dir.name


def test_the_sir_study_gives_the_same_trials_twice_on_two_dask_workers(tmp_path: Path) -> None:
    spec = yaml.safe_load((SIR / "study.yaml").read_text())
    spec["model"]["project"] = str(SIR)
    spec["targets"][0]["observed"] = str(SIR / "data" / "observed.csv")
    spec["algorithm"]["n_trials"] = 40
    spec["execution"] = {"workers": 2}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    frames = []
    for run_id in ("twice-a", "twice-b"):
        summary = run_study(path, RunOptions(runs_dir=str(tmp_path / "runs"), run_id=run_id))
        assert summary.status == "completed" and summary.recorded == 40
        frames.append(RunStore(str(tmp_path / "runs"), run_id).load_trials())
    keep = [c for c in frames[0].columns if c not in VOLATILE_COLUMNS]
    assert frames[0].select(keep).equals(frames[1].select(keep))
