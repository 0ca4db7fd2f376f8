"""The run's in-cluster PostgreSQL: Secrets, a StatefulSet with a PVC, a Service, and an idempotent init Job.

Two passwords, both generated at apply time (never in a spec file): the admin password (the ``postgres``
superuser, used only by the init Job) and the runtime password (the study's own role, handed to the runners as
libpq PG* variables through a Secret). The init Job's SQL lives in a Secret because it carries the runtime password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelops.k8s.common import (
    IMAGE_DIGEST_SKIP,
    Manifest,
    checkov_skips,
    container,
    labels,
    metadata,
    pod_spec,
    secret,
    selector_labels,
)
from modelops.specs.adaptive import CentralStore

PG_PORT = 5432
ADMIN_KEY = "POSTGRES_PASSWORD"
ADMIN_MOUNT = "/etc/modelops/pg-admin"
INIT_MOUNT = "/etc/modelops/pg-init"
DATA_MOUNT = "/var/lib/postgresql/data"


@dataclass(frozen=True)
class PostgresNames:
    """Object names of one run's PostgreSQL, all suffixed with the run slug (unique even if namespaces merge)."""

    slug: str

    @property
    def base(self) -> str:
        return f"postgres-{self.slug}"

    @property
    def service(self) -> str:
        return self.base

    @property
    def admin_secret(self) -> str:
        return f"{self.base}-admin"

    @property
    def runtime_secret(self) -> str:
        """The Secret holding PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE for the runners (the PostgresBinding)."""
        return f"{self.base}-runtime"

    @property
    def init_secret(self) -> str:
        return f"{self.base}-init"

    @property
    def init_job(self) -> str:
        return f"{self.base}-init"

    @property
    def pvc_template(self) -> str:
        return "data"

    @property
    def pvc(self) -> str:
        """The PVC the StatefulSet creates for its only replica (kept by `mops adaptive down` unless --purge)."""
        return f"{self.pvc_template}-{self.base}-0"


@dataclass(frozen=True)
class PostgresSecrets:
    """Secret values: plain strings when rendering, Pulumi Outputs when applying (they flow into stringData)."""

    admin_password: Any = field(repr=False)
    runtime_password: Any = field(repr=False)
    init_sql: Any = field(repr=False)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def init_sql(store: CentralStore, runtime_password: str) -> str:
    """A psql script that creates the runtime role and database, and can run any number of times.

    CREATE ROLE/DATABASE have no IF NOT EXISTS, and CREATE DATABASE cannot run in a DO block, so each statement is
    generated only when the object is missing and run with psql's \\gexec. The password is (re)set every time, so a
    re-run after a password rotation converges. ``store.user``/``store.database`` are validated identifiers.
    """
    user, db = store.user, store.database
    return "\n".join(
        [
            "\\set ON_ERROR_STOP on",
            f"SELECT 'CREATE ROLE {user} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}')"
            "\\gexec",
            f"ALTER ROLE {user} WITH LOGIN PASSWORD {_literal(runtime_password)};",
            f"SELECT 'CREATE DATABASE {db} OWNER {user}' "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{db}')\\gexec",
            f"ALTER DATABASE {db} OWNER TO {user};",
            f"GRANT ALL PRIVILEGES ON DATABASE {db} TO {user};",
            "",
        ]
    )


def runtime_env(names: PostgresNames, ns: str, store: CentralStore, password: Any) -> dict[str, Any]:
    """The libpq variables `mops run` reads (storage: {kind: postgres} without a dsn)."""
    return {
        "PGHOST": f"{names.service}.{ns}.svc",
        "PGPORT": str(PG_PORT),
        "PGUSER": store.user,
        "PGPASSWORD": password,
        "PGDATABASE": store.database,
    }


