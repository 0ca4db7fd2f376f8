"""OptunaAlgorithm on one PostgreSQL-backed study shared by several runners, one of which is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from optuna.trial import TrialState

from calabaria.algorithms import OptunaAlgorithm
from calabaria.algorithms.optuna_algorithm import PARAM_ID, ROLE, STATUS
from modelops_contracts import TrialResult

pytestmark = [pytest.mark.services, pytest.mark.slow]

SPACE = {"x": {"low": -3.0, "high": 3.0}, "k": {"low": 1, "high": 5, "type": "int"}, "fixed": {"c": 2.0}}


def loss(params) -> float:
    return (params["x"] - 1) ** 2 + params["k"]


def completed_ids(alg: OptunaAlgorithm) -> list[str]:
    return [
        t.user_attrs[PARAM_ID]
        for t in alg.study.get_trials(states=(TrialState.COMPLETE,))
        if t.user_attrs.get(ROLE) is None and t.user_attrs.get(STATUS) == "completed"
    ]


def test_two_runners_share_one_study_and_run_exactly_n_trials(postgres) -> None:
    n_trials = 24
    told: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def runner(name: str) -> None:
        try:
            # same seed on purpose: identically seeded runners must not run the same points twice
            alg = OptunaAlgorithm(
                SPACE, storage=postgres.sqlalchemy_url, study_name="shared", seed=3, n_trials=n_trials
            )
            while not alg.finished():
                asked = alg.ask(3)
                if not asked:
                    time.sleep(0.05)  # the other runner holds the last slots
                    continue
                alg.tell([TrialResult(p.param_id, loss(p.params)) for p in asked])
                told[name] += [p.param_id for p in asked]
            alg.close()
        except BaseException as exc:  # surfaced below, with the thread's name
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(n,)) for n in told]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    both = told["a"] + told["b"]
    print(f"runner a told {len(told['a'])}, runner b told {len(told['b'])}")
    assert len(both) == n_trials and len(set(both)) == n_trials  # exactly n_trials, no param_id told twice
    assert told["a"] and told["b"]  # both did work
    check = OptunaAlgorithm(SPACE, storage=postgres.sqlalchemy_url, study_name="shared", n_trials=n_trials)
    assert sorted(completed_ids(check)) == sorted(both)
    assert check.finished() and check.n_told() == n_trials
    assert check.study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING)) == []
    roles = Counter(t.user_attrs.get(ROLE) for t in check.study.trials if t.user_attrs.get(ROLE))
    print(f"{len(check.study.trials)} Optuna trials in all; outside the budget: {dict(roles)}")


KILLED_RUNNER = """
import json, sys, time
from calabaria.algorithms import OptunaAlgorithm
from modelops_contracts import TrialResult
space = json.loads(sys.argv[2])
options = {"n_trials": 8, "heartbeat": 1, "lease_seconds": 2}
alg = OptunaAlgorithm(space, storage=sys.argv[1], study_name="resume", seed=11, **options)
asked = alg.ask(4)
first = asked[0]
alg.tell([TrialResult(first.param_id, (first.params["x"] - 1) ** 2 + first.params["k"])])
print(json.dumps({"told": first.param_id, "running": [p.param_id for p in asked[1:]]}), flush=True)
time.sleep(600)  # holds three trials RUNNING, heartbeats going, until killed
"""


def test_a_killed_runners_trials_are_retried_not_lost_nor_duplicated(postgres) -> None:
    url = postgres.sqlalchemy_url
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUNNER, url, json.dumps(SPACE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert line, f"the runner died before asking: {proc.stderr.read()}"
        state = json.loads(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    survivor = OptunaAlgorithm(
        SPACE, storage=url, study_name="resume", seed=12, n_trials=8, heartbeat=1, lease_seconds=2
    )
    running = survivor.study.get_trials(states=(TrialState.RUNNING,))
    assert sorted(t.user_attrs[PARAM_ID] for t in running) == sorted(state["running"])
    told: list[str] = []
    deadline = time.monotonic() + 60
    while not survivor.finished():
        assert time.monotonic() < deadline, f"study not finished; told {len(told)}"
        asked = survivor.ask(4)
        if not asked:
            time.sleep(0.2)  # waiting for the dead runner's leases to expire
            continue
        survivor.tell([TrialResult(p.param_id, loss(p.params)) for p in asked])
        told += [p.param_id for p in asked]
    survivor.close()

    done = completed_ids(survivor)
    counts = Counter(done)
    print(f"completed {len(done)} trials; retried {len(set(state['running']) & set(told))} of the killed runner's")
    assert len(done) == 8 and max(counts.values()) == 1  # exactly n_trials, no param_id twice
    assert set(state["running"]) <= set(told)  # the killed runner's parameters were run again, not lost
    assert state["told"] in done and state["told"] not in told  # its told result was kept, not redone
    abandoned = survivor.study.get_trials(states=(TrialState.FAIL,))
    assert sorted(t.user_attrs[PARAM_ID] for t in abandoned if t.user_attrs.get(ROLE) is None) == sorted(
        state["running"]
    )
    assert survivor.n_told() == 8
