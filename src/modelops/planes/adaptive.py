"""The adaptive plane: one calibration run on Kubernetes (stack ``modelops-adaptive-<env>-<run>``).

A run is `mops run STUDY` executed by runner pods in the run's own namespace (``modelops-<run-slug>``), against the
workspace's Dask scheduler, with an in-cluster PostgreSQL (or a managed server's database) when several runners
share the study. Also here: the managed store's bootstrap and backup jobs, and restoring a run's database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.planes.errors import PlaneError
from modelops.planes.stacks import OnOutput
from modelops.planes.workspace import (
    cluster_kubeconfig,
    credentials,
    infra_ref_or_fail,
    object_store_access,
    pulumi_context,
    read_kubeconfig,
    storage_binding,
    storage_env,
)

if TYPE_CHECKING:
    from modelops.infra.automation import PulumiContext
    from modelops.infra.bindings import CloudStorageBinding, DaskBinding, StorageBinding
    from modelops.k8s.adaptive import AdaptivePlan
    from modelops.specs.adaptive import AdaptiveSpec

# Reads a run's records (a RunStore) into the report `mops runs show` prints.
ReadReport = Callable[[Any], dict[str, Any]]


def plan_run(
    spec_path: Path, run_id: str, *, dask: DaskBinding | None = None, runs_url: str | None = None
) -> tuple[AdaptiveSpec, AdaptivePlan]:
    """The spec and the run's plan (names, namespace, study files, scheduler, where records go)."""
    from modelops.core import naming
    from modelops.k8s.adaptive import AdaptivePlan, StudyFiles
    from modelops.specs.adaptive import check_study_storage, load_adaptive_spec, study_path

    spec = load_adaptive_spec(spec_path)
    study_file = study_path(spec_path, spec)
    check_study_storage(spec, study_file)
    plan = AdaptivePlan.for_run(
        spec,
        run_id,
        naming.run_slug(run_id),
        naming.run_namespace(run_id),
        StudyFiles.from_path(study_file),
        workspace_namespace=dask.namespace if dask is not None else None,
        workspace_scheduler=dask.scheduler_addr if dask is not None else None,
        runs_url=runs_url,
    )
    return spec, plan


def managed_store(
    spec: AdaptiveSpec,
    plan: AdaptivePlan,
    ctx: PulumiContext | None = None,
    storage: StorageBinding | CloudStorageBinding | None = None,
) -> tuple[Any, Any, Any]:
    """(ManagedStoreTarget, RunSecretTarget, store admin Federation) for a managed central store, else Nones.

    With a Pulumi context the server, vault and identities come from the infra and storage stacks; without one
    (render) from the spec's central_store fields alone, and the run's Key Vault secret is made by hand."""
    from modelops.infra.components.database import RunSecretTarget
    from modelops.infra.components.identity import Federation
    from modelops.k8s.managed_store import ManagedStoreTarget
    from modelops.specs.adaptive import ManagedStore

    store = spec.spec.central_store
    if not isinstance(store, ManagedStore):
        return None, None, None
    infra: dict[str, Any] = {}
    if ctx is not None:
        from modelops.infra import automation

        infra = automation.read_outputs(ctx, "infra") if automation.stack_exists(ctx, "infra") else {}
    target = ManagedStoreTarget.resolve(
        store,
        plan.slug,
        host=infra.get("postgres_fqdn"),
        admin_user=infra.get("postgres_admin_user"),
        key_vault=infra.get("key_vault_name"),
        admin_client_id=infra.get("store_admin_client_id"),
    )
    if not infra or storage is None or storage.mode != "workload_identity":
        return target, None, None
    sub = storage.identity_subscription_id
    run_secret = RunSecretTarget(
        subscription_id=sub,
        resource_group=infra["resource_group"],
        key_vault_name=infra["key_vault_name"],
        key_vault_id=infra["key_vault_id"],
        reader_principal_ids=(storage.identity_principal_id, infra["store_admin_principal_id"]),
    )
    admin = Federation(sub, infra["resource_group"], infra["store_admin_identity_name"], infra["oidc_issuer_url"])
    return target, run_secret, admin


