"""Manifests of one adaptive run: its namespace, PostgreSQL (optional), the study files and the runner Job.

The runner is the same program as on a laptop: `mops run STUDY --run-id RUN --runs-dir URL`, with
DASK_SCHEDULER_ADDRESS pointing at the workspace scheduler and, with a central store, the PG* variables from the
run's runtime Secret (envFrom: never a password as a plain value). Several replicas cooperate on one study through
PostgreSQL and write their run records to the object store.
"""

from __future__ import annotations

import os
import re
import secrets as _secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelops.k8s import network
from modelops.k8s.backup import build_backup_cronjob
from modelops.k8s.common import (
    IMAGE_DIGEST_SKIP,
    Manifest,
    checkov_skips,
    container,
    labels,
    metadata,
    namespace,
    pod_spec,
    secret,
)
from modelops.k8s.identity import PodIdentity, WorkloadIdentity
from modelops.k8s.managed_store import (
    ManagedStoreTarget,
    build_managed_store,
    csi_mount,
    csi_volume,
    runner_command,
    runtime_spc_name,
)
from modelops.k8s.pooler import POOLER_PORT, PoolerConfig, build_pooler, pooler_name, schema_init_command
from modelops.k8s.postgres import PostgresNames, PostgresSecrets, build_postgres, init_sql
from modelops.k8s.workspace import (
    PULL_SECRET,
    K8sConfigError,
    RegistryCredentials,
    pull_secret_manifest,
    scheduler_address,
    scheduler_selector,
)
from modelops.specs.adaptive import AdaptiveSpec, ManagedStore

STUDY_MOUNT = "/etc/modelops/study"  # the default of spec.study_mount
RUNS_MOUNT = "/var/lib/modelops/runs"
# A ConfigMap holds at most 1 MiB; leave room for its metadata.
STUDY_FILES_LIMIT = 900 * 1024
STUDY_SUFFIXES = (".yaml", ".yml", ".csv", ".json", ".txt", ".py", ".parquet", ".arrow")
STUDY_DEPTH = 3  # levels of subdirectories shipped (data/observed.csv is 2)
RUN_ID_LABEL = "modelops.io/run-id"
METRICS_PORT = 9464  # the runner's Prometheus endpoint (`mops run --metrics-port`)
# Variable names adlfs reads for az:// URLs (what a StorageBinding provides).
AZURE_SCHEMES = ("az://", "abfs://", "abfss://")
OBJECT_STORE_ENV = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_SAS_TOKEN")


class StudyFilesError(ValueError):
    """The study directory cannot be shipped in a ConfigMap; the message says why and what to do."""


# A ConfigMap is readable by anyone who may read the namespace and is never encrypted at rest: a file that looks
# like a credential must not go there. Names first (cheap, and catches empty templates a user is about to fill in),
# then content markers of the secrets a modeller is likely to have lying around (cloud keys, SAS, private keys, DSNs
# with a password).
CREDENTIAL_NAMES = re.compile(
    r"(^|[-_.])(credentials?|secrets?|passwords?|passwd|tokens?|api[-_]?keys?|private[-_]?key|service[-_]?account"
    r"|kubeconfig|\.?env|\.?pgpass|\.?netrc|id_(rsa|dsa|ecdsa|ed25519))([-_.]|$)",
    re.IGNORECASE,
)
CREDENTIAL_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".crt", ".env")
CREDENTIAL_MARKERS = (
    re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(rb"AccountKey=[A-Za-z0-9+/=]{20,}"),
    re.compile(rb"SharedAccessSignature=|[?&]sig=[A-Za-z0-9%+/=]{20,}|\bsv=\d{4}-\d{2}-\d{2}&.*\bsig="),
    re.compile(rb'"(client_secret|private_key|access_token|refresh_token|password)"\s*:\s*"[^"]+'),
    re.compile(rb"postgres(ql)?(\+\w+)?://[^:/@\s]+:[^@/\s]+@"),
    re.compile(rb"(AKIA|ASIA)[0-9A-Z]{16}"),  # an AWS access key id
    re.compile(rb"gh[pousr]_[A-Za-z0-9]{36}"),  # a GitHub token
)


