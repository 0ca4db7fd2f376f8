"""A study run from a bundle on `dask scheduler` + `dask worker` processes whose working directory does not hold
the model code: the workers fetch the bundle by digest, import the model and its evaluator from it, and give the
same results as running the project locally. A changed bundle never reuses cached outputs of the old one.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from modelops.bundles import push
from modelops.services import LocalSimulationService, SimulationGroup, from_ipc, run_groups
from modelops.services.dask import DaskSimulationService
from modelops_contracts import derive_seed, make_param_id
from modelops_testing.dask_cluster import dask_cli_cluster

PACKAGE = "bundled_sir_e2e"  # a name nothing else provides: if workers import it, it came from the bundle
MODEL = '''\
"""A stochastic SIR model, deterministic in (params, seed)."""

import numpy as np
import polars as pl

from bundled_sir_e2e.settings import DAYS, POPULATION


def simulate(params, seed):
    rng = np.random.default_rng(seed)
    beta, gamma = float(params["beta"]), float(params["gamma"])
    s, i, r = POPULATION - 10, 10, 0
    rows = []
    for day in range(DAYS):
        new_i = rng.binomial(s, 1 - np.exp(-beta * i / POPULATION))
        new_r = rng.binomial(i, 1 - np.exp(-gamma))
        s, i, r = s - new_i, i + new_i - new_r, r + new_r
        rows.append((day, int(i)))
    return {"prevalence": pl.DataFrame(rows, schema={"day": pl.Int64, "infected": pl.Int64}, orient="row")}
'''
TARGETS = '''\
"""The evaluator factory: mean squared error of prevalence against observed counts (given in the config)."""

import numpy as np

from modelops_contracts import TargetEvaluation


class Prevalence:
    def __init__(self, config):
        self.observed = np.asarray(config["observed"], dtype=float)

    def evaluate(self, replicates):
        losses = []
        for outputs in replicates:
            sim = outputs["prevalence"]["infected"].to_numpy().astype(float)
            losses.append({"prevalence": float(np.mean((sim - self.observed) ** 2))})
        loss = float(np.mean([x["prevalence"] for x in losses]))
        return TargetEvaluation(loss, {"prevalence": loss}, losses, {"n": len(replicates)})


def make(config):
    return Prevalence(config)
'''


def _project(root: Path, days: int) -> Path:
    pkg = root / PACKAGE
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "settings.py").write_text(f"DAYS = {days}\nPOPULATION = 1000\n")
    (pkg / "model.py").write_text(MODEL)
    (pkg / "targets.py").write_text(TARGETS)
    return root


def _groups(*, bundle_ref: str | None, search_path: tuple[str, ...], cache_url: str | None) -> list[SimulationGroup]:
    observed = [10 + 3 * d for d in range(30)]
    groups = []
    for beta in (0.2, 0.35, 0.5):
        for gamma in (0.1, 0.2):
            params = {"beta": beta, "gamma": gamma}
            pid = make_param_id(params)
            groups.append(
                SimulationGroup(
                    f"{PACKAGE}.model:simulate",
                    params,
                    pid,
                    tuple(derive_seed(pid, i) for i in range(3)),
                    bundle_ref=bundle_ref,
                    evaluator_ref=f"{PACKAGE}.targets:make",
                    evaluator_config={"observed": observed},
                    cache_url=cache_url,
                    return_outputs=True,
                    search_path=search_path,
                )
            )
    return groups


def _outcome(results) -> dict:
    """param_id -> (loss, replicate losses, decoded outputs as plain lists): everything that must match."""
    out = {}
    for r in results:
        assert r.ok, r.error
        tables = [from_ipc(rep.outputs)["prevalence"].to_dict(as_series=False) for rep in r.replicates]
        out[r.param_id] = (r.evaluation.loss, [dict(x) for x in r.evaluation.replicate_losses], tables)
    return out


@pytest.fixture
def forget_local_import():
    saved = list(sys.path)
    yield
    sys.path[:] = saved
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@pytest.mark.slow
def test_study_from_a_bundle_on_dask_cli_workers_matches_local(tmp_path, forget_local_import):
    project = _project(tmp_path / "laptop" / "sir-project", days=30)
    repo = tmp_path / "bundle-repo"
    ref = push(project, str(repo)).ref

    # The modeller's local run: the project directory on the import path, in this process.
    with LocalSimulationService() as local:
        expected = _outcome(run_groups(local, _groups(bundle_ref=None, search_path=(str(project),), cache_url=None)))

    # Take the code away: from here on, only the bundle repository has it.
    shutil.move(str(project), str(tmp_path / "elsewhere"))
    worker_cache = tmp_path / "worker-bundle-cache"
    sim_cache = f"file://{tmp_path / 'sim-cache'}"
    env = {"MODELOPS_BUNDLE_CACHE": str(worker_cache), "MODELOPS_BUNDLE_REPOSITORY": str(repo)}
    with dask_cli_cluster(n_workers=2, env=env) as cluster, DaskSimulationService(cluster.address) as service:
        first = list(run_groups(service, _groups(bundle_ref=ref, search_path=(), cache_url=sim_cache)))
        assert _outcome(first) == expected
        assert {r.worker for r in first} == {"w0", "w1"}  # both worker processes fetched and ran the bundle
        assert sum(r.n_cached for r in first) == 0

        files = service.client.run(lambda: sys.modules[f"{PACKAGE}.model"].__file__)
        hex_ = ref.rsplit("sha256:", 1)[1]
        assert all(f.startswith(str(worker_cache / "sha256" / hex_)) for f in files.values())
        cwds = service.client.run(lambda: __import__("os").getcwd())
        assert all(not (Path(c) / PACKAGE).exists() for c in cwds.values())

        again = list(run_groups(service, _groups(bundle_ref=ref, search_path=(), cache_url=sim_cache)))
        assert _outcome(again) == expected and all(r.n_cached == 3 for r in again)  # same digest: cache hits

        # A code change is a new digest: nothing cached is reused, and workers switch to the new code.
        changed = _project(tmp_path / "laptop2" / "sir-project", days=20)
        ref2 = push(changed, str(repo)).ref
        assert ref2 != ref
        v2 = list(run_groups(service, _groups(bundle_ref=ref2, search_path=(), cache_url=sim_cache)))
        assert sum(r.n_cached for r in v2) == 0
        assert all(len(from_ipc(rep.outputs)["prevalence"]) == 20 for r in v2 for rep in r.replicates)

        back = list(run_groups(service, _groups(bundle_ref=ref, search_path=(), cache_url=sim_cache)))
        assert _outcome(back) == expected  # and back to the first bundle: its code and cached outputs

    assert (worker_cache / "sha256" / f"{hex_}.complete").exists()
    assert not list((worker_cache / "sha256").glob("*.partial-*"))
