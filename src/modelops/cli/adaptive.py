"""`mops adaptive`: one calibration run on Kubernetes (up, down, status, logs, render).

A run is `mops run STUDY` executed by runner pods in the run's own namespace (``modelops-<run-slug>``), against
the workspace's Dask scheduler, with an in-cluster PostgreSQL when several runners share the study.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelops.cli.output import confirm, console, err_console, fail, print_json, pulumi_progress, styled
from modelops.cli.workspace import (
    ENV_OPT,
    JSON_OPT,
    KUBECONFIG_OPT,
    cluster_kubeconfig,
    errors_as_messages,
    infra_ref_or_fail,
    object_store_access,
    pulumi_context,
    read_kubeconfig,
    storage_binding,
    storage_env,
)

app = typer.Typer(
    help=(
        "Calibration runs on Kubernetes: runner pods execute `mops run STUDY` against the workspace's Dask "
        "scheduler, in a namespace of their own, with an in-cluster PostgreSQL when several runners share a study.\n\n"
        "`mops adaptive up examples/adaptive.yaml --run-id exp-001`, then `mops adaptive status exp-001` (trials done, "
        "best loss) and `mops adaptive logs exp-001`; `mops adaptive down --run-id exp-001` when finished."
    ),
    no_args_is_help=True,
)

RUN_ID_OPT = typer.Option(..., "--run-id", help="The run's id: names its namespace, stack and run records.")


def _plan(spec_path: Path, run_id: str, *, dask: Any | None = None, runs_url: str | None = None) -> tuple[Any, Any]:
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


def _managed(spec: Any, plan: Any, ctx: Any | None = None, storage: Any | None = None) -> tuple[Any, Any, Any]:
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


def _credentials(spec: Any) -> Any:
    from modelops.k8s.workspace import registry_credentials

    return registry_credentials(spec.spec.image_pull, spec.image)


@app.command()
def render(
    spec_path: Path = typer.Argument(..., help="The adaptive spec (kind: Adaptive)."),
    run_id: str = RUN_ID_OPT,
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print Secret values instead of redacting them."),
) -> None:
    """Print the run's manifests as YAML, in apply order (PostgreSQL, init Job, runners).

    Passwords are generated afresh for the rendering and redacted unless --show-secrets; `kubectl apply` of the
    output works on any cluster (until the init Job has made the database, runner pods fail and are retried).
    Object-store credentials come from AZURE_STORAGE_* in your environment.
    """
    from modelops.k8s.adaptive import build_adaptive, generate_secrets
    from modelops.k8s.render import to_yaml

    with errors_as_messages():
        spec, plan = _plan(spec_path, run_id)
        identity, _, env_vars = object_store_access(spec.spec.object_store, None, render=True)
        managed, _, _ = _managed(spec, plan)
        base, init, runners = build_adaptive(
            spec,
            plan,
            pg_secrets=generate_secrets(spec),
            results_env=env_vars or None,
            credentials=_credentials(spec),
            identity=identity,
            managed=managed,
        )
    typer.echo(to_yaml(base + init + runners, show_secrets=show_secrets), nl=False)


@app.command()
def up(
    spec_path: Path = typer.Argument(..., help="The adaptive spec (kind: Adaptive)."),
    run_id: str = RUN_ID_OPT,
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Start a run: its namespace, PostgreSQL (if the spec has a central store), study files and runner pods.

    The scheduler comes from the workspace stack (or the spec's workspace.namespace); run records go to the spec's
    results.url, else the storage stack's results container, else a PVC in the run's namespace. Running `up` again
    with the same --run-id updates the run and keeps its passwords and data.
    """
    from modelops.infra import automation
    from modelops.infra.bindings import DaskBinding
    from modelops.infra.components.adaptive import adaptive_program

    with errors_as_messages():
        ctx = pulumi_context(env, create=True)
        dask = None
        if automation.stack_exists(ctx, "workspace"):
            dask = DaskBinding.from_outputs(automation.read_outputs(ctx, "workspace"))
        storage = storage_binding(ctx)
        runs_url = storage.runs_url() if storage is not None else None
        spec, plan = _plan(spec_path, run_id, dask=dask, runs_url=runs_url)
        if dask is not None and dask.namespace != plan.workspace_namespace:
            err_console.print(
                styled(
                    "[yellow]note:[/] the workspace stack runs in {}, but the spec names {}; the runners will use {}",
                    dask.namespace,
                    plan.workspace_namespace,
                    plan.scheduler_address,
                ),
                highlight=False,
            )
        kc = read_kubeconfig(kubeconfig)
        identity, federation, env_vars = object_store_access(spec.spec.object_store, storage)
        env_for_results = env_vars if plan.runs_url else {}
        managed, run_secret, admin_federation = _managed(spec, plan, ctx, storage)
        program = adaptive_program(
            spec,
            plan,
            infra_ref=infra_ref_or_fail(ctx, kc),
            kubeconfig=kc,
            results_env=env_for_results or None,
            credentials=_credentials(spec),
            identity=identity,
            federation=federation,
            managed=managed,
            run_secret=run_secret,
            admin_federation=admin_federation,
        )
        outputs = automation.up(
            ctx, "adaptive", program, run_id=run_id, on_output=None if as_json else pulumi_progress()
        )
    if as_json:
        print_json(outputs)
        return
    console.print(
        styled(
            "run [bold]{}[/] started in namespace {}: runner Job {}, records at {}\n"
            "follow it with `mops adaptive status {}` and `mops adaptive logs {}`",
            run_id,
            plan.namespace,
            plan.runner_name,
            plan.runs_dir,
            run_id,
            run_id,
        ),
        highlight=False,
    )


