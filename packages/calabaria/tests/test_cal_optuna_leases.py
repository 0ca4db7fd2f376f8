"""Leases, the rival rule, record look-ups, user attributes and outages of OptunaAlgorithm on real storages."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from calabaria.algorithms import OptunaAlgorithm
from calabaria.algorithms._storage import LEASE_TABLE, StorageError, redact_url
from calabaria.algorithms.optuna_algorithm import PARAM_ID, ROLE, STATUS, StorageUnavailable
from modelops_contracts import TrialResult

SPACE = {"x": {"low": -3.0, "high": 3.0}}


def loss(ps) -> float:
    return (ps.params["x"] - 1) ** 2


def run_to_the_end(alg: OptunaAlgorithm, timeout: float = 60) -> list[str]:
    told: list[str] = []
    deadline = time.monotonic() + timeout
    while not alg.finished():
        assert time.monotonic() < deadline, f"not finished after {timeout} s; told {len(told)}"
        asked = alg.ask(2)
        if not asked:
            time.sleep(0.1)
            continue
        alg.tell([TrialResult(p.param_id, loss(p)) for p in asked])
        told += [p.param_id for p in asked]
    return told


def completed(alg: OptunaAlgorithm) -> list[str]:
    return [
        t.user_attrs[PARAM_ID]
        for t in alg.study.get_trials(states=(TrialState.COMPLETE,))
        if t.user_attrs.get(ROLE) is None and t.user_attrs.get(STATUS) == "completed"
    ]


@pytest.mark.services
def test_a_running_trial_that_never_had_a_lease_lapses(postgres) -> None:
    """Issue 20: a runner killed between Optuna's ask and its first lease write left a RUNNING trial (no params, no
    attributes, no heartbeat) that stalled every runner for ever."""
    url = postgres.sqlalchemy_url
    alg = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=1, n_trials=5, heartbeat=0.5, lease_seconds=2)
    # What the dead runner left: a bare RUNNING trial, created through plain Optuna (no lease, nothing else).
    optuna.load_study(study_name="s", storage=url).ask()
    t0 = time.monotonic()
    told = run_to_the_end(alg)
    waited = time.monotonic() - t0
    print(f"finished in {waited:.1f} s with a lease of 2 s")
    assert len(told) == 5 and sorted(completed(alg)) == sorted(told)
    assert waited < 2 + 5  # the bare trial lapsed after about one lease period
    assert not alg.study.get_trials(states=(TrialState.RUNNING,))
    alg.close()


@pytest.mark.services
def test_two_fresh_trials_of_one_point_never_both_run(postgres) -> None:
    """Issue 20: runner A's trial was older but wrote its param_id late; B checked before it, saw no rival, ran; A then
    saw B's (younger) trial and ran too. Now whoever sees a live rival yields."""
    url = postgres.sqlalchemy_url
    a = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=4, n_trials=10, sampler="random")
    b = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=4, n_trials=10, sampler="random")
    trial_a = a.study.ask(a._distributions)  # A's ask has created its (older) trial, not yet claimed it
    (first_b,) = b.ask(1)  # B claims the same point (same seed), seeing A's trial without a param_id
    assert first_b.params["x"] == trial_a.params["x"]
    assert a._claim(trial_a) is None  # A sees B's live trial and yields
    cancelled = [t for t in a.study.get_trials() if t.user_attrs.get(ROLE) == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0].number == trial_a.number
    a.close()
    b.close()