def render(spec_path: Path, run_id: str) -> list[dict[str, Any]]:
    """The run's manifests in apply order (PostgreSQL, init Job, runners), with passwords generated afresh and
    object-store credentials from AZURE_STORAGE_* in this environment."""
    from modelops.k8s.adaptive import build_adaptive, generate_secrets

    spec, plan = plan_run(spec_path, run_id)
    identity, _, env_vars = object_store_access(spec.spec.object_store, None, render=True)
    managed, _, _ = managed_store(spec, plan)
    base, init, runners = build_adaptive(
        spec,
        plan,
        pg_secrets=generate_secrets(spec),
        results_env=env_vars or None,
        credentials=credentials(spec),
        identity=identity,
        managed=managed,
    )
    return base + init + runners


@dataclass(frozen=True)
class Started:
    """A run brought up: its plan and the stack's outputs; ``moved_from`` is the workspace stack's namespace when
    the spec names another (the runners then use the spec's)."""

    plan: AdaptivePlan
    outputs: Mapping[str, Any]
    moved_from: str | None = None


def up(
    spec_path: Path,
    run_id: str,
    env: str | None,
    kubeconfig: Path | None,
    *,
    on_output: OnOutput = None,
    on_planned: Callable[[Started], None] | None = None,
) -> Started:
    """Start (or update) a run: its namespace, PostgreSQL (if the spec has a central store), study files and runner
    pods. ``on_planned`` hears the plan before Pulumi starts (e.g. to note a workspace namespace mismatch)."""
    from modelops.infra import automation
    from modelops.infra.bindings import DaskBinding
    from modelops.infra.components import adaptive as component

    ctx = pulumi_context(env, create=True)
    dask = None
    if automation.stack_exists(ctx, "workspace"):
        dask = DaskBinding.from_outputs(automation.read_outputs(ctx, "workspace"))
    storage = storage_binding(ctx)
    runs_url = storage.runs_url() if storage is not None else None
    spec, plan = plan_run(spec_path, run_id, dask=dask, runs_url=runs_url)
    moved = dask.namespace if dask is not None and dask.namespace != plan.workspace_namespace else None
    if on_planned is not None:
        on_planned(Started(plan, {}, moved))
    kc = read_kubeconfig(kubeconfig)
    identity, federation, env_vars = object_store_access(spec.spec.object_store, storage)
    env_for_results = env_vars if plan.runs_url else {}
    managed, run_secret, admin_federation = managed_store(spec, plan, ctx, storage)
    program = component.adaptive_program(
        spec,
        plan,
        infra_ref=infra_ref_or_fail(ctx, kc),
        kubeconfig=kc,
        results_env=env_for_results or None,
        credentials=credentials(spec),
        identity=identity,
        federation=federation,
        managed=managed,
        run_secret=run_secret,
        admin_federation=admin_federation,
    )
    outputs = automation.up(ctx, "adaptive", program, run_id=run_id, on_output=on_output)
    return Started(plan, outputs, moved)


def namespace_of(run_id: str) -> str:
    """The run's namespace (``modelops-<run-slug>``)."""
    from modelops.core import naming

    return naming.run_namespace(run_id)


def down(
    ctx: PulumiContext, run_id: str, *, purge: bool, kubeconfig: Path | None, on_output: OnOutput = None
) -> bool | None:
    """Stop a run (runners, PostgreSQL, Secrets, its stack); with ``purge`` also delete its namespace and volumes:
    True if it was deleted, False if it was already gone (None without ``purge``)."""
    from modelops.core import naming
    from modelops.infra import automation
    from modelops.k8s import cluster

    kc_text = cluster_kubeconfig(ctx, kubeconfig) if purge else None  # read before the stacks change
    automation.destroy(ctx, "adaptive", run_id=run_id, remove=True, on_output=on_output)
    if not purge:
        return None
    return cluster.delete_namespace(cluster.clients(kc_text), naming.run_namespace(run_id))