def credential_reason(rel: str, data: bytes) -> str | None:
    """Why the file at ``rel`` looks like a credential (its name or a marker in its content), or None."""
    name = rel.rsplit("/", 1)[-1]
    if CREDENTIAL_NAMES.search(name.rsplit(".", 1)[0] if "." in name[1:] else name) or name.lower().endswith(
        CREDENTIAL_SUFFIXES
    ):
        return "its name looks like a credential file"
    for marker in CREDENTIAL_MARKERS:
        if marker.search(data):
            return "its content looks like a credential (a key, token, SAS or a connection string with a password)"
    return None


@dataclass(frozen=True)
class StudyFiles:
    """The study YAML and the small data and code files under its directory, shipped in a ConfigMap.

    ``files`` maps each path relative to the study's directory (``data/observed.csv``) to its content. A ConfigMap
    is flat, so each path is stored under a key with ``/`` spelt ``__`` and the volume's ``items`` put it back at
    its path: the study's relative paths (``observed: data/observed.csv``, ``project: .``) work unchanged.
    """

    study_name: str
    files: Mapping[str, bytes]

    @classmethod
    def from_path(cls, study_file: Path) -> StudyFiles:
        study_file = Path(study_file)
        if not study_file.is_file():
            raise StudyFilesError(f"study file {study_file} not found; check spec.study in the adaptive spec")
        root = study_file.parent
        files: dict[str, bytes] = {}
        total = 0
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            hidden = any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
            if hidden or not path.is_file() or len(rel.parts) > STUDY_DEPTH:
                continue
            if path.suffix not in STUDY_SUFFIXES and path != study_file:
                continue
            data = path.read_bytes()
            why = credential_reason(rel.as_posix(), data)
            if why is not None:
                raise StudyFilesError(
                    f"{path} is not shipped to the runners: {why}, and the study files go into a ConfigMap (stored "
                    "unencrypted, readable by anyone who can read the namespace). Move it out of the study's "
                    "directory; the runners get their credentials from Secrets (PG* for the central store, workload "
                    "identity or AZURE_STORAGE_* for the object store), see docs/kubernetes.md"
                )
            total += len(data)
            files[rel.as_posix()] = data
        if total > STUDY_FILES_LIMIT:
            raise StudyFilesError(
                f"the files under {root} total {total // 1024} KiB, over the {STUDY_FILES_LIMIT // 1024} KiB a "
                "ConfigMap can hold; move large data into the image or a bundle, or the study into its own directory"
            )
        keys = [config_key(rel) for rel in files]
        if len(set(keys)) != len(keys):
            raise StudyFilesError(f"two files under {root} map to the same ConfigMap key; rename files containing '__'")
        return cls(study_file.name, files)

    def configmap_data(self) -> tuple[dict[str, str], dict[str, str]]:
        """(data, binaryData) for the ConfigMap: UTF-8 text as is, anything else base64-encoded."""
        import base64

        text: dict[str, str] = {}
        binary: dict[str, str] = {}
        for rel, data in self.files.items():
            try:
                text[config_key(rel)] = data.decode("utf-8")
            except UnicodeDecodeError:
                binary[config_key(rel)] = base64.b64encode(data).decode()
        return text, binary

    def volume_items(self) -> list[dict[str, str]]:
        return [{"key": config_key(rel), "path": rel} for rel in sorted(self.files)]


def config_key(rel: str) -> str:
    """A ConfigMap key for a relative path (keys allow only [-._a-zA-Z0-9])."""
    return rel.replace("/", "__")


@dataclass(frozen=True)
class AdaptivePlan:
    """Everything about one run that is not in the spec: its id, names and where it connects."""

    run_id: str
    slug: str
    namespace: str
    workspace_namespace: str
    scheduler_address: str
    study: StudyFiles
    # Where run records go: an object-store URL, or None for the run's PVC.
    runs_url: str | None = None
    # Where the runner pods see the study directory (the spec's study_mount).
    study_mount: str = STUDY_MOUNT

    @classmethod
    def for_run(
        cls,
        spec: AdaptiveSpec,
        run_id: str,
        slug: str,
        ns: str,
        study: StudyFiles,
        *,
        workspace_namespace: str | None = None,
        workspace_scheduler: str | None = None,
        runs_url: str | None = None,
    ) -> AdaptivePlan:
        """The plan for ``run_id``. The scheduler: the spec's scheduler_address, else the workspace binding's
        address when the binding is for the spec's workspace namespace, else the Service name in that namespace.
        Results: the spec's results.url, else ``runs_url`` (the storage binding's), else the run's PVC."""
        ws = spec.spec.workspace
        ws_ns = ws.namespace
        bound = workspace_scheduler if workspace_namespace == ws_ns else None
        address = ws.scheduler_address or bound or scheduler_address(ws_ns)
        return cls(run_id, slug, ns, ws_ns, address, study, spec.spec.results.url or runs_url, spec.spec.study_mount)

    @property
    def runs_dir(self) -> str:
        return self.runs_url or RUNS_MOUNT

    @property
    def runner_name(self) -> str:
        return f"runner-{self.slug}"

    @property
    def study_configmap(self) -> str:
        return f"study-{self.slug}"

    @property
    def runs_pvc(self) -> str:
        return f"runs-{self.slug}"

    @property
    def results_secret(self) -> str:
        return f"object-store-{self.slug}"

    @property
    def postgres(self) -> PostgresNames:
        return PostgresNames(self.slug)


