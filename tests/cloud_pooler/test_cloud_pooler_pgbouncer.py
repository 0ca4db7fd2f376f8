"""PgBouncer in transaction pooling mode between 8 `mops run` processes and PostgreSQL, with the real pgbouncer
(Debian package) started by the pooler pod's own start script and configuration: exactly n_trials, no parameter set
twice, and never more server connections than the pool size."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from modelops.k8s.pooler import PoolerConfig, pgbouncer_ini, schema_init_command, start_script
from modelops.store.results import RunStore
from modelops_testing.real_services import Postgres, services_required

pytestmark = [pytest.mark.services, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
RUNNERS = 8
N_TRIALS = 64
POOL_SIZE = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pooler_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the pooler's files live. PgBouncer refuses to run as root (the pod runs it as UID 10001): under root,
    a directory the unprivileged ``nobody`` can use, and the start script runs as that user."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="pooler-"))
    d.chmod(0o755)
    os.chown(d, 65534, 65534)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _as_pooler_user() -> list[str]:
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []


@pytest.fixture
def pooled(postgres: Postgres, pooler_dir: Path) -> Iterator[tuple[dict[str, str], dict[str, str], Postgres]]:
    """A runtime role owning the test database, and the real pgbouncer in front of it (as the pod starts it)."""
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(exe).exists():
        message = "pgbouncer is not installed (apt-get install pgbouncer)"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    role = f"runtime_{uuid.uuid4().hex[:8]}"
    password = 'it\'s a "pass" word'  # quotes of both kinds: the auth file's escaping is exercised
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            psycopg.sql.Identifier(role), psycopg.sql.Literal(password)))  # fmt: skip
        conn.execute(f"ALTER DATABASE {postgres.dbname} OWNER TO {role}")
        conn.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    port = _free_port()
    tmp_path = pooler_dir
    auth_file = tmp_path / "auth" / "userlist.txt"
    config = PoolerConfig(
        database=postgres.dbname,
        user=role,
        server_host=postgres.host,
        server_port=postgres.port,
        pool_size=POOL_SIZE,
        server_sslmode="disable",  # the local server has no TLS; the cluster's managed one uses verify-full
        listen_addr="127.0.0.1",
        listen_port=port,
        auth_file=str(auth_file),
    )
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(pgbouncer_ini(config))
    (tmp_path / "password").write_text(password + "\n")
    for f in (ini, tmp_path / "password"):
        f.chmod(0o644)
    script = start_script(role, str(tmp_path / "password"), str(ini), str(auth_file))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bin_dir.chmod(0o755)
    (bin_dir / "pgbouncer").symlink_to(exe)
    proc = subprocess.Popen(
        [*_as_pooler_user(), "sh", "-c", script],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"pgbouncer did not start: {proc.communicate()[0]}")
                time.sleep(0.1)
        assert oct(auth_file.stat().st_mode & 0o777) == "0o600"
        env = {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(port),
            "PGUSER": role,
            "PGPASSWORD": password,
            "PGDATABASE": postgres.dbname,
            "PGSSLMODE": "disable",
        }
        # What each runner pod's init container sees: PostgreSQL itself, not the pool.
        direct = {**env, "PGHOST": postgres.host, "PGPORT": str(postgres.port)}
        yield env, direct, postgres
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
            )  # fmt: skip
            conn.execute(f"ALTER DATABASE {postgres.dbname} OWNER TO postgres")
            conn.execute(f"REASSIGN OWNED BY {role} TO postgres")
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


class ConnectionSampler(threading.Thread):
    """Counts the server connections the runtime role holds, every 20 ms, straight from PostgreSQL."""

    def __init__(self, pg: Postgres, role: str) -> None:
        super().__init__(daemon=True)
        self.pg, self.role, self.samples, self.stop = pg, role, [], threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.pg.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (self.role,))
                self.samples.append(row.fetchone()[0])
                time.sleep(0.02)


def test_cloud_pooler_eight_runners_share_one_study_through_pgbouncer(
    pooled: tuple[dict[str, str], dict[str, str], Postgres], tmp_path: Path
) -> None:
    env_pg, direct, pg = pooled
    study = tmp_path / "study"
    study.mkdir()
    (study / "observed.csv").write_text("t,y\n" + "".join(f"{t},{2 * t + 1}\n" for t in range(10)))
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": "pooled",
        "model": {"fn_ref": "run_toy_model:simulate", "project": str(REPO / "tests" / "runner")},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0, "sleep_s": 0.01}},
        "targets": [{"name": "line", "output": "line", "observed": "observed.csv", "keys": ["t"], "values": ["y"],
                     "loss": "mse"}],
        "algorithm": {"ref": "optuna", "sampler": "tpe", "n_trials": N_TRIALS, "seed": 11},
        "replicates": 2,
        "storage": {"kind": "postgres"},
        "execution": {"workers": 0},
    }  # fmt: skip
    (study / "study.yaml").write_text(yaml.safe_dump(spec))
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DASK_SCHEDULER_ADDRESS"}
    env.update(env_pg)
    command = [sys.executable, "-c", "from modelops.cli.app import main; main()", "run", str(study / "study.yaml"),
               "--runs-dir", str(runs), "--run-id", "pooled", "--json"]  # fmt: skip
    # The runner pods' init containers, all at once, straight to PostgreSQL: they race to create Optuna's tables.
    inits = [
        subprocess.Popen(
            [sys.executable, *schema_init_command()[1:]],
            env={**env, **direct},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(RUNNERS)
    ]
    for init in inits:
        out = init.communicate(timeout=300)[0]
        assert init.returncode == 0 and "optuna schema ready" in out, out[-2000:]
    sampler = ConnectionSampler(pg, env_pg["PGUSER"])
    sampler.start()
    started = time.monotonic()
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(RUNNERS)
    ]
    outcomes = [p.communicate(timeout=600) for p in procs]
    elapsed = time.monotonic() - started
    sampler.stop.set()
    sampler.join(timeout=5)
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, (out + err)[-3000:]  # with --json the error is on stdout
    trials = RunStore(str(runs), "pooled").load_trials()
    peak = max(sampler.samples)
    print(
        f"\npgbouncer: {RUNNERS} runners, {trials.height} trials ({trials['param_id'].n_unique()} distinct "
        f"param_id, {trials['runner'].n_unique()} runners recorded) in {elapsed:.1f}s; server connections peak "
        f"{peak} over {len(sampler.samples)} samples (pool size {POOL_SIZE})"
    )
    assert trials.height == N_TRIALS
    assert trials["param_id"].n_unique() == N_TRIALS
    assert sorted(trials["trial"].to_list()) == list(range(N_TRIALS))
    assert trials["runner"].n_unique() >= 2
    assert 0 < peak <= POOL_SIZE