def run_outputs(env: str | None, run_id: str, kubeconfig: Path | None) -> tuple[PulumiContext | None, dict[str, Any]]:
    """(Pulumi context or None, the run stack's outputs). With ``kubeconfig``, a run applied without Pulumi
    (`render | kubectl apply`) is found by its names alone when there is no stack (or no pulumi CLI) to ask."""
    from modelops.core import naming
    from modelops.infra import automation
    from modelops.infra.automation import InfraError

    try:
        ctx = pulumi_context(env)
        return ctx, automation.read_outputs(ctx, "adaptive", run_id=run_id)
    except InfraError:
        if kubeconfig is None:
            raise
    slug = naming.run_slug(run_id)
    return None, {"run_namespace": naming.run_namespace(run_id), "runner_name": f"runner-{slug}"}


def records(
    runs_dir: str | None, run_id: str, storage: StorageBinding | CloudStorageBinding | None, read_report: ReadReport
) -> dict[str, Any]:
    """Trials completed and the best loss, from the run's records (an object store, or a local copy); ``error``
    instead when they cannot be read (status reports it rather than failing)."""
    if not runs_dir or "://" not in runs_dir:
        return {"error": f"the run's records are on its PVC ({runs_dir}); read them with `mops adaptive logs`"}
    if storage is not None:
        # adlfs reads its credentials from the environment: give this process the storage binding's.
        os.environ.update(storage_env(storage))
    from modelops.store.results import RunNotFound, RunStore

    try:
        report = read_report(RunStore(runs_dir, run_id))
    except RunNotFound:
        return {"error": f"no records yet at {runs_dir}/{run_id} (the runners write them as trials complete)"}
    except Exception as exc:  # network, credentials, a partly written file: report, do not crash status
        return {"error": f"could not read {runs_dir}/{run_id}: {type(exc).__name__}: {exc}"}
    best = report.get("best") or {}
    return {
        "status": report.get("status"),
        "n_trials": report.get("n_trials"),
        "completed": report.get("completed"),
        "failed": report.get("failed"),
        "best_loss": best.get("loss"),
        "best_params": best.get("params"),
    }


def status(
    run_id: str, env: str | None, kubeconfig: Path | None, runs_dir: str | None, read_report: ReadReport
) -> dict[str, Any]:
    """A run: its runner pods (from the cluster, or ``runners.error``) and trials completed and best loss (from its
    records, or ``records.error``)."""
    from modelops.infra.automation import InfraError
    from modelops.infra.bindings import BindingError
    from modelops.k8s import cluster

    ctx, outputs = run_outputs(env, run_id, kubeconfig)
    ns, runner = outputs.get("run_namespace"), outputs.get("runner_name")
    report: dict[str, Any] = {"run_id": run_id, "namespace": ns, "runner": runner}
    report["runs_dir"] = runs_dir or outputs.get("runs_dir")
    try:
        api = cluster.clients(cluster_kubeconfig(ctx, kubeconfig))
        job = cluster.job_status(api, ns, runner)
        report["runners"] = {
            "state": job.state,
            "active": job.active,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "pods": [p.__dict__ for p in job.pods],
        }
    except (cluster.ClusterError, InfraError, BindingError) as exc:
        report["runners"] = {"error": str(getattr(exc, "message", exc))}
    report["records"] = records(report["runs_dir"], run_id, storage_binding(ctx) if ctx else None, read_report)
    return report


@dataclass(frozen=True)
class LogsTarget:
    namespace: str
    job: str


def logs(
    run_id: str, env: str | None, kubeconfig: Path | None, *, tail: int | None, init: bool
) -> tuple[LogsTarget, Iterator[tuple[str, str]]]:
    """The Job whose pods' logs are read (the runners, or the database init Job) and (pod, text) pairs."""
    from modelops.core import naming
    from modelops.k8s import cluster
    from modelops.k8s.postgres import PostgresNames

    ctx, outputs = run_outputs(env, run_id, kubeconfig)
    ns = outputs.get("run_namespace") or naming.run_namespace(run_id)
    job = PostgresNames(naming.run_slug(run_id)).init_job if init else outputs.get("runner_name")
    api = cluster.clients(cluster_kubeconfig(ctx, kubeconfig))
    return LogsTarget(ns, job), iter(cluster.job_logs(api, ns, job, tail=tail or None))


