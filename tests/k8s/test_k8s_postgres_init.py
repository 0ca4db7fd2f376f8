"""The init Job's SQL, run with psql against the real PostgreSQL: creates the role and database, idempotently."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import psycopg
import pytest

from modelops.k8s.postgres import init_sql
from modelops.specs.adaptive import CentralStore
from modelops_testing.real_services import Postgres, services_required


@pytest.mark.services
def test_k8s_init_sql_is_idempotent(postgres_server_info: Postgres) -> None:
    psql = shutil.which("psql")
    if psql is None:
        message = "psql is not installed (apt-get install postgresql-client)"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    tag = uuid.uuid4().hex[:8]
    store = CentralStore(user=f"mops_user_{tag}", database=f"mops_db_{tag}")
    admin = postgres_server_info
    try:
        for password in ("first-pass", "it's-rotated"):  # a second run converges, even with a quote in it
            proc = subprocess.run(
                [psql, "-X", "-q", "-h", admin.host, "-p", str(admin.port), "-U", admin.user, "-d", "postgres"],
                input=init_sql(store, password),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
        with psycopg.connect(host=admin.host, port=admin.port, user=store.user, dbname=store.database) as conn:
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            ).fetchone()
            assert owner == (store.user,)
            conn.execute("CREATE TABLE t (x int)")  # the runtime role can create Optuna's tables
    finally:
        with psycopg.connect(admin.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {store.database} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {store.user}")