def build_postgres(
    store: CentralStore, names: PostgresNames, ns: str, secrets: PostgresSecrets
) -> tuple[list[Manifest], Manifest]:
    """(the Secrets, StatefulSet and Service in apply order, the init Job that must run after them)."""
    lbls = labels("postgres", names.slug, **{"app.kubernetes.io/component": "central-store"})
    sel = selector_labels("postgres", names.slug)
    out: list[Manifest] = [
        secret(names.admin_secret, ns, lbls, {ADMIN_KEY: secrets.admin_password}),
        secret(names.runtime_secret, ns, lbls, runtime_env(names, ns, store, secrets.runtime_password)),
        secret(names.init_secret, ns, lbls, {"init.sql": secrets.init_sql}),
    ]
    ready = ["pg_isready", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres"]
    db = container(
        "postgres",
        store.image,
        command=["docker-entrypoint.sh"],
        args=["postgres"],
        env=[
            # The image reads the superuser password from this file: no password in any env var.
            {"name": "POSTGRES_PASSWORD_FILE", "value": f"{ADMIN_MOUNT}/{ADMIN_KEY}"},
            # A subdirectory, because the volume's root holds lost+found and initdb wants an empty directory.
            {"name": "PGDATA", "value": f"{DATA_MOUNT}/pgdata"},
        ],
        resources=store.resources.as_dict(),
        ports=[{"name": "tcp-postgres", "containerPort": PG_PORT, "protocol": "TCP"}],
        probes={
            "readinessProbe": {"exec": {"command": ready}, "initialDelaySeconds": 5, "periodSeconds": 10},
            "livenessProbe": {
                "exec": {"command": ready},
                "initialDelaySeconds": 30,
                "periodSeconds": 20,
                "failureThreshold": 6,
            },
        },
        mounts=[
            {"name": names.pvc_template, "mountPath": DATA_MOUNT},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "admin", "mountPath": ADMIN_MOUNT, "readOnly": True},
        ],
    )
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(names.base, ns, lbls, checkov_skips(IMAGE_DIGEST_SKIP)),
        "spec": {
            "serviceName": names.service,
            "replicas": 1,
            "selector": {"matchLabels": sel},
            # Keep the data when the StatefulSet goes: `mops adaptive down` removes it only with --purge.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": lbls},
                "spec": pod_spec(
                    [db],
                    volumes=[
                        {"name": "run", "emptyDir": {}},
                        {"name": "admin", "secret": {"secretName": names.admin_secret, "defaultMode": 0o440}},
                    ],
                    node_selector=store.node_selector,
                    tolerations=[t.as_dict() for t in store.tolerations],
                ),
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": names.pvc_template, "labels": lbls},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": store.storage_class,
                        "resources": {"requests": {"storage": store.size}},
                    },
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(names.service, ns, lbls),
        "spec": {
            "type": "ClusterIP",
            "selector": sel,
            "ports": [{"name": "tcp-postgres", "port": PG_PORT, "targetPort": PG_PORT, "protocol": "TCP"}],
        },
    }
    out += [statefulset, service]
    return out, _init_job(store, names, ns, lbls)


def _init_job(store: CentralStore, names: PostgresNames, ns: str, lbls: dict[str, str]) -> Manifest:
    script = (
        "set -eu\n"
        "until pg_isready -q; do echo 'waiting for PostgreSQL'; sleep 2; done\n"
        f'PGPASSWORD="$(cat {ADMIN_MOUNT}/{ADMIN_KEY})" exec psql -v ON_ERROR_STOP=1 -f {INIT_MOUNT}/init.sql\n'
    )
    job_container = container(
        "init",
        store.image,
        command=["sh", "-c"],
        args=[script],
        env=[
            {"name": "PGHOST", "value": names.service},
            {"name": "PGPORT", "value": str(PG_PORT)},
            {"name": "PGUSER", "value": "postgres"},
            {"name": "PGDATABASE", "value": "postgres"},
        ],
        resources={"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        mounts=[
            {"name": "admin", "mountPath": ADMIN_MOUNT, "readOnly": True},
            {"name": "init", "mountPath": INIT_MOUNT, "readOnly": True},
        ],
    )
    job_lbls = {**lbls, "app.kubernetes.io/component": "central-store-init"}
    skips = {
        **IMAGE_DIGEST_SKIP,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(names.init_job, ns, job_lbls, checkov_skips(skips)),
        "spec": {
            "backoffLimit": 10,
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": job_lbls},
                "spec": pod_spec(
                    [job_container],
                    volumes=[
                        {"name": "admin", "secret": {"secretName": names.admin_secret, "defaultMode": 0o440}},
                        {"name": "init", "secret": {"secretName": names.init_secret, "defaultMode": 0o440}},
                    ],
                    node_selector=store.node_selector,
                    tolerations=[t.as_dict() for t in store.tolerations],
                    restart_policy="OnFailure",
                ),
            },
        },
    }
