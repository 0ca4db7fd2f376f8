"""The ask/tell driver in process (workers: 0): records, failures, fail-fast, resume, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from modelops.runner import RunError, RunOptions, run_study
from modelops.store.results import VOLATILE_COLUMNS, RunStore

FAST_LEASE = {"heartbeat": 0.2, "lease_seconds": 0.6}


def _run(spec: Path, runs: Path, run_id: str, **kwargs) -> object:
    return run_study(spec, RunOptions(runs_dir=str(runs), run_id=run_id, **kwargs))


def test_a_run_records_every_trial_with_diagnostics_and_provenance(toy_study, tmp_path: Path) -> None:
    target = {"name": "line", "output": "line", "observed": "observed.csv", "keys": ["t"], "values": ["y"]}
    spec = toy_study(targets=[{**target, "loss": "mse", "combine": "mean_loss"}])
    summary = _run(spec, tmp_path / "runs", "toy-1")
    assert summary.status == "completed" and summary.recorded == 12 and summary.completed == 12
    store = RunStore(str(tmp_path / "runs"), "toy-1")
    trials, replicates = store.load()
    assert trials.height == 12 and trials["param_id"].n_unique() == 12
    assert trials["trial"].to_list() == list(range(12))
    for column in ("param.slope", "param.intercept", "loss", "loss.line", "n_replicates", "duration_s", "status"):
        assert column in trials.columns
    assert (trials["loss"] == trials["loss.line"]).all()  # one target of weight 1
    assert replicates.height == 24 and set(replicates["replicate"]) == {0, 1}
    assert replicates["loss.line"].null_count() == 0  # mean_loss scores each replicate: their losses are kept
    mean_of_replicates = replicates.group_by("param_id").agg(pl.col("loss.line").mean())
    joined = trials.join(mean_of_replicates, on="param_id", suffix="_reps")
    assert ((joined["loss.line"] - joined["loss.line_reps"]).abs() < 1e-9 * joined["loss.line"].abs().max()).all()
    # The consolidated files and the manifest.
    assert pl.read_parquet(store.path("trials.parquet")).height == 12
    manifest = store.manifest()
    assert manifest["status"] == "completed" and manifest["base_seed"] == 3
    assert manifest["packages"]["optuna"] and manifest["environment"]["python"]
    assert manifest["code_digest"] and manifest["storage"].startswith("journal://")
    assert manifest["summary"]["recorded"] == 12
    assert store.read_bytes("spec.yaml") == spec.read_bytes()
    # The best trial is close to the truth (slope 2.0) even with a random sampler and 12 trials.
    assert abs(summary.best["param.slope"] - 2.0) < 0.6


def test_failed_simulations_become_failed_trials_and_the_run_goes_on(toy_study, tmp_path: Path) -> None:
    spec = toy_study(parameters={"slope": {"low": 0.0, "high": 4.0}, "fixed": {"fail_above": 2.5}})
    summary = _run(spec, tmp_path / "runs", "toy-f")
    trials = RunStore(str(tmp_path / "runs"), "toy-f").load_trials()
    failed = trials.filter(pl.col("status") == "failed")
    assert summary.status == "completed" and trials.height == 12
    assert failed.height > 0 and summary.failed == failed.height
    assert (failed["param.slope"] > 2.5).all() and failed["loss"].null_count() == failed.height
    assert all("deliberate test failure" in e for e in failed["error"])
    assert trials.filter(pl.col("status") == "completed")["loss"].null_count() == 0


def test_a_model_that_always_fails_stops_early_with_the_reason(toy_study, tmp_path: Path) -> None:
    spec = toy_study(
        parameters={"slope": {"low": 0.0, "high": 4.0}, "fixed": {"fail_above": -1.0}},
        algorithm={"ref": "optuna", "sampler": "random", "n_trials": 40, "seed": 1},
    )
    with pytest.raises(RunError, match=r"first 10 trials all failed[\s\S]*deliberate test failure"):
        _run(spec, tmp_path / "runs", "toy-broken")
    manifest = RunStore(str(tmp_path / "runs"), "toy-broken").manifest()
    assert manifest["status"] == "failed" and "all failed" in manifest["summary"]["error"]


def test_a_missing_model_fails_before_any_simulation(toy_study, tmp_path: Path) -> None:
    spec = toy_study(model={"fn_ref": "no_such_module_xyz:simulate"})
    with pytest.raises(RunError, match="cannot import the model 'no_such_module_xyz:simulate'"):
        _run(spec, tmp_path / "runs", "toy-x")
    assert not RunStore(str(tmp_path / "runs"), "toy-x").exists()


def test_same_spec_and_seeds_give_the_same_trials(toy_study, tmp_path: Path) -> None:
    spec = toy_study(algorithm={"ref": "optuna", "sampler": "tpe", "n_trials": 15, "seed": 5})
    _run(spec, tmp_path / "runs", "a")
    _run(spec, tmp_path / "runs", "b")
    a = RunStore(str(tmp_path / "runs"), "a").load_trials()
    b = RunStore(str(tmp_path / "runs"), "b").load_trials()
    keep = [c for c in a.columns if c not in VOLATILE_COLUMNS]
    assert a.select(keep).equals(b.select(keep))


def test_interrupt_then_resume_reaches_n_trials_without_duplicates(toy_study, tmp_path: Path) -> None:
    spec = toy_study(algorithm={"ref": "optuna", "sampler": "tpe", "n_trials": 14, "seed": 2, "options": FAST_LEASE})
    seen: list[str] = []

    def interrupt_after_five(progress) -> None:
        seen.append(progress.last["param_id"])
        if len(seen) == 5:
            raise KeyboardInterrupt  # what a Ctrl-C outside the runner's own handler looks like

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="r"), progress=interrupt_after_five)
    store = RunStore(str(tmp_path / "runs"), "r")
    assert store.manifest()["status"] == "interrupted"
    first = store.load_trials()
    assert first.height == 5
    summary = _run(spec, tmp_path / "runs", "r", resume=True)
    trials = store.load_trials()
    assert summary.status == "completed" and trials.height == 14
    assert trials["param_id"].n_unique() == 14
    assert trials.head(5).select("param_id", "loss").equals(first.select("param_id", "loss"))
    assert summary.new_trials == 9
    # Nothing left to do: running it again changes nothing.
    again = _run(spec, tmp_path / "runs", "r")
    assert again.new_trials == 0 and store.load_trials().height == 14


def test_a_sweep_resumes_by_replaying_its_records(toy_study, tmp_path: Path) -> None:
    spec = toy_study(algorithm={"ref": "sweep", "n_trials": 8, "seed": 4, "options": {"method": "sobol"}})
    count = 0

    def stop_after_three(progress) -> None:
        nonlocal count
        count += 1
        if count == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="s"), progress=stop_after_three)
    summary = _run(spec, tmp_path / "runs", "s")
    trials = RunStore(str(tmp_path / "runs"), "s").load_trials()
    assert summary.status == "completed" and trials.height == 8 and trials["param_id"].n_unique() == 8
    # The same points a fresh, uninterrupted sweep visits.
    _run(spec, tmp_path / "runs", "fresh")
    fresh = RunStore(str(tmp_path / "runs"), "fresh").load_trials()
    assert set(fresh["param_id"]) == set(trials["param_id"])


def test_resume_refuses_a_changed_study_and_an_unknown_run(toy_study, tmp_path: Path) -> None:
    spec = toy_study()
    _run(spec, tmp_path / "runs", "r")
    changed = toy_study(replicates=3)
    with pytest.raises(RunError, match="different study"):
        _run(changed, tmp_path / "runs", "r")
    with pytest.raises(RunError, match="no run 'ghost'"):
        _run(spec, tmp_path / "runs", "ghost", resume=True)
    with pytest.raises(RunError, match="run id 'Bad Id'"):
        _run(spec, tmp_path / "runs", "Bad Id")


def test_a_larger_budget_extends_a_finished_run(toy_study, tmp_path: Path) -> None:
    spec = toy_study(algorithm={"ref": "optuna", "sampler": "random", "n_trials": 6, "seed": 9})
    _run(spec, tmp_path / "runs", "grow")
    spec = toy_study(algorithm={"ref": "optuna", "sampler": "random", "n_trials": 10, "seed": 9})
    summary = _run(spec, tmp_path / "runs", "grow")
    trials = RunStore(str(tmp_path / "runs"), "grow").load_trials()
    assert summary.new_trials == 4 and trials.height == 10 and trials["param_id"].n_unique() == 10


def test_diagnostics_reach_the_algorithm(toy_study, tmp_path: Path) -> None:
    import optuna

    spec = toy_study(algorithm={"ref": "optuna", "sampler": "random", "n_trials": 3, "seed": 1})
    _run(spec, tmp_path / "runs", "d")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "runs" / "d" / "optuna.journal"))
    )
    study = optuna.load_study(study_name="d", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3
    # Seeds are the contracts' derive_seed of (param_id, replicate, base seed): recorded, and reproducible.
    from modelops_contracts import derive_seed

    replicates = RunStore(str(tmp_path / "runs"), "d").load()[1]
    for row in replicates.iter_rows(named=True):
        assert row["seed"] == derive_seed(row["param_id"], row["replicate"], 1)
    assert json.loads(json.dumps(done[0].params))  # plain values reached Optuna


def test_diagnostics_stay_within_the_contract_cap_with_many_replicates() -> None:
    from modelops.runner.driver import _diagnostics, _Pending
    from modelops.services.tasks import GroupResult, ReplicateOutcome
    from modelops_contracts import MAX_DIAGNOSTICS_BYTES, SeedInfo, TrialResult, TrialStatus, UniqueParameterSet

    ups = UniqueParameterSet.from_dict({"x": 1.0})
    seeds = SeedInfo.for_replicates(ups.param_id, 5000, 7).replicate_seeds
    result = GroupResult(
        ups.param_id,
        tuple(ReplicateOutcome(i, s, False, "boom " * 50, 0.01, False) for i, s in enumerate(seeds)),
        None,
        "x" * 100_000,
        1.0,
    )
    diagnostics = _diagnostics(result, _Pending(ups, tuple(seeds)), 7, keep_summaries=True)
    assert len(json.dumps(diagnostics).encode()) <= MAX_DIAGNOSTICS_BYTES
    TrialResult(ups.param_id, float("inf"), diagnostics, TrialStatus.FAILED)  # the contract accepts it


def test_outputs_all_keeps_every_replicate_and_none_keeps_no_summaries(toy_study, tmp_path: Path) -> None:
    spec = toy_study(outputs="all", algorithm={"ref": "optuna", "sampler": "random", "n_trials": 3, "seed": 1})
    _run(spec, tmp_path / "runs", "all")
    files = sorted((tmp_path / "runs" / "all" / "outputs").rglob("replicate-*"))
    assert len(files) == 3 * 2  # every replicate of every trial
    trials = RunStore(str(tmp_path / "runs"), "all").load_trials()
    assert trials["summaries"].null_count() == 0
    spec = toy_study(outputs="none", algorithm={"ref": "optuna", "sampler": "random", "n_trials": 3, "seed": 1})
    _run(spec, tmp_path / "runs", "none")
    assert not (tmp_path / "runs" / "none" / "outputs").exists()
    assert RunStore(str(tmp_path / "runs"), "none").load_trials()["summaries"].null_count() == 3