def list_runs(env: str | None, kubeconfig: Path | None, read_report: ReadReport) -> list[dict[str, Any]]:
    """The runs on the cluster with their runner pods' state and, where the run's stack says where its records
    are, trials completed and best loss."""
    from modelops.infra import automation
    from modelops.infra.automation import InfraError
    from modelops.k8s import cluster

    ctx = None
    try:
        ctx = pulumi_context(env)
    except InfraError:
        if kubeconfig is None:
            raise
    api = cluster.clients(cluster_kubeconfig(ctx, kubeconfig))
    rows = []
    for run in cluster.list_runs(api):
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "namespace": run.namespace,
            "state": run.runners.state,
            "active": run.runners.active,
            "succeeded": run.runners.succeeded,
            "failed": run.runners.failed,
        }
        runs_dir = None
        if ctx is not None:
            try:
                runs_dir = automation.read_outputs(ctx, "adaptive", run_id=run.run_id).get("runs_dir")
            except InfraError:
                runs_dir = None  # applied without Pulumi: no stack to say where its records are
        if runs_dir:
            row["records"] = records(runs_dir, run.run_id, storage_binding(ctx) if ctx else None, read_report)
        rows.append(row)
    return rows


# --- the managed store's jobs and restores --------------------------------------------------------------------------
BOOTSTRAP_HINT = "check the server's firewall/private access, the admin secret in Key Vault, and PGHOST"


def bootstrap_store(
    database: str,
    user: str,
    schema: str,
    admin_password_file: Path,
    runtime_password_file: Path,
    *,
    adopt_public: bool,
    on_step: Callable[[str], None],
) -> int | None:
    """The managed store's bootstrap Job (admin -> runtime role separation), idempotent; each step is reported to
    ``on_step``. With ``adopt_public`` the relations a pg_restore put in public move into the runtime role's schema:
    how many (None without). PlaneError for a refused name or a failed step."""
    from modelops.infra.pg_bootstrap import Bootstrap, BootstrapError, bootstrap, read_secret_file
    from modelops.infra.pg_bootstrap import adopt_public as adopt
    from modelops.specs.adaptive import ManagedStore

    try:
        # The same identifier rules as the spec: these names go into SQL.
        ManagedStore(kind="managed", database=database, user=user, schema=schema)
        plan = Bootstrap(database, user, schema, read_secret_file(runtime_password_file, "runtime password"))
        admin = read_secret_file(admin_password_file, "admin password")
        for step in bootstrap("dbname=postgres", plan, admin_password=admin):
            on_step(step)
        if adopt_public:
            return adopt("dbname=postgres", plan, admin_password=admin)
        return None
    except BootstrapError as exc:
        raise PlaneError(str(exc), hint=BOOTSTRAP_HINT) from None
    except ValueError as exc:
        raise PlaneError(str(exc)) from None


def backup_store(file: Path, to: str, run_id: str, keep: int) -> tuple[str, list[str]]:
    """The backup CronJob's upload step: store the dump, delete the oldest beyond ``keep``; (url, removed)."""
    from modelops.store.backups import BackupError, upload

    try:
        url, removed = upload(file, to, run_id, keep)
    except BackupError as exc:
        raise PlaneError(str(exc)) from None
    return url, list(removed)


def restore_source(source: str, backups: str | None, runs_dir: str | None, run_id: str) -> str:
    """The backup URL ``source`` names (a URL, a file under the run's backups, or ``latest``)."""
    from modelops.store.backups import BackupError, default_backups_url, resolve

    try:
        where = backups or (default_backups_url(runs_dir, run_id) if runs_dir else None)
        return resolve(source, where, run_id)
    except BackupError as exc:
        raise PlaneError(str(exc)) from None


def restore(url: str) -> None:
    """Replace the database libpq's PG* variables name with the backup at ``url``, all or nothing."""
    import tempfile

    from modelops.store.backups import BackupError, fetch, pg_restore

    try:
        with tempfile.TemporaryDirectory(prefix="mops-restore-") as tmp:
            pg_restore(fetch(url, Path(tmp) / "backup.dump"))
    except BackupError as exc:
        raise PlaneError(str(exc)) from None
