"""The cheap paths of OptunaAlgorithm must agree with the expensive ones they replace.

- the census is refreshed incrementally (only trials whose object changed are refiled): after every step of a
  two-runner study with duplicates, cancellations, failures, remote tells, an abandoned trial and its retry, it must
  equal a census built from scratch out of deep copies (fresh objects, so nothing is skipped);
- the journal backend without per-write fsync must write Optuna's own format under Optuna's lock.
"""

from __future__ import annotations

import os
import time

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from calabaria.algorithms import OptunaAlgorithm
from calabaria.algorithms._storage import FlockJournalLock, PageCacheJournalFileBackend, open_storage
from calabaria.algorithms.optuna_algorithm import _Census
from modelops_contracts import TrialResult, TrialStatus

# A small discrete space, so identically seeded runners collide (duplicates, cancellations) within a few asks.
SPACE = {"a": {"choices": [0, 1, 2, 3]}, "b": {"choices": [0, 1, 2]}}


def _summary(census: _Census) -> tuple:
    return (
        {key: [t._trial_id for t in ts] for key, ts in sorted(census.slots.items())},
        {pid: sorted(ts) for pid, ts in sorted(census.by_param.items()) if ts},
        {pid: t._trial_id for pid, t in sorted(census.told.items())},
        sorted(key for key in census.slots if census.slot_done(key)),
    )


def _check(algo: OptunaAlgorithm) -> None:
    incremental = algo._census()
    scratch = _Census()
    scratch.refresh(algo.study.get_trials(deepcopy=True))
    assert _summary(incremental) == _summary(scratch)


def _loss(ps) -> float:
    return float(ps.params["a"] + 10 * ps.params["b"])


def test_incremental_census_matches_a_full_rebuild_across_two_runners(tmp_path):
    url = f"journal://{tmp_path}/study.log"
    opts = {"n_trials": 9, "heartbeat": 0.05, "lease_seconds": 0.2, "sampler": "random"}
    a = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=7, **opts)
    b = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=7, **opts)

    first_a, first_b = a.ask(2), b.ask(2)  # same seed: b's points collide with a's running ones
    _check(a)
    _check(b)
    assert len(first_a) == 2 and first_b  # b got points too, after dropping the ones a holds
    a.tell([TrialResult(first_a[0].param_id, _loss(first_a[0]))])
    # b tells a's second trial (remote tell), with a failure
    b.tell([TrialResult(first_a[1].param_id, float("inf"), status=TrialStatus.FAILED, diagnostics={"error": "boom"})])
    _check(a)
    _check(b)

    # a dies without telling: its open trials are failed now, and b's next ask re-enqueues them as retries
    left_open = a.ask(2)
    a.close(release=True)
    _check(b)
    time.sleep(0.06)  # past b's heartbeat, so its next ask reclaims
    outstanding = list(first_b)
    for _ in range(60):
        if b.finished():
            break
        outstanding += b.ask(2)
        _check(b)
        if outstanding:
            ps = outstanding.pop(0)
            b.tell([TrialResult(ps.param_id, _loss(ps))])
            _check(b)
    else:
        pytest.fail("the study never finished")
    trials = b.study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("modelops:param_id") for t in trials if "modelops:slot" in t.user_attrs}
    assert retried & {ps.param_id for ps in left_open}, "a's abandoned trials were not retried"
    assert b.n_told_slots() == 9
    b.close()


def test_census_refiles_a_trial_whose_role_changes():
    storage = optuna.storages.InMemoryStorage()
    algo = OptunaAlgorithm(SPACE, storage=storage, study_name="s", seed=1, n_trials=5, sampler="random")
    (ps,) = algo.ask(1)
    census = algo._census()
    (tid,) = census.by_param[ps.param_id]
    assert tid in census.slots
    algo._drop(tid, census.by_param[ps.param_id][tid].number, "cancelled", "test")
    census = algo._census()
    assert tid not in census.slots  # a cancelled trial leaves the budget
    assert list(census.by_param[ps.param_id]) == [tid]
    _check(algo)


def test_journal_backend_writes_optunas_format_without_fsync(tmp_path, monkeypatch):
    path = str(tmp_path / "j.log")
    storage, lease = open_storage(f"journal://{path}", 1.0, 3.0)
    assert isinstance(storage._backend, PageCacheJournalFileBackend) and lease.kind == "attr"

    def no_fsync(fd: int) -> None:
        raise AssertionError("append_logs fsynced")

    monkeypatch.setattr(os, "fsync", no_fsync)
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)
    monkeypatch.undo()
    # A stock Optuna reader (its own backend) sees the same study.
    plain = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
    assert [t.value for t in plain.trials] == [t.value for t in study.trials]
    assert isinstance(storage._backend._lock, FlockJournalLock)  # not Optuna's symlink lock
    assert not os.path.exists(path + ".lock")  # a flock on the journal itself: no lock file to leave behind


@pytest.mark.parametrize("kind", ["memory", "journal"])
def test_storages_hand_back_the_same_object_until_the_trial_changes(tmp_path, kind):
    """The premise of the incremental census, checked against the installed Optuna."""
    storage = None if kind == "memory" else f"journal://{tmp_path}/j.log"
    algo = OptunaAlgorithm(SPACE, storage=storage, study_name="s", seed=1, n_trials=5, sampler="random")
    p1, _p2 = algo.ask(2)
    before = {t._trial_id: t for t in algo.study.get_trials(deepcopy=False)}
    algo.tell([TrialResult(p1.param_id, 1.0)])
    after = {t._trial_id: t for t in algo.study.get_trials(deepcopy=False)}
    changed = [tid for tid in before if after[tid] is not before[tid]]
    assert len(changed) == 1 and after[changed[0]].user_attrs["modelops:param_id"] == p1.param_id
    algo.close()