def generate_secrets(spec: AdaptiveSpec) -> PostgresSecrets | None:
    """Fresh random passwords (for render and for applying manifests without Pulumi)."""
    store = spec.spec.central_store
    if store is None or isinstance(store, ManagedStore):
        return None  # the managed store's passwords live in Key Vault, never in a manifest
    admin, runtime = _secrets.token_urlsafe(24), _secrets.token_urlsafe(24)
    return PostgresSecrets(admin, runtime, init_sql(store, runtime))


def object_store_env_from(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The object-store credentials in the caller's environment (for az:// results without a StorageBinding)."""
    env = os.environ if environ is None else environ
    return {k: env[k] for k in OBJECT_STORE_ENV if env.get(k)}


def runner_args(plan: AdaptivePlan) -> list[str]:
    """Exactly what a user types locally; the scheduler comes from DASK_SCHEDULER_ADDRESS."""
    return [f"{plan.study_mount}/{plan.study.study_name}", "--run-id", plan.run_id, "--runs-dir", plan.runs_dir]


def build_adaptive(
    spec: AdaptiveSpec,
    plan: AdaptivePlan,
    *,
    pg_secrets: PostgresSecrets | None = None,
    results_env: Mapping[str, Any] | None = None,
    credentials: RegistryCredentials | None = None,
    identity: PodIdentity | None = None,
    managed: ManagedStoreTarget | None = None,
) -> tuple[list[Manifest], list[Manifest], list[Manifest]]:
    """The run's manifests as three apply phases: (base, init, runners).

    ``base``: namespace, policies, Secrets, PostgreSQL, study ConfigMap, runs PVC. ``init``: the PostgreSQL init
    Job, which must finish before ``runners`` (the runner Job) start, or the first ``mops run`` finds no database.
    ``pg_secrets`` is required when the spec has a central store; ``results_env`` (AZURE_STORAGE_* variables) when
    results go to an az:// URL with the SAS fallback; ``identity`` instead makes the runners act as the workspace's
    workload identity (a federated ServiceAccount in the run's namespace; no credential in any Secret).
    """
    if identity is not None and results_env:
        raise K8sConfigError(
            "both a workload identity and object-store credentials were given; workload identity needs no SAS or key "
            "(unset AZURE_STORAGE_SAS_TOKEN / AZURE_STORAGE_CONNECTION_STRING, or use storage auth: sas)"
        )
    body = spec.spec
    ns = plan.namespace
    base_lbls = labels("adaptive", plan.slug, **{RUN_ID_LABEL: _label_value(plan.run_id)})
    base: list[Manifest] = [namespace(ns, {**base_lbls, network.PLANE_LABEL: "adaptive"})]
    base += network.baseline_policies(ns)
    base.append(network.egress_to_scheduler(ns, plan.workspace_namespace, scheduler_selector(plan.workspace_namespace)))
    base.append(network.metrics_ingress(ns, [METRICS_PORT]))
    pull_secrets: list[str] = []
    if credentials is not None:
        base.append(pull_secret_manifest(ns, credentials, base_lbls))
        pull_secrets.append(PULL_SECRET)
    if identity is not None:
        base += identity.manifests(ns, base_lbls)

    env_from: list[dict[str, Any]] = []
    init: list[Manifest] = []
    volumes: list[dict[str, Any]] = [
        {"name": "study", "configMap": {"name": plan.study_configmap, "items": plan.study.volume_items()}},
    ]
    mounts: list[dict[str, Any]] = [{"name": "study", "mountPath": plan.study_mount, "readOnly": True}]
    runner_env: list[dict[str, Any]] = []
    command, args = ["mops", "run"], runner_args(plan)
    # With a pooler: the runners' PG* point at PgBouncer; an init container first opens the storage directly.
    pool: tuple[PoolerConfig, dict[str, Any], str, str | None] | None = None
    init_env: list[dict[str, Any]] = []
    init_command: list[str] = []
    if isinstance(body.central_store, ManagedStore):
        if managed is None:
            raise K8sConfigError("the spec has a managed central_store: pass its target (ManagedStoreTarget.resolve)")
        if not isinstance(identity, WorkloadIdentity):
            raise K8sConfigError(
                "a managed central_store reads its passwords from Key Vault through Azure workload identity, but none "
                "is configured: bring up the storage stack with storage.auth: workload_identity, or set "
                "spec.object_store {client_id, tenant_id, storage_account} (managed stores exist on Azure only)"
            )
        objs, job = build_managed_store(
            managed,
            ns,
            identity,
            spec.image,
            node_selector=body.runners.node_selector,
            tolerations=[t.as_dict() for t in body.runners.tolerations],
        )
        base += objs
        init.append(job)
        runner_env += [*managed.libpq_env(managed.user), {"name": "PGDATABASE", "value": managed.database}]
        volumes.append(csi_volume(runtime_spc_name(managed)))
        mounts.append(csi_mount())
        command, args = runner_command(args)
        if body.central_store.pooler is not None:
            p = body.central_store.pooler
            config = PoolerConfig(
                managed.database, managed.user, managed.host, managed.port, p.pool_size, p.max_client_conn,
                server_sslmode=managed.sslmode,
            )  # fmt: skip
            pool = (config, csi_volume(runtime_spc_name(managed)), "runtime-password", identity.service_account)
            init_env = list(runner_env)
            wrap, _ = runner_command([])
            init_command = [*wrap[:2], wrap[2].replace("exec mops run", "exec"), "schema-init", *schema_init_command()]
    elif body.central_store is not None:
        if pg_secrets is None:
            raise ValueError("the spec has a central_store: pass pg_secrets (see generate_secrets)")
        pg, job = build_postgres(body.central_store, plan.postgres, ns, pg_secrets)
        base += pg
        init.append(job)
        env_from.append({"secretRef": {"name": plan.postgres.runtime_secret}})
        backup = body.central_store.backup
        if backup is not None:
            from modelops.store.backups import default_backups_url

            if backup.url is None and plan.runs_url is None:
                raise K8sConfigError(
                    "central_store.backup needs an object store: set backup.url or spec.results.url "
                    "(a backup on the run's own PVC would die with it)"
                )
            base.append(
                build_backup_cronjob(
                    name=f"{plan.postgres.base}-backup",
                    ns=ns,
                    slug=plan.slug,
                    run_id=plan.run_id,
                    schedule=backup.schedule,
                    keep=backup.keep,
                    backups_url=backup.url or default_backups_url(str(plan.runs_url), plan.run_id),
                    postgres_image=body.central_store.image,
                    image=spec.image,
                    runtime_secret=plan.postgres.runtime_secret,
                    identity=identity,
                    object_store_secret=plan.results_secret if results_env else None,
                    node_selector=body.central_store.node_selector,
                    tolerations=[t.as_dict() for t in body.central_store.tolerations],
                )
            )
        if body.central_store.pooler is not None:
            p, store = body.central_store.pooler, body.central_store
            host = f"{plan.postgres.service}.{ns}.svc"
            config = PoolerConfig(store.database, store.user, host, 5432, p.pool_size, p.max_client_conn)
            password = {"secret": {"secretName": plan.postgres.runtime_secret, "defaultMode": 0o440,
                                   "items": [{"key": "PGPASSWORD", "path": "password"}]}}  # fmt: skip
            pool = (config, password, "password", None)
            init_command = schema_init_command()

    text, binary = plan.study.configmap_data()
    configmap: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(plan.study_configmap, ns, base_lbls),
        "data": text,
    }
    if binary:
        configmap["binaryData"] = binary
    base.append(configmap)

    if plan.runs_url is None:
        if body.runners.replicas > 1:
            raise K8sConfigError(
                f"{body.runners.replicas} runners need an object store for their run records (a PVC mounts on one "
                "node only): set spec.results.url, or bring up the storage stack (mops storage up)"
            )
        base.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": metadata(plan.runs_pvc, ns, base_lbls),
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": body.results.storage_class,
                    "resources": {"requests": {"storage": body.results.size}},
                },
            }
        )
        volumes.append({"name": "runs", "persistentVolumeClaim": {"claimName": plan.runs_pvc}})
        mounts.append({"name": "runs", "mountPath": RUNS_MOUNT})
    elif results_env:
        base.append(secret(plan.results_secret, ns, base_lbls, results_env))
        env_from.append({"secretRef": {"name": plan.results_secret}})
    elif plan.runs_url.startswith(AZURE_SCHEMES) and identity is None:
        raise K8sConfigError(
            f"results go to {plan.runs_url}, but there are no object-store credentials: give the storage "
            f"binding (mops storage up), or export {' or '.join(OBJECT_STORE_ENV[:2])} "
            "(with AZURE_STORAGE_SAS_TOKEN)"
        )

    init_containers: list[dict[str, Any]] = []
    if pool is not None:
        config, password_volume, password_file, sa = pool
        store = body.central_store
        assert store is not None and store.pooler is not None
        base += build_pooler(
            config, ns, plan.slug, password_volume=password_volume, password_file=password_file,
            image=store.pooler.image, service_account=sa, node_selector=body.runners.node_selector,
            tolerations=[t.as_dict() for t in body.runners.tolerations],
        )  # fmt: skip
        # The schema first, straight to PostgreSQL (k8s/pooler.py: SCHEMA_INIT_SCRIPT says why).
        init_containers.append(
            container(
                "schema-init",
                spec.image,
                command=init_command,
                env=init_env,
                env_from=env_from[:1],
                resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                mounts=mounts[1:],
            )
        )
        # Later entries win over earlier ones and over envFrom: the runners talk to PgBouncer. The hop inside
        # the namespace is not TLS (PgBouncer -> the managed server is, verify-full).
        runner_env = [e for e in runner_env if e["name"] not in ("PGHOST", "PGPORT", "PGSSLMODE", "PGSSLROOTCERT")]
        runner_env += [
            {"name": "PGHOST", "value": f"{pooler_name(plan.slug)}.{ns}.svc"},
            {"name": "PGPORT", "value": str(POOLER_PORT)},
            {"name": "PGSSLMODE", "value": "prefer"},
        ]

    runner_lbls = {**base_lbls, "app.kubernetes.io/name": "runner", "app.kubernetes.io/component": "runner"}
    env: list[dict[str, Any]] = [
        {"name": "DASK_SCHEDULER_ADDRESS", "value": plan.scheduler_address},
        {"name": "MODELOPS_METRICS_PORT", "value": str(METRICS_PORT)},
        *runner_env,
    ]
    if identity is not None:
        env += identity.env()
        mounts += identity.mounts()
        volumes += identity.volumes()
    c = container(
        "runner",
        spec.image,
        command=command,
        args=args,
        env=env,
        env_from=env_from,
        resources=body.runners.resources.as_dict(),
        mounts=mounts,
        ports=[{"name": "http-metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
    )
    skips = dict(IMAGE_DIGEST_SKIP)
    if env_from:
        skips["CKV_K8S_35"] = (
            "`mops run` takes libpq's PG* variables and adlfs's AZURE_STORAGE_* from its environment (the study "
            "storage contract); they come from Secrets through envFrom, never from a value in this manifest"
        )
    runner = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(plan.runner_name, ns, runner_lbls, checkov_skips(skips)),
        "spec": {
            # Every replica drives the same study until it reaches n_trials, then exits 0.
            "parallelism": body.runners.replicas,
            "completions": body.runners.replicas,
            # A crashed runner restarts in place and resumes the study from its storage (same --run-id).
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": runner_lbls, "annotations": network.scrape_annotations(METRICS_PORT)},
                "spec": pod_spec(
                    [c],
                    volumes=volumes,
                    node_selector=body.runners.node_selector,
                    tolerations=[t.as_dict() for t in body.runners.tolerations],
                    image_pull_secrets=pull_secrets,
                    restart_policy="OnFailure",
                    service_account=identity.service_account if identity is not None else None,
                    init_containers=init_containers,
                ),
            },
        },
    }
    return base, init, [runner]


def _label_value(value: str) -> str:
    """A run id as a label value (63 chars of [-A-Za-z0-9_.], alphanumeric at both ends)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in value)[:63]
    return cleaned.strip("-_.") or "run"
