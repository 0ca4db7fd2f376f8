"""PgBouncer between a run's runners and its PostgreSQL (``central_store.pooler``), in transaction pooling mode.

Why: every `mops run` process holds a few SQLAlchemy connections (the study, Optuna's heartbeat), so 64 runners can
ask for a few hundred server connections; a Flexible Server's Burstable tier allows about 50. With transaction
pooling a server connection is held only for the length of one transaction, so ``pool_size`` server connections
serve all runners; ``max_db_connections`` makes that a hard cap.

What transaction pooling rules out (checked for the runner's use of Optuna's RDB storage): session state across
transactions, i.e. session-level advisory locks, LISTEN, SET outside a transaction and server-side prepared
statements. psycopg prepares statements it has run 5 times on a connection, which PgBouncer 1.18 (Debian 12)
cannot carry across server connections; the storage opens its connections with ``prepare_threshold=None``
(calabaria.algorithms._storage), so nothing is prepared.

Authentication: the runners log in to PgBouncer as the runtime role with its password; PgBouncer logs in to the
server with the same (SCRAM). The password reaches PgBouncer as a mounted file (a Secret key for the in-cluster
store, Key Vault through the CSI driver for the managed one), written into its auth file in an emptyDir at start.
The same ``pgbouncer_ini`` text runs the real pgbouncer in tests (tests/cloud_pooler).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.k8s.common import (
    IMAGE_DIGEST_SKIP,
    Manifest,
    checkov_skips,
    container,
    labels,
    metadata,
    pod_spec,
    selector_labels,
    tcp_probes,
)

# Pinned: PgBouncer's behaviour (prepared statements, auth) changes between minor versions.
PGBOUNCER_IMAGE = "docker.io/edoburu/pgbouncer:v1.23.1-p3"
POOLER_PORT = 6432
CONFIG_MOUNT = "/etc/pgbouncer"
AUTH_DIR = "/tmp/pgbouncer"
PASSWORD_MOUNT = "/etc/modelops/pooler-password"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class PoolerConfig:
    """One pool: clients log in to ``database`` as ``user``; PgBouncer holds at most ``pool_size`` server
    connections to ``server_host:server_port``."""

    database: str
    user: str
    server_host: str
    server_port: int = 5432
    pool_size: int = 10
    max_client_conn: int = 500
    # libpq sslmode names PgBouncer understands: disable, allow, prefer, require, verify-ca, verify-full.
    server_sslmode: str = "prefer"
    listen_addr: str = "0.0.0.0"
    listen_port: int = POOLER_PORT
    auth_file: str = f"{AUTH_DIR}/userlist.txt"


def _ident(value: str) -> str:
    if not value.replace("_", "a").replace("-", "a").replace(".", "a").isalnum():
        raise ValueError(f"{value!r} cannot go into pgbouncer.ini unquoted")
    return value


def pgbouncer_ini(config: PoolerConfig) -> str:
    """The configuration file. No secret in it: the password is in the auth file, written at start."""
    server = (
        f"host={_ident(config.server_host)} port={config.server_port} dbname={_ident(config.database)} "
        f"user={_ident(config.user)}"
    )
    lines = [
        "[databases]",
        f"{config.database} = {server}",
        "",
        "[pgbouncer]",
        f"listen_addr = {config.listen_addr}",
        f"listen_port = {config.listen_port}",
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        f"auth_file = {config.auth_file}",
        "pool_mode = transaction",
        f"default_pool_size = {config.pool_size}",
        "min_pool_size = 0",
        "reserve_pool_size = 0",
        # The hard cap the pool size promises, whatever the number of clients.
        f"max_db_connections = {config.pool_size}",
        f"max_client_conn = {config.max_client_conn}",
        # Clients wait for a free server connection rather than fail; bounded, so nothing waits for ever.
        "query_wait_timeout = 120",
        "server_idle_timeout = 60",
        # psycopg and SQLAlchemy may send these at connect; PgBouncer must not refuse the client for them.
        "ignore_startup_parameters = extra_float_digits,options",
        f"server_tls_sslmode = {config.server_sslmode}",
        f"server_tls_ca_file = {SYSTEM_CA}",
        "logfile =",
        "pidfile =",
        "log_connections = 0",
        "log_disconnections = 0",
        "",
    ]
    return "\n".join(lines)


def start_script(user: str, password_file: str, ini: str, auth_file: str) -> str:
    """Shell that writes the auth file (mode 600) from the mounted password, then execs pgbouncer."""
    auth_dir = auth_file.rsplit("/", 1)[0]
    return (
        "set -eu\n"
        "umask 077\n"
        f"mkdir -p {auth_dir}\n"
        # Double quotes inside the password are doubled, as PgBouncer's auth file format requires.
        f'printf \'"%s" "%s"\\n\' "{_ident(user)}" "$(sed \'s/"/""/g\' {password_file})" > {auth_file}\n'
        f"exec pgbouncer {ini}\n"
    )


# Optuna creates its tables when a storage first opens. Through a transaction pool, runners starting together
# deadlock there: each holds a server connection in a DDL transaction waiting on another's lock, while the rest
# wait for a free server connection (seen with the real PgBouncer: all 8 stuck until query_wait_timeout). So each
# runner pod first opens the storage once *directly* against PostgreSQL (an init container running this with the
# image's Optuna), retrying the losers of the creation race; the runners then go through the pool and find the
# tables. The URL is built as `mops run` builds it (modelops.runner.study.postgres_url_from_env).
SCHEMA_INIT_SCRIPT = """\
import os, time, warnings
import optuna
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
e = os.environ
url = f"postgresql+psycopg://{e['PGUSER']}@{e['PGHOST']}:{e.get('PGPORT', '5432')}/{e['PGDATABASE']}"
warnings.simplefilter("ignore")
for attempt in range(10):
    try:
        optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"prepare_threshold": None}}).engine.dispose()
        print("optuna schema ready")
        break
    except (IntegrityError, ProgrammingError, OperationalError) as exc:
        if attempt == 9:
            raise SystemExit(f"could not create the optuna schema: {type(exc).__name__}")
        time.sleep(0.5 * (attempt + 1))