@app.command()
def down(
    run_id: str = RUN_ID_OPT,
    purge: bool = typer.Option(
        False, "--purge", help="Also delete the run's namespace with its PostgreSQL volume and runs PVC."
    ),
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Stop a run: remove its runners, PostgreSQL and Secrets. Its volumes stay unless --purge.

    Without --purge the namespace and its PersistentVolumeClaims (the database and, without an object store, the
    run records) are kept, so `mops adaptive up` with the same --run-id resumes the study.
    """
    from modelops.core import naming
    from modelops.infra import automation
    from modelops.k8s import cluster

    with errors_as_messages():
        ctx = pulumi_context(env)
        ns = naming.run_namespace(run_id)
        what = "and DELETE its namespace and volumes" if purge else "(its volumes are kept)"
        confirm(f"Stop run {run_id!r} in {ns} {what}?", yes)
        kc_text = cluster_kubeconfig(ctx, kubeconfig) if purge else None  # read before the stacks change
        automation.destroy(ctx, "adaptive", run_id=run_id, remove=True, on_output=pulumi_progress())
        if purge:
            deleted = cluster.delete_namespace(cluster.clients(kc_text), ns)
            console.print(f"run {run_id} removed; namespace {ns} {'deleted' if deleted else 'was already gone'}")
            return
    console.print(
        f"run {run_id} stopped; namespace {ns} and its volumes are kept "
        f"(`mops adaptive down --run-id {run_id} --purge` deletes them)",
        highlight=False,
    )


def _run_outputs(env: str | None, run_id: str, kubeconfig: Path | None) -> tuple[Any | None, dict[str, Any]]:
    """(Pulumi context or None, the run stack's outputs). With --kubeconfig, a run applied without Pulumi
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


def _records(runs_dir: str | None, run_id: str, storage: Any | None) -> dict[str, Any]:
    """Trials completed and the best loss, from the run's records (an object store, or a local copy)."""
    if not runs_dir or "://" not in runs_dir:
        return {"error": f"the run's records are on its PVC ({runs_dir}); read them with `mops adaptive logs`"}
    if storage is not None:
        # adlfs reads its credentials from the environment: give this process the storage binding's.
        os.environ.update(storage_env(storage))
    from modelops.cli.runs import run_report
    from modelops.store.results import RunNotFound, RunStore

    try:
        report = run_report(RunStore(runs_dir, run_id))
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


@app.command()
def status(
    run_id: str = typer.Argument(..., help="The run's id (as given to `up --run-id`)."),
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    runs_dir: str | None = typer.Option(None, "--runs-dir", help="Read the run records here instead."),
    as_json: bool = JSON_OPT,
) -> None:
    """Show a run: its runner pods (from the cluster), and trials completed and best loss (from its records)."""
    from modelops.infra.automation import InfraError
    from modelops.infra.bindings import BindingError
    from modelops.k8s import cluster

    with errors_as_messages():
        ctx, outputs = _run_outputs(env, run_id, kubeconfig)
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
        report["records"] = _records(report["runs_dir"], run_id, storage_binding(ctx) if ctx else None)
    if as_json:
        print_json(report)
        return
    console.print(styled("run [bold]{}[/] in {}, records at {}", run_id, ns, report["runs_dir"]), highlight=False)
    runners = report["runners"]
    if "error" in runners:
        err_console.print(styled("[yellow]runners:[/] {}", runners["error"]), highlight=False)
    else:
        table = Table("pod", "phase", "restarts", "waiting", title=f"runners: {runners['state']}")
        for p in runners["pods"]:
            table.add_row(p["name"], p["phase"], str(p["restarts"]), p["reason"] or "")
        console.print(table)
    records = report["records"]
    if "error" in records:
        err_console.print(styled("[yellow]records:[/] {}", records["error"]), highlight=False)
    else:
        console.print(
            f"trials completed {records['completed']}/{records['n_trials']} (failed {records['failed']}), "
            f"best loss {records['best_loss']}, status {records['status']}",
            highlight=False,
        )


@app.command()
def logs(
    run_id: str = typer.Argument(..., help="The run's id."),
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    tail: int | None = typer.Option(200, "--tail", help="Lines per pod (0 for all)."),
    init: bool = typer.Option(False, "--init", help="Show the PostgreSQL init Job's log instead of the runners'."),
) -> None:
    """Print the runner pods' logs (each pod's `mops run` output), or the database init Job's with --init."""
    from modelops.core import naming
    from modelops.k8s import cluster
    from modelops.k8s.postgres import PostgresNames

    with errors_as_messages():
        ctx, outputs = _run_outputs(env, run_id, kubeconfig)
        ns = outputs.get("run_namespace") or naming.run_namespace(run_id)
        job = PostgresNames(naming.run_slug(run_id)).init_job if init else outputs.get("runner_name")
        api = cluster.clients(cluster_kubeconfig(ctx, kubeconfig))
        printed = False
        for pod, text in cluster.job_logs(api, ns, job, tail=tail or None):
            printed = True
            console.rule(pod)
            typer.echo(text, nl=not text.endswith("\n"))
    if not printed:
        fail(f"no pods of Job {job} in {ns} yet", hint=f"check `mops adaptive status {run_id}`")


@app.command("bootstrap-store", hidden=True)
def bootstrap_store(
    database: str = typer.Option(..., "--database", help="The run's database on the managed server."),
    user: str = typer.Option(..., "--user", help="The runtime role the runners log in as."),
    schema: str = typer.Option("optuna", "--schema", help="The one schema the runtime role owns."),
    admin_password_file: Path = typer.Option(..., "--admin-password-file", help="The admin password (from Key Vault)."),
    runtime_password_file: Path = typer.Option(..., "--runtime-password-file", help="The runtime role's password."),
    adopt_public: bool = typer.Option(
        False,
        "--adopt-public",
        help="After a pg_restore into public (migrating from the in-cluster store), move those tables into the "
        "runtime role's schema (docs/cloud.md).",
    ),
) -> None:
    """The managed store's bootstrap Job (admin -> runtime role separation); idempotent.

    PGHOST, PGPORT, PGUSER (the admin), PGSSLMODE and PGSSLROOTCERT come from the environment, read by libpq;
    the passwords from files the Secrets Store CSI driver mounts from Key Vault.
    """
    from modelops.infra.pg_bootstrap import (
        Bootstrap,
        BootstrapError,
        bootstrap,
        read_secret_file,
    )
    from modelops.infra.pg_bootstrap import (
        adopt_public as adopt,
    )
    from modelops.specs.adaptive import ManagedStore

    try:
        # The same identifier rules as the spec: these names go into SQL.
        ManagedStore(kind="managed", database=database, user=user, schema=schema)
        plan = Bootstrap(database, user, schema, read_secret_file(runtime_password_file, "runtime password"))
        admin = read_secret_file(admin_password_file, "admin password")
        for step in bootstrap("dbname=postgres", plan, admin_password=admin):
            console.print(step, highlight=False)
        if adopt_public:
            moved = adopt("dbname=postgres", plan, admin_password=admin)
            console.print(f"moved {moved} restored relations into {database}.{schema}, owned by {user}")
    except BootstrapError as exc:
        fail(str(exc), hint="check the server's firewall/private access, the admin secret in Key Vault, and PGHOST")
    except ValueError as exc:
        fail(str(exc))


@app.command("backup-store", hidden=True)
def backup_store(
    file: Path = typer.Option(..., "--file", help="The pg_dump -Fc file the init container wrote."),
    to: str = typer.Option(..., "--to", help="The backups URL (az://container/path)."),
    run_id: str = typer.Option(..., "--run-id", help="The run the backup belongs to."),
    keep: int = typer.Option(7, "--keep", min=1, help="How many backups of this run to keep."),
) -> None:
    """The backup CronJob's upload step: store the dump, delete the oldest beyond --keep."""
    from modelops.infra.pg_backup import BackupError, upload

    try:
        url, removed = upload(file, to, run_id, keep)
    except BackupError as exc:
        fail(str(exc))
    console.print(f"backup {url} stored; {len(removed)} older removed", highlight=False)


@app.command()
def restore(
    run_id: str = typer.Argument(..., help="The run whose store is restored."),
    source: str = typer.Option(..., "--from", help="A backup URL, a backup file name under --backups, or `latest`."),
    backups: str | None = typer.Option(
        None, "--backups", help="The run's backups URL (default: <runs dir>-backups/<run id> with --runs-dir)."
    ),
    runs_dir: str | None = typer.Option(None, "--runs-dir", help="The run records' URL (locates the backups)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Replace the run's study database with a backup, all or nothing; then `mops run --run-id RUN` resumes.

    Connects with libpq's PG* variables (on a cluster: `kubectl -n modelops-<run> port-forward
    svc/postgres-<run> 5432` and the runtime Secret's PGPASSWORD), and needs pg_restore of the server's major
    version. Stop the runners first (`kubectl delete job runner-<run>` or `mops adaptive down`).
    """
    import tempfile

    from modelops.infra.pg_backup import BackupError, default_backups_url, fetch, pg_restore, resolve

    target = os.environ.get("PGDATABASE", "")
    if not target:
        fail("PGDATABASE is not set", hint="export PGHOST, PGPORT, PGUSER, PGDATABASE (and PGPASSWORD) for the store")
    try:
        where = backups or (default_backups_url(runs_dir, run_id) if runs_dir else None)
        url = resolve(source, where, run_id)
        confirm(f"Replace database {target} on {os.environ.get('PGHOST', 'localhost')} with {url}?", yes)
        with tempfile.TemporaryDirectory(prefix="mops-restore-") as tmp:
            pg_restore(fetch(url, Path(tmp) / "backup.dump"))
    except BackupError as exc:
        fail(str(exc))
    console.print(
        f"run {run_id}: database {target} restored from {url}; resume with `mops run STUDY --run-id {run_id}`",
        highlight=False,
    )


@app.command("list")
def list_runs(
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """The runs on the cluster: their runner pods' state and, where the run's stack says where its records are,
    trials completed and best loss."""
    from modelops.infra import automation
    from modelops.infra.automation import InfraError
    from modelops.k8s import cluster

    with errors_as_messages():
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
                row["records"] = _records(runs_dir, run.run_id, storage_binding(ctx) if ctx else None)
            rows.append(row)
    if as_json:
        print_json(rows)
        return
    table = Table("run", "namespace", "runners", "trials", "best loss", title="runs on the cluster")
    for row in rows:
        rec = row.get("records") or {}
        trials = f"{rec.get('completed')}/{rec.get('n_trials')}" if "completed" in rec else "-"
        runners = f"{row['state']} ({row['active']} active, {row['succeeded']} done, {row['failed']} failed)"
        table.add_row(row["run_id"], row["namespace"], runners, trials, str(rec.get("best_loss", "-")))
    console.print(table)
