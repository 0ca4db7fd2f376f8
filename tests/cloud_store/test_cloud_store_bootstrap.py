"""The managed store's bootstrap Job command against the real PostgreSQL, logged in as a non-superuser admin with
CREATEROLE and CREATEDB (what Azure Database for PostgreSQL gives its admin): admin -> runtime role separation,
idempotent, and Optuna working as the runtime role inside its one schema."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from modelops_testing.real_services import Postgres

pytestmark = pytest.mark.services
MOPS = str(Path(sys.executable).parent / "mops")  # the console script the image runs


@pytest.fixture
def azure_like_admin(postgres_server_info: Postgres) -> Iterator[tuple[str, str, str, str]]:
    """(admin role, runtime role, database, schema) names; the admin is no superuser. Dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    admin, user, db = f"mops_adm_{tag}", f"optuna_{tag}", f"optuna_run_{tag}"
    root = postgres_server_info
    with psycopg.connect(root.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB NOSUPERUSER")
    try:
        yield admin, user, db, "optuna"
    finally:
        with psycopg.connect(root.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {user}")
            conn.execute(f"DROP ROLE IF EXISTS {admin}")


def _job(pg: Postgres, admin: str, user: str, db: str, tmp: Path, password: str) -> subprocess.CompletedProcess:
    """Exactly the bootstrap Job's command, with the Key Vault files it would see."""
    (tmp / "admin").write_text("admin-secret\n")
    (tmp / "runtime").write_text(password + "\n")
    env = {**os.environ, "PGHOST": pg.host, "PGPORT": str(pg.port), "PGUSER": admin, "PGSSLMODE": "prefer"}
    return subprocess.run(
        [MOPS, "adaptive", "bootstrap-store", "--database", db, "--user", user,
         "--admin-password-file", str(tmp / "admin"), "--runtime-password-file", str(tmp / "runtime")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cloud_store_bootstrap_separates_admin_and_runtime(
    postgres_server_info: Postgres, azure_like_admin: tuple[str, str, str, str], tmp_path: Path
) -> None:
    pg = postgres_server_info
    admin, user, db, schema = azure_like_admin
    first = _job(pg, admin, user, db, tmp_path, "first-pass")
    assert first.returncode == 0, first.stderr + first.stdout
    assert f"created role {user}" in first.stdout and f"created database {db}" in first.stdout
    # Idempotent, and a rotated password (with a quote) converges; nothing is created twice.
    again = _job(pg, admin, user, db, tmp_path, "it's-rotated")
    assert again.returncode == 0, again.stderr + again.stdout
    assert "created" not in again.stdout
    assert "first-pass" not in first.stdout + first.stderr and "rotated" not in again.stdout + again.stderr

    with psycopg.connect(pg.dsn) as conn:
        flags = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
            "FROM pg_roles WHERE rolname = %s",
            (user,),
        ).fetchone()
        assert flags == (False, False, False, False, False, True)
        db_owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (db,)).fetchone()
        assert db_owner == (admin,)  # the runners cannot drop or alter their database

    runtime = f"host={pg.host} port={pg.port} user={user} dbname={db}"
    with psycopg.connect(runtime, autocommit=True) as conn:
        assert conn.execute("SHOW search_path").fetchone() == (schema,)
        owner = conn.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (schema,))
        assert owner.fetchone() == (user,)
        conn.execute("CREATE TABLE probe (x int)")  # lands in its schema
        assert conn.execute("SELECT to_regclass(%s)", (f"{schema}.probe",)).fetchone() != (None,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.nope (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE DATABASE nope")
    # No access to another database (the maintenance one is open to PUBLIC, the run's own is not).
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        other = f"other_{uuid.uuid4().hex[:6]}"
        conn.execute(f"CREATE DATABASE {other}")
        conn.execute(f"REVOKE ALL ON DATABASE {other} FROM PUBLIC")
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(f"host={pg.host} port={pg.port} user={user} dbname={other}").close()
    finally:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {other}")


def test_cloud_store_optuna_runs_as_the_runtime_role(
    postgres_server_info: Postgres, azure_like_admin: tuple[str, str, str, str], tmp_path: Path
) -> None:
    import optuna

    pg = postgres_server_info
    admin, user, db, schema = azure_like_admin
    assert _job(pg, admin, user, db, tmp_path, "pw").returncode == 0
    storage = optuna.storages.RDBStorage(f"postgresql+psycopg://{user}@{pg.host}:{pg.port}/{db}")
    study = optuna.create_study(storage=storage, study_name="s", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=5)
    assert len(study.trials) == 5
    storage.engine.dispose()
    with psycopg.connect(f"host={pg.host} port={pg.port} user={user} dbname={db}") as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
        assert {"studies", "trials"} <= tables
        public = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert public == (0,)


def test_cloud_store_bootstrap_refuses_bad_names_and_missing_secrets(tmp_path: Path) -> None:
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGUSER": "nobody"}
    bad = subprocess.run(
        [MOPS, "adaptive", "bootstrap-store", "--database", "x; DROP", "--user",
         "u", "--admin-password-file", "/nonexistent", "--runtime-password-file", "/nonexistent"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1 and "lowercase SQL identifier" in bad.stderr + bad.stdout
    missing = subprocess.run(
        [MOPS, "adaptive", "bootstrap-store", "--database", "d", "--user", "u",
         "--admin-password-file", str(tmp_path / "none"), "--runtime-password-file", str(tmp_path / "none")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1 and "Key Vault" in missing.stderr + missing.stdout


def test_cloud_store_migration_from_the_in_cluster_store(
    postgres_server_info: Postgres, azure_like_admin: tuple[str, str, str, str], tmp_path: Path
) -> None:
    """docs/cloud.md's migration, on real PostgreSQL: a study in an in-cluster-style database (tables in public,
    owned by its role) is dumped, restored as the managed server's admin, adopted into the runtime role's schema,
    and Optuna continues it as the runtime role with every trial kept."""
    import shutil

    import optuna

    pg = postgres_server_info
    admin, user, db, _ = azure_like_admin
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if not pg_dump or not pg_restore:
        pytest.skip("pg_dump/pg_restore not installed (postgresql-client)")
    old = f"incluster_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {old}")
    try:
        src = optuna.storages.RDBStorage(f"postgresql+psycopg://{pg.user}@{pg.host}:{pg.port}/{old}")
        study = optuna.create_study(storage=src, study_name="sir", sampler=optuna.samplers.RandomSampler(seed=3))
        study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=7)
        before = [(t.number, t.params, t.value) for t in study.trials]
        src.engine.dispose()
        dump = tmp_path / "run.dump"
        subprocess.run(
            [pg_dump, "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-d", old, "-Fc", "--no-owner", "--no-acl",
             "-f", str(dump)], check=True, timeout=120,
        )  # fmt: skip
        assert _job(pg, admin, user, db, tmp_path, "pw").returncode == 0  # the run's first `up` on the managed store
        # Restore as the (non-superuser) admin: Optuna's tables land in public, which the admin owns.
        restore = subprocess.run(
            [pg_restore, "-h", pg.host, "-p", str(pg.port), "-U", admin, "-d", db, "--no-owner", "--no-acl",
             str(dump)], capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert restore.returncode == 0, restore.stderr
        env = {**os.environ, "PGHOST": pg.host, "PGPORT": str(pg.port), "PGUSER": admin}
        adopt = subprocess.run(
            [MOPS, "adaptive", "bootstrap-store", "--database", db, "--user", user, "--admin-password-file",
             str(tmp_path / "admin"), "--runtime-password-file", str(tmp_path / "runtime"), "--adopt-public"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert adopt.returncode == 0, adopt.stderr + adopt.stdout
        assert "moved" in adopt.stdout
        dst = optuna.storages.RDBStorage(f"postgresql+psycopg://{user}@{pg.host}:{pg.port}/{db}")
        resumed = optuna.load_study(storage=dst, study_name="sir", sampler=optuna.samplers.RandomSampler(seed=4))
        assert [(t.number, t.params, t.value) for t in resumed.trials] == before
        resumed.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)  # writes as the runtime role
        assert len(resumed.trials) == 10
        dst.engine.dispose()
        # A second adoption into the now populated schema is refused and changes nothing.
        again = subprocess.run(adopt.args, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 1 and "already holds tables" in again.stdout + again.stderr
    finally:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {old} WITH (FORCE)")