"""


def schema_init_command() -> list[str]:
    return ["python", "-c", SCHEMA_INIT_SCRIPT]


def pooler_name(slug: str) -> str:
    return f"pgbouncer-{slug}"


def build_pooler(
    config: PoolerConfig,
    ns: str,
    slug: str,
    *,
    password_volume: dict[str, Any],
    password_file: str,
    image: str = PGBOUNCER_IMAGE,
    service_account: str | None = None,
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
) -> list[Manifest]:
    """ConfigMap (pgbouncer.ini), Deployment (one replica: two would each hold ``pool_size``), Service."""
    name = pooler_name(slug)
    lbls = labels(name, slug, **{"app.kubernetes.io/component": "pooler"})
    ini = f"{CONFIG_MOUNT}/pgbouncer.ini"
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, ns, lbls),
        "data": {"pgbouncer.ini": pgbouncer_ini(config)},
    }
    c = container(
        "pgbouncer",
        image,
        command=["sh", "-c"],
        args=[start_script(config.user, f"{PASSWORD_MOUNT}/{password_file}", ini, config.auth_file)],
        resources={"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        ports=[{"name": "tcp-pgbouncer", "containerPort": config.listen_port, "protocol": "TCP"}],
        probes=tcp_probes(config.listen_port),
        mounts=[
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            {"name": "password", "mountPath": PASSWORD_MOUNT, "readOnly": True},
        ],
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, ns, lbls, checkov_skips(IMAGE_DIGEST_SKIP)),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector_labels(name, slug)},
            "template": {
                "metadata": {"labels": lbls},
                "spec": pod_spec(
                    [c],
                    volumes=[
                        {"name": "config", "configMap": {"name": name}},
                        {**password_volume, "name": "password"},
                    ],
                    node_selector=node_selector,
                    tolerations=tolerations or (),
                    service_account=service_account,
                ),
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, ns, lbls),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(name, slug),
            "ports": [
                {
                    "name": "tcp-pgbouncer",
                    "port": config.listen_port,
                    "targetPort": config.listen_port,
                    "protocol": "TCP",
                }
            ],
        },
    }
    return [configmap, deployment, service]
