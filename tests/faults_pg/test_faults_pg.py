"""Real `mops run` processes sharing one study on a PRIVATE PostgreSQL server, under faults: kill -9 of a runner at
random moments, simultaneous starts, server restarts and a long outage. The checks are the run's own records: exactly
n_trials rows, no param_id twice, every trial completed.

CI runs a few of each (seconds to a minute each). For the figures, run the full counts by hand:

    MODELOPS_PG_FAULTS=20 uv run pytest tests/faults_pg -q -s -p no:cacheprovider --timeout 7200

The private server (initdb in a temporary directory, its own port) is the only one restarted or stopped: the
machine's shared server on 5432 is never touched.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from modelops.store.results import RunStore
from modelops_testing.real_services import Postgres, PrivatePostgres, ServiceUnavailable, fresh_database

pytestmark = [pytest.mark.services, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TOY_PROJECT = REPO / "tests" / "runner"  # run_toy_model.py: a noisy line with a CPU-burning sleep_s
FULL = int(os.environ.get("MODELOPS_PG_FAULTS", "0") or 0)
HEARTBEAT, LEASE = 1.0, 4.0


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    try:
        pg = PrivatePostgres()
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    with pg:
        yield pg


def write_study(folder: Path, db: Postgres, n_trials: int, *, sleep_s: float, seed: int, **options: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(10)
    y = 2.0 * t + 1.0 + np.random.default_rng(0).normal(0, 0.5, t.size)
    pl.DataFrame({"t": t, "y": y}).write_csv(folder / "observed.csv")
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": "faults",
        "model": {"fn_ref": "run_toy_model:simulate", "project": str(TOY_PROJECT)},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0, "sleep_s": sleep_s}},
        "targets": [
            {
                "name": "line",
                "output": "line",
                "observed": "observed.csv",
                "keys": ["t"],
                "values": ["y"],
                "loss": "mse",
            }
        ],
        "algorithm": {
            "ref": "optuna",
            "sampler": "tpe",
            "n_trials": n_trials,
            "seed": seed,
            "options": {"heartbeat": HEARTBEAT, "lease_seconds": LEASE, **options},
        },
        "replicates": 1,
        "execution": {"workers": 0},
        "storage": {"kind": "postgres", "dsn": db.dsn},
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def start(spec: Path, runs: Path, run_id: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DASK_SCHEDULER_ADDRESS", "MODELOPS_RUNS_DIR")}
    cmd = [sys.executable, "-c", "from modelops.cli.app import main; main()", "run", str(spec)]
    cmd += ["--runs-dir", str(runs), "--run-id", run_id, "--workers", "0", "--json"]
    with log.open("ab") as out:
        # A session of its own: kill -9 reaches the runner and anything it started, nothing else.
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True)


def wait_all(procs: list[subprocess.Popen], timeout: float, log: Path) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for q in procs:
                if q.poll() is None:
                    os.killpg(q.pid, signal.SIGKILL)
            raise AssertionError(
                f"runners still going after {timeout:.0f} s; log:\n{log.read_text()[-4000:]}"
            ) from None
    return codes


def outcome(runs: Path, run_id: str) -> dict[str, Any]:
    trials = RunStore(str(runs), run_id).load_trials()
    told = sorted(trials["told_at"].to_list()) if trials.height else []
    gaps = [b - a for a, b in itertools.pairwise(told)]
    return {
        "rows": trials.height,
        "distinct": trials["param_id"].n_unique() if trials.height else 0,
        "completed": trials.filter(pl.col("status") == "completed").height if trials.height else 0,
        "max_gap_s": max(gaps) if gaps else 0.0,
    }


def lease_wait(runs: Path, spawned: float, restarted: float, n_runners: int) -> dict[str, float]:
    """How long the kill made anyone wait, net of process start-up.

    - ``restart_extra_s``: the restarted runner's time to its first record, minus the first runner's (both include
      Python's start-up and the first asks; the difference is what the dead runner's leases cost it);
    - ``survivor_max_gap_s`` (two runners): the longest pause between the surviving runner's own records.
    """
    trials = RunStore(str(runs), "r").load_trials()
    first = trials.group_by("runner").agg(pl.col("told_at").min().alias("first"), pl.col("told_at").sort().alias("t"))
    out: dict[str, float] = {}
    late = first.filter(pl.col("first") >= restarted)
    early = first.filter(pl.col("first") < restarted)
    if late.height and early.height:
        out["restart_extra_s"] = round((late["first"].min() - restarted) - (early["first"].min() - spawned), 2)
    if n_runners == 2:
        gaps = [max((b - a for a, b in itertools.pairwise(ts)), default=0.0) for ts in early["t"].to_list()]
        survivors = [g for g, ts in zip(gaps, early["t"].to_list(), strict=True) if ts[-1] > restarted]
        if survivors:
            out["survivor_max_gap_s"] = round(max(survivors), 2)
    return out


def recorded(runs: Path, run_id: str) -> int:
    store = RunStore(str(runs), run_id)
    return store.load_trials().height if store.exists() else 0


def one_kill_run(
    pg: PrivatePostgres, tmp: Path, k: int, n_runners: int, kill_after: float, after_records: int = 0
) -> dict[str, Any]:
    """Start n_runners, kill -9 one of them kill_after seconds after the run has after_records records (0: after the
    start), start it again at once; all must finish."""
    n_trials = 40
    with fresh_database(pg.server) as db:
        folder = tmp / f"kill{k}"
        spec = write_study(folder, db, n_trials, sleep_s=0.05, seed=k)
        runs, log = folder / "runs", folder / "log.txt"
        spawned = time.time()
        procs = [start(spec, runs, "r", log) for _ in range(n_runners)]
        deadline = time.monotonic() + 120
        while after_records and recorded(runs, "r") < after_records and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(kill_after)
        victim = procs[0]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(30)
        at_kill = recorded(runs, "r")
        killed = time.monotonic()
        restarted = time.time()
        procs[0] = start(spec, runs, "r", log)
        codes = wait_all(procs, 300, log)
        result = outcome(runs, "r")
        result.update(lease_wait(runs, spawned, restarted, n_runners))
        result.update(
            runners=n_runners,
            after_records=after_records,
            kill_after=round(kill_after, 2),
            at_kill=at_kill,
            codes=codes,
            n_trials=n_trials,
            after_kill_s=round(time.monotonic() - killed, 1),
        )
        return result


def check(result: dict[str, Any], log: Path | None = None) -> None:
    assert result["codes"] == [0] * len(result["codes"]), result
    assert result["rows"] == result["n_trials"], result
    assert result["distinct"] == result["rows"], result
    assert result["completed"] == result["n_trials"], result


def test_kill_9_at_random_moments_then_restart(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    n = FULL or 4
    rng = random.Random(20)
    results = []
    for k in range(n):
        n_runners = 1 + k % 2
        # a quarter of the kills land in the first second after the start (start-up, the first asks), the rest at a
        # random moment mid-run (after a random number of records, at a random phase of the trial in flight)
        if k % 4 == 0:
            kill_after, after_records = rng.uniform(0.0, 1.0), 0
        else:
            kill_after, after_records = rng.uniform(0.0, 0.3), rng.randint(1, 30)
        result = one_kill_run(private_pg, tmp_path, k, n_runners, kill_after, after_records)
        print("kill", k, result, flush=True)
        results.append(result)
    exact = sum(r["rows"] == r["n_trials"] == r["completed"] for r in results)
    doubled = sum(r["rows"] - r["distinct"] for r in results)
    worst = max(r["max_gap_s"] for r in results)
    extra = [r["restart_extra_s"] for r in results if "restart_extra_s" in r]
    survivor = [r["survivor_max_gap_s"] for r in results if "survivor_max_gap_s" in r]
    print(
        f"KILL WAITS: restarted runner's extra wait over a fresh start: max {max(extra, default=0):.1f} s; "
        f"surviving runner's longest pause: max {max(survivor, default=0):.1f} s (lease {LEASE:g} s)"
    )
    print(
        f"KILLS: {exact}/{n} exactly n_trials, {doubled} duplicate param_ids, longest pause {worst:.1f} s "
        f"(lease {LEASE:g} s)"
    )
    for r in results:
        check(r)


def test_simultaneous_starts_never_run_a_point_twice(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    n = FULL or 4
    results = []
    for k in range(n):
        with fresh_database(private_pg.server) as db:
            folder = tmp_path / f"start{k}"
            # same seed for both runners (one spec): their samplers propose the same first points
            spec = write_study(folder, db, 16, sleep_s=0.02, seed=7)
            runs, log = folder / "runs", folder / "log.txt"
            procs = [start(spec, runs, "s", log) for _ in range(2)]
            codes = wait_all(procs, 240, log)
            result = {**outcome(runs, "s"), "codes": codes, "n_trials": 16}
            print("start", k, result, flush=True)
            results.append(result)
    print(
        f"STARTS: {sum(r['rows'] - r['distinct'] for r in results)} duplicate param_ids in {n} two-runner starts; "
        f"{sum(r['rows'] == 16 for r in results)}/{n} exactly n_trials"
    )
    for r in results:
        check(r)


def outage_run(pg: PrivatePostgres, tmp: Path, k: int, faults: list[tuple[float, float]]) -> dict[str, Any]:
    """Two runners; at each (at_s, down_s): stop the server for down_s seconds (0: a restart)."""
    n_trials = 60
    with fresh_database(pg.server) as db:
        folder = tmp / f"outage{k}"
        spec = write_study(folder, db, n_trials, sleep_s=0.25, seed=k)
        runs, log = folder / "runs", folder / "log.txt"
        procs = [start(spec, runs, "o", log) for _ in range(2)]
        # The clock for the faults starts once both runners are working (their start-up takes seconds).
        deadline = time.monotonic() + 120
        while recorded(runs, "o") < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        began = time.monotonic()
        done = []
        for at_s, down_s in faults:
            time.sleep(max(0.0, began + at_s - time.monotonic()))
            before = recorded(runs, "o")
            if down_s:
                pg.stop()
                time.sleep(down_s)
                pg.start()
            else:
                pg.restart()
            done.append({"at_s": at_s, "down_s": down_s, "recorded_before": before})
        codes = wait_all(procs, 600, log)
        result = {**outcome(runs, "o"), "codes": codes, "n_trials": n_trials, "faults": done}
        result["elapsed_s"] = round(time.monotonic() - began, 1)
        return result


def test_server_restarts_during_a_two_runner_run(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    n = 5 if FULL else 1
    rng = random.Random(13)
    results = []
    for k in range(n):
        # two restarts per run at random moments (the rest of the run takes about 15 s on two runners)
        faults = sorted((rng.uniform(0.2, 9.0), 0.0) for _ in range(2))
        result = outage_run(private_pg, tmp_path, k, faults)
        print("restart", k, result, flush=True)
        results.append(result)
    print(
        f"RESTARTS: {sum(r['rows'] == r['n_trials'] == r['completed'] for r in results)}/{n} complete with exactly "
        f"n_trials, {sum(r['rows'] - r['distinct'] for r in results)} duplicate param_ids"
    )
    for r in results:
        check(r)


def test_a_long_outage_is_waited_out(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    down = 60.0 if FULL else 12.0  # longer than the lease (every lease lapses), shorter than reconnect_seconds
    result = outage_run(private_pg, tmp_path, 99, [(1.0, down)])
    print(f"OUTAGE {down:.0f} s:", result, flush=True)
    check(result)
    assert result["elapsed_s"] > down  # the runners waited through it


def test_an_outage_longer_than_reconnect_seconds_stops_cleanly_and_resumes(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    n_trials = 40
    with fresh_database(private_pg.server) as db:
        folder = tmp_path / "giveup"
        spec = write_study(folder, db, n_trials, sleep_s=0.25, seed=5, reconnect_seconds=5)
        runs, log = folder / "runs", folder / "log.txt"
        procs = [start(spec, runs, "g", log) for _ in range(2)]
        deadline = time.monotonic() + 120
        while recorded(runs, "g") < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        private_pg.stop()
        try:
            codes = wait_all(procs, 120, log)
        finally:
            private_pg.start()
        text = " ".join(log.read_text().split())  # the CLI wraps long messages
        before = recorded(runs, "g")
        message = text[text.find("stayed") - 40 :][:300]
        print(f"GIVE UP: exit codes {codes} after {before} records; message: ...{message}")
        assert all(code not in (0, None) for code in codes)
        assert text.count("stayed unreachable for") == 2 and "--resume g" in text
        assert "Traceback" not in text
        procs = [start(spec, runs, "g", log) for _ in range(2)]  # the database is back: both resume
        codes = wait_all(procs, 300, log)
        result = {**outcome(runs, "g"), "codes": codes, "n_trials": n_trials}
        print("GIVE UP then resume:", result)
        check(result)
