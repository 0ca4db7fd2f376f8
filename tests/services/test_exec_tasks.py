"""Group tasks run in process: seeds, worker-side evaluation, failures as data, outputs written to a store."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from modelops.services import LocalSimulationService, SimulationError, SimulationGroup, from_ipc, run_group, run_groups
from modelops.services.tasks import MAX_ERROR_CHARS, bounded, read_replicate_outputs, replicate_output_path
from modelops.store.cache import unpack_outputs
from modelops_contracts import derive_seed, make_param_id

from .conftest import MODELS_DIR


def group(fn: str = "walk", params: dict | None = None, r: int = 3, **kw) -> SimulationGroup:
    params = {"steps": 10, "drift": 0.5} if params is None else params
    pid = make_param_id(params)
    seeds = tuple(derive_seed(pid, i) for i in range(r))
    return SimulationGroup(f"exec_models:{fn}", params, pid, seeds, search_path=(MODELS_DIR,), **kw)


def test_exec_group_runs_replicates_with_their_seeds_and_evaluates() -> None:
    g = group(return_outputs=True, evaluator_ref="exec_models:make_evaluator", evaluator_config={"target": 1.0})
    res = run_group(g)
    assert res.ok and res.error is None and res.param_id == g.param_id
    assert [r.seed for r in res.replicates] == list(g.seeds)
    finals = [from_ipc(r.outputs)["summary"]["final"][0] for r in res.replicates]
    seeds_back = [from_ipc(r.outputs)["summary"]["seed"][0] for r in res.replicates]
    assert seeds_back == list(g.seeds)
    mean = sum(finals) / 3
    assert res.evaluation is not None
    assert res.evaluation.loss == pytest.approx((mean - 1.0) ** 2)
    assert [r["final"] for r in res.evaluation.replicate_losses] == pytest.approx([(f - 1.0) ** 2 for f in finals])
    # deterministic in (params, seed)
    assert run_group(g).evaluation.loss == res.evaluation.loss


def test_exec_group_without_return_outputs_ships_no_tables() -> None:
    res = run_group(group())
    assert res.ok and all(r.outputs is None for r in res.replicates)


def test_exec_exception_in_simulation_is_a_failed_replicate_with_traceback() -> None:
    params = {"steps": 5, "fail_seed": 12}
    g = SimulationGroup("exec_models:explode", params, make_param_id(params), (11, 12, 13), search_path=(MODELS_DIR,))
    res = run_group(g)
    assert not res.ok and res.evaluation is None
    assert [r.ok for r in res.replicates] == [True, False, True]
    bad = res.replicates[1]
    assert bad.seed == 12 and "ZeroDivisionError: model blew up for seed 12" in bad.error
    assert "Traceback" in bad.error and "exec_models.py" in bad.error
    assert res.error == bad.error and "replicate 1 (seed 12)" in res.error


def test_exec_every_replicate_failing_reports_first_error() -> None:
    res = run_group(group("explode", {"fail_seed": None}, r=2, evaluator_ref="exec_models:make_evaluator",
                          evaluator_config={"target": 0}))  # fmt: skip
    assert not res.ok and res.evaluation is None
    assert "replicate 0" in res.error and "ZeroDivisionError" in res.error
    assert all(not r.ok for r in res.replicates)


def test_exec_wrong_return_type_names_fn_ref() -> None:
    res = run_group(group("not_a_mapping", {}, r=1))
    assert "TypeError: simulation 'exec_models:not_a_mapping' returned a builtins.list" in res.error
    res = run_group(group("pandas_like", {}, r=1))
    assert "simulation 'exec_models:pandas_like': output 'bad' is a builtins.list" in res.error


def test_exec_load_errors_fail_every_replicate_clearly() -> None:
    g = SimulationGroup("exec_models:nope", {}, make_param_id({}), (1, 2), search_path=(MODELS_DIR,))
    res = run_group(g)
    assert not res.ok and len(res.replicates) == 2
    assert "cannot load simulation 'exec_models:nope'" in res.error and "FnRefError" in res.error


def test_exec_evaluator_failure_is_reported_not_raised() -> None:
    res = run_group(group(evaluator_ref="exec_models:make_broken_evaluator"))
    assert all(r.ok for r in res.replicates) and not res.ok and res.evaluation is None
    assert "evaluator 'exec_models:make_broken_evaluator' failed" in res.error
    assert "observed series 'cases' is missing" in res.error


def test_exec_model_class_is_built_once_per_process() -> None:
    a = run_group(group("CountingModel", {"k": 1}, r=2, return_outputs=True))
    b = run_group(group("CountingModel", {"k": 2}, r=1, return_outputs=True))
    rows = [from_ipc(r.outputs)["out"].row(0, named=True) for r in (*a.replicates, *b.replicates)]
    assert [r["v"] for r in rows] == [101, 101, 102]
    assert {r["instances"] for r in rows} == {1}


def test_exec_outputs_written_one_file_per_replicate(tmp_path: Path) -> None:
    g = group(outputs_url=str(tmp_path / "raw"), r=2)
    res = run_group(g)
    assert res.ok
    for i, seed in enumerate(g.seeds):
        path = Path(replicate_output_path(str(tmp_path / "raw"), g.param_id, i))
        outputs, meta = unpack_outputs(path.read_bytes())
        assert meta == {"fn_ref": g.fn_ref, "param_id": g.param_id, "replicate": i, "seed": seed}
        assert from_ipc(outputs)["summary"]["seed"][0] == seed
        tables, meta_again = read_replicate_outputs(str(path))
        assert meta_again == meta and tables["series"].height == 10
    assert sorted(p.name for p in (tmp_path / "raw" / g.param_id).iterdir()) == [
        "replicate-0000.zip",
        "replicate-0001.zip",
    ]


def test_exec_group_result_pickles_with_its_evaluation() -> None:
    res = run_group(group(evaluator_ref="exec_models:make_evaluator", evaluator_config={"target": 2.0}))
    back = pickle.loads(pickle.dumps(res))
    assert back == res and back.evaluation.summaries["n"] == 3


def test_exec_group_validation() -> None:
    with pytest.raises(ValueError, match="seeds is empty"):
        SimulationGroup("m:f", {}, "pid", ())
    with pytest.raises(ValueError, match="non-negative ints"):
        SimulationGroup("m:f", {}, "pid", (-1,))
    from modelops_contracts import UniqueParameterSet

    ps = UniqueParameterSet.from_dict({"a": {"b": [1, 2]}})
    g = SimulationGroup("m:f", ps.params, ps.param_id, (1,))
    assert g.params == {"a": {"b": [1, 2]}} and type(g.params["a"]) is dict
    pickle.dumps(g)


def test_exec_bounded_errors_keep_head_and_tail() -> None:
    text = "HEAD" + "x" * 50_000 + "TAIL"
    cut = bounded(text)
    assert len(cut) <= MAX_ERROR_CHARS + 100 and cut.startswith("HEAD") and cut.endswith("TAIL")


def test_exec_local_service_submit_gather_and_pipeline() -> None:
    with LocalSimulationService(search_path=[MODELS_DIR]) as svc:
        futures = [svc.submit("exec_models:walk", {"steps": 4}, seed) for seed in (1, 2)]
        outs = svc.gather(futures)
        assert [from_ipc(o)["summary"]["seed"][0] for o in outs] == [1, 2]
        bad = svc.submit("exec_models:explode", {"fail_seed": None}, 3)
        with pytest.raises(SimulationError, match="seed 3") as ei:
            svc.gather([bad])
        assert "ZeroDivisionError" in ei.value.error
        groups = [group(params={"steps": 3, "drift": float(k)}, r=2) for k in range(5)]
        results = list(run_groups(svc, groups))
        assert sorted(r.param_id for r in results) == sorted(g.param_id for g in groups)
        assert all(r.ok for r in results)


def test_exec_local_pipeline_next_result_when_idle() -> None:
    svc = LocalSimulationService()
    with svc.pipeline() as pipe:
        assert pipe.next_result(timeout=0.01) is None
        pipe.submit(group(r=1))
        assert pipe.in_flight == 1
        assert pipe.next_result().ok
        assert pipe.in_flight == 0
    with pytest.raises(RuntimeError, match="cancelled or closed"):
        pipe.submit(group(r=1))


def test_exec_a_given_evaluator_key_is_trusted_and_names_the_evaluator(monkeypatch):
    """A runner digests its (large) evaluator config once; groups carrying that key are neither copied nor hashed
    again, and a worker builds one evaluator per key."""
    from modelops.services import tasks

    config = {"target": 2.0, "observed": list(range(1000))}
    key = tasks.config_digest(config)
    assert key == tasks.config_digest(json.loads(json.dumps(config)))  # content, not identity
    assert group(evaluator_ref="exec_models:make_evaluator", evaluator_config=config).evaluator_key == key
    given = group(evaluator_ref="exec_models:make_evaluator", evaluator_config=config, evaluator_key=key)
    assert given.evaluator_config is config  # not copied

    def no_digest(*args, **kwargs):
        raise AssertionError("the config was hashed again")

    monkeypatch.setattr(tasks, "config_digest", no_digest)
    first, second = run_group(given), run_group(given)
    assert first.ok and second.ok and first.evaluation == second.evaluation
    assert sum(k[1] == key for k in tasks._evaluators) == 1
