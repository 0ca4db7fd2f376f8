"""Backups on real PostgreSQL + Azurite: a run is stopped part-way, dumped with the CronJob's pg_dump command and
uploaded with its upload command (retention kept), its database is dropped, `mops adaptive restore` brings it back
from the object store, and `mops run` resumes it to exactly n_trials with no parameter set twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from modelops.k8s.backup import dump_command
from modelops.store.backups import list_backups
from modelops.store.results import RunStore
from modelops_testing.real_services import Azurite, Postgres

pytestmark = [pytest.mark.services, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
MOPS = [sys.executable, "-c", "from modelops.cli.app import main; main()"]
N_TRIALS = 30


def _study(folder: Path) -> Path:
    folder.mkdir()
    (folder / "observed.csv").write_text("t,y\n" + "".join(f"{t},{2 * t + 1}\n" for t in range(10)))
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": "backed-up",
        "model": {"fn_ref": "run_toy_model:simulate", "project": str(REPO / "tests" / "runner")},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0, "sleep_s": 0.05}},
        "targets": [{"name": "line", "output": "line", "observed": "observed.csv", "keys": ["t"], "values": ["y"],
                     "loss": "mse"}],
        "algorithm": {"ref": "optuna", "sampler": "tpe", "n_trials": N_TRIALS, "seed": 21},
        "replicates": 2,
        "storage": {"kind": "postgres"},
        "execution": {"workers": 0},
    }  # fmt: skip
    (folder / "study.yaml").write_text(yaml.safe_dump(spec))
    return folder / "study.yaml"


def _completed(pg: Postgres) -> int:
    with psycopg.connect(pg.dsn) as conn:
        try:
            return conn.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0


def test_cloud_backup_dump_drop_restore_resume(postgres: Postgres, azurite: Azurite, tmp_path: Path) -> None:
    import fsspec

    study = _study(tmp_path / "study")
    runs = str(tmp_path / "runs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AZURE_")) and k != "DASK_SCHEDULER_ADDRESS"}
    env.update(postgres.env())
    env["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
    container = f"backups{os.getpid()}"
    fsspec.filesystem("az", connection_string=azurite.connection_string).mkdir(container)
    backups = f"az://{container}/runs-backups/bk1"
    run = [*MOPS, "run", str(study), "--runs-dir", runs, "--run-id", "bk1", "--json"]

    # 1. The run goes part-way, then stops (SIGTERM: what a pod gets on eviction).
    proc = subprocess.Popen(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while _completed(postgres) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    done_before = _completed(postgres)
    assert 8 <= done_before < N_TRIALS

    # 2. The CronJob, three times: pg_dump (its init container's command), then the upload step; keep 2.
    dump = tmp_path / "study.dump"
    for _ in range(3):
        subprocess.run(dump_command(str(dump)), env=env, check=True, timeout=120)
        up = subprocess.run([*MOPS, "adaptive", "backup-store", "--file", str(dump), "--to", backups, "--run-id",
                             "bk1", "--keep", "2"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert up.returncode == 0, up.stderr + up.stdout
        time.sleep(1.1)  # backup names carry the second
    kept = list_backups_env(backups, azurite)
    assert len(kept) == 2 and all(name.endswith(".dump") for name in kept)

    # 3. The database is lost.
    with psycopg.connect(postgres_admin(postgres), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {postgres.dbname} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {postgres.dbname}")
    assert _completed(postgres) == 0

    # 4. Restored from the newest backup in the object store.
    restore = subprocess.run([*MOPS, "adaptive", "restore", "bk1", "--from", "latest", "--backups", backups, "-y"],
                             env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert restore.returncode == 0, restore.stderr + restore.stdout
    assert _completed(postgres) == done_before

    # 5. The run resumes to exactly its budget.
    resumed = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = RunStore(runs, "bk1").load_trials()
    print(f"\nbackup/restore: {done_before} trials before the loss, 3 backups made, {len(kept)} kept; after the resume "
          f"{_completed(postgres)} complete trials in Optuna; records: {trials.height} trials, "
          f"{trials['param_id'].n_unique()} distinct param_id")  # fmt: skip
    assert trials.height == N_TRIALS
    assert trials["param_id"].n_unique() == N_TRIALS
    assert sorted(trials["trial"].to_list()) == list(range(N_TRIALS))
    # Optuna's own table may hold one COMPLETE more than the records after a SIGTERM and resume: the same happens
    # with no backup involved (the runner's resume replay; see the report), so only a lower bound is asserted.
    assert _completed(postgres) >= N_TRIALS


def list_backups_env(url: str, azurite: Azurite) -> list[str]:
    old = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
    try:
        return list_backups(url, "bk1")
    finally:
        if old is None:
            os.environ.pop("AZURE_STORAGE_CONNECTION_STRING")
        else:
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = old


def postgres_admin(pg: Postgres) -> str:
    return f"postgresql://{pg.user}@{pg.host}:{pg.port}/postgres"


def test_cloud_backup_restore_refuses_what_it_cannot_find(postgres: Postgres, tmp_path: Path) -> None:
    env = {**os.environ, **postgres.env()}
    (tmp_path / "b").mkdir()
    args = [*MOPS, "adaptive", "restore", "r", "--from", "latest", "--backups", str(tmp_path / "b"), "-y"]
    missing = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no backups of run r" in missing.stdout + missing.stderr
    empty = tmp_path / "empty.dump"
    empty.write_bytes(b"")
    up = subprocess.run([*MOPS, "adaptive", "backup-store", "--file", str(empty), "--to", str(tmp_path / "b"),
                         "--run-id", "r"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert up.returncode == 1 and "missing or empty" in up.stdout + up.stderr
