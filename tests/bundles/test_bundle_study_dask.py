"""`mops run` of a study whose spec names `bundle: DIR`, on `dask scheduler` + `dask worker` processes: the runner
pushes the project, the workers (whose working directory and import path hold no model code) fetch it by ref, and
the trials equal those of the same study run in-process from the project directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from modelops.runner import RunOptions, run_study
from modelops.store.results import RunStore
from modelops_testing.dask_cluster import dask_cli_cluster

MODULE = "bundle_study_line"  # importable from nowhere but the project directory (and so the bundle)
MODEL = """\
import numpy as np
import polars as pl


def simulate(params, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(10, dtype=np.int64)
    y = float(params["slope"]) * t + float(params["intercept"]) + rng.normal(0.0, 0.5, size=t.size)
    return {"line": pl.DataFrame({"t": t, "y": y})}
"""


def _spec(folder: Path, name: str, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(10)
    observed = 2.0 * t + 1.0 + np.random.default_rng(0).normal(0, 0.5, t.size)
    pl.DataFrame({"t": t, "y": observed}).write_csv(folder / "observed.csv")
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": name,
        "model": {"fn_ref": f"{MODULE}:simulate", **extra.pop("model", {})},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0}},
        "targets": [
            {"name": "line", "output": "line", "observed": "observed.csv", "keys": ["t"], "values": ["y"]}
            | {"loss": "mse"}
        ],
        "algorithm": {"ref": "optuna", "sampler": "random", "n_trials": 10, "seed": 5},
        "replicates": 2,
        **extra,
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def forget_module():
    saved = list(sys.path)
    yield
    sys.path[:] = saved
    sys.modules.pop(MODULE, None)


@pytest.mark.slow
def test_mops_run_with_a_bundle_on_dask_cli_workers_matches_the_local_run(tmp_path, monkeypatch, forget_module):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / f"{MODULE}.py").write_text(MODEL)
    runs = str(tmp_path / "runs")

    local_spec = _spec(tmp_path / "local", "line-local", model={"project": str(project)}, execution={"workers": 0})
    local = run_study(local_spec, RunOptions(runs_dir=runs, run_id="local", handle_signals=False))
    assert local.status == "completed"

    monkeypatch.setenv("MODELOPS_BUNDLE_REPOSITORY", str(tmp_path / "bundle-repo"))
    bundle_spec = _spec(tmp_path / "bundled", "line-bundled", bundle=str(project))
    worker_cache = tmp_path / "worker-cache"
    # The workers learn nothing but the cache location: the repository comes with the ref in each task.
    env = {"MODELOPS_BUNDLE_CACHE": str(worker_cache), "MODELOPS_BUNDLE_REPOSITORY": ""}
    with dask_cli_cluster(n_workers=2, env=env) as cluster:
        remote = run_study(
            bundle_spec, RunOptions(runs_dir=runs, run_id="bundled", scheduler=cluster.address, handle_signals=False)
        )
    assert remote.status == "completed" and remote.completed == local.completed == 10
    assert cluster.address in remote.service  # the simulations ran on the worker processes
    study = RunStore(runs, "bundled").read_json("study.json")
    assert str(project) not in str(study)  # nothing told the workers where the project directory is

    ref = RunStore(runs, "bundled").manifest()["bundle_ref"]
    hex_ = ref.rsplit("sha256:", 1)[1]
    assert (worker_cache / "sha256" / f"{hex_}.complete").exists()
    assert (worker_cache / "sha256" / hex_ / f"{MODULE}.py").read_text() == MODEL

    def trials(run_id: str) -> list[tuple]:
        df = RunStore(runs, run_id).load_trials().select("param_id", "loss").sort("param_id")
        return list(df.iter_rows())

    assert trials("bundled") == trials("local")