@pytest.mark.services
def test_a_retry_is_told_from_the_records_instead_of_run_again(postgres) -> None:
    """A runner recorded a result and died before telling it: the retry of its trial must not be simulated again."""
    url = postgres.sqlalchemy_url
    options = {"n_trials": 4, "heartbeat": 0.5, "lease_seconds": 1.5}
    dead = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=2, **options)
    (lost,) = dead.ask(1)
    records = {lost.param_id: TrialResult(lost.param_id, 0.25, {"recorded": True})}  # written, never told
    dead.close(release=False)  # dies: stops renewing, releases nothing
    alive = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=3, **options)
    alive.lookup_recorded = lambda ids: [records[i] for i in ids if i in records]
    told = run_to_the_end(alive)
    assert lost.param_id not in told  # never handed out again
    done = completed(alive)
    assert len(done) == 4 and Counter(done).most_common(1)[0][1] == 1 and lost.param_id in done
    kept = [t for t in alive.study.get_trials(states=(TrialState.COMPLETE,)) if t.user_attrs[PARAM_ID] == lost.param_id]
    assert [t.value for t in kept] == [0.25]
    alive.close()


def test_told_trials_carry_each_target_loss_for_optuna_dashboard(tmp_path) -> None:
    """Issue 15: optuna-dashboard's /api/studies/<id> shows per-target losses and the run's trial number."""
    from optuna_dashboard import wsgi

    alg = OptunaAlgorithm(SPACE, storage=f"journal://{tmp_path}/j.log", study_name="s", seed=1, n_trials=3)
    asked = alg.ask(2)
    alg.tell(
        [
            TrialResult(p.param_id, 1.5, {"target_losses": {"cases": 0.5, "deaths": 1.0 + i}, "trial": 7 + i})
            for i, p in enumerate(asked)
        ]
    )
    app = wsgi(alg._storage)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/studies/0",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
    }
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    assert status == ["200 OK"]
    trials = json.loads(body)["trials"]
    attrs = [{a["key"]: a["value"] for a in t["user_attrs"]} for t in trials]
    print(attrs)
    assert [a["modelops:loss:cases"] for a in attrs] == ["0.5", "0.5"]
    assert [a["modelops:loss:deaths"] for a in attrs] == ["1.0", "2.0"]
    assert [a["modelops:trial"] for a in attrs] == ["7", "8"]
    assert [a["modelops:param_id"] for a in attrs] == [p.param_id for p in asked]
    alg.close()


def test_passwords_never_appear_in_storage_errors() -> None:
    url = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/test"
    assert redact_url(url) == "postgresql+psycopg://postgres:***@127.0.0.1:1/test"
    with pytest.raises(StorageError) as info:
        OptunaAlgorithm(SPACE, storage=url, n_trials=2, reconnect_seconds=0)
    assert "s3cret-pw" not in str(info.value) and "***@127.0.0.1:1" in str(info.value)


@pytest.mark.services
@pytest.mark.slow
def test_calls_wait_out_an_outage_then_give_up_clearly() -> None:
    from modelops_testing.real_services import PrivatePostgres, fresh_database

    with PrivatePostgres() as pg, fresh_database(pg.server) as db:
        url = db.sqlalchemy_url
        alg = OptunaAlgorithm(
            SPACE, storage=url, study_name="s", seed=1, n_trials=6, heartbeat=0.5, lease_seconds=2, reconnect_seconds=20
        )
        asked = alg.ask(2)
        pg.stop()
        threading.Timer(4.0, pg.start).start()  # back within reconnect_seconds
        t0 = time.monotonic()
        alg.tell([TrialResult(p.param_id, loss(p)) for p in asked])  # waits for the server, then tells
        assert time.monotonic() - t0 > 3
        run_to_the_end(alg)
        assert len(completed(alg)) == 6
        alg.reconnect_seconds = 2
        (more,) = alg.ask(1) or [None]  # the budget is used: nothing to ask
        assert more is None
        pg.stop()
        with pytest.raises(StorageUnavailable, match=r"unreachable for \d+ s .* --resume"):
            alg.n_told()
        alg.close()
        pg.start()
        with optuna.storages.RDBStorage(url).engine.connect() as conn:  # the lease table is ours, beside Optuna's
            import sqlalchemy as sa

            assert sa.inspect(conn).has_table(LEASE_TABLE)
