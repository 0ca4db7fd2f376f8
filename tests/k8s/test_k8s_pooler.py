"""PgBouncer manifests: the runners go through the pool, the schema is made directly first, the pool is capped."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.k8s.pooler import PoolerConfig, pgbouncer_ini


def _runner(manifests: list[dict]) -> dict:
    (job,) = [m for m in manifests if m["kind"] == "Job" and m["metadata"]["name"].startswith("runner-")]
    return job["spec"]["template"]["spec"]


CASES = [
    ("pooled", "postgres-pool-run.modelops-pool-run.svc"),
    ("managed-pooled", "modelops-dev-pg-alice.postgres.database.azure.com"),
]


@pytest.mark.parametrize(("variant", "server"), CASES)
def test_k8s_runners_go_through_pgbouncer(study_dir: Path, pick, variant: str, server: str) -> None:
    manifests = pick.adaptive_variants(study_dir / "study.yaml")[variant]
    slug = "pool-run" if variant == "pooled" else "mp-run"
    (cm,) = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == f"pgbouncer-{slug}"]
    ini = cm["data"]["pgbouncer.ini"]
    assert "pool_mode = transaction" in ini and f"host={server} " in ini
    size = 10 if variant == "pooled" else 8
    assert f"default_pool_size = {size}" in ini and f"max_db_connections = {size}" in ini
    assert ("server_tls_sslmode = verify-full" in ini) == (variant == "managed-pooled")
    assert "password" not in ini.lower().replace("auth_file", "")
    pod = _runner(manifests)
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["PGHOST"] == f"pgbouncer-{slug}.modelops-{slug}.svc" and env["PGPORT"] == "6432"
    assert "PGSSLROOTCERT" not in env  # libpq refuses sslrootcert=system with sslmode prefer
    (init,) = pod["initContainers"]
    init_env = {e["name"]: e.get("value") for e in init["env"]}
    assert init_env.get("PGHOST", server.split(".")[0]).startswith(server.split(".")[0])  # straight to PostgreSQL
    assert "optuna.storages.RDBStorage" in init["command"][-1]
    (deploy,) = [m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == f"pgbouncer-{slug}"]
    assert deploy["spec"]["replicas"] == 1  # two replicas would each hold pool_size


def test_k8s_pgbouncer_ini_refuses_what_it_cannot_quote() -> None:
    with pytest.raises(ValueError, match="unquoted"):
        pgbouncer_ini(PoolerConfig("db name", "u", "h"))
