"""`mops adaptive`: one calibration run on Kubernetes (up, down, status, logs, render, list, restore).

Options, one call into ``modelops.planes.adaptive`` and presentation; the plane does the work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelops.cli.common import ENV_OPT, JSON_OPT, KUBECONFIG_OPT, k8s_errors
from modelops.cli.output import confirm, console, err_console, fail, print_json, pulumi_progress, styled

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


def _read_report(store: Any) -> dict[str, Any]:
    """What `mops runs show` prints for a run (its records are read the same way here)."""
    from modelops.runner.report import run_report

    return run_report(store)


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
    from modelops.k8s.render import to_yaml
    from modelops.planes import adaptive

    with k8s_errors():
        manifests = adaptive.render(spec_path, run_id)
    typer.echo(to_yaml(manifests, show_secrets=show_secrets), nl=False)


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
    from modelops.planes import adaptive

    def note(started: adaptive.Started) -> None:
        if started.moved_from is not None:
            err_console.print(
                styled(
                    "[yellow]note:[/] the workspace stack runs in {}, but the spec names {}; the runners will use {}",
                    started.moved_from,
                    started.plan.workspace_namespace,
                    started.plan.scheduler_address,
                ),
                highlight=False,
            )

    with k8s_errors():
        started = adaptive.up(
            spec_path, run_id, env, kubeconfig, on_output=None if as_json else pulumi_progress(), on_planned=note
        )
    plan, outputs = started.plan, started.outputs
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
    from modelops.planes import adaptive

    with k8s_errors():
        ctx = adaptive.pulumi_context(env)
        ns = adaptive.namespace_of(run_id)
        what = "and DELETE its namespace and volumes" if purge else "(its volumes are kept)"
        confirm(f"Stop run {run_id!r} in {ns} {what}?", yes)
        deleted = adaptive.down(ctx, run_id, purge=purge, kubeconfig=kubeconfig, on_output=pulumi_progress())
        if purge:
            console.print(f"run {run_id} removed; namespace {ns} {'deleted' if deleted else 'was already gone'}")
            return
    console.print(
        f"run {run_id} stopped; namespace {ns} and its volumes are kept "
        f"(`mops adaptive down --run-id {run_id} --purge` deletes them)",
        highlight=False,
    )


@app.command()
def status(
    run_id: str = typer.Argument(..., help="The run's id (as given to `up --run-id`)."),
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    runs_dir: str | None = typer.Option(None, "--runs-dir", help="Read the run records here instead."),
    as_json: bool = JSON_OPT,
) -> None:
    """Show a run: its runner pods (from the cluster), and trials completed and best loss (from its records)."""
    from modelops.planes import adaptive

    with k8s_errors():
        report = adaptive.status(run_id, env, kubeconfig, runs_dir, _read_report)
    ns = report["namespace"]
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
    from modelops.planes import adaptive

    with k8s_errors():
        target, pod_logs = adaptive.logs(run_id, env, kubeconfig, tail=tail, init=init)
        printed = False
        for pod, text in pod_logs:
            printed = True
            console.rule(pod)
            typer.echo(text, nl=not text.endswith("\n"))
    ns, job = target.namespace, target.job
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
    from modelops.planes import adaptive

    moved = adaptive.bootstrap_store(
        database,
        user,
        schema,
        admin_password_file,
        runtime_password_file,
        adopt_public=adopt_public,
        on_step=lambda step: console.print(step, highlight=False),
    )
    if moved is not None:
        console.print(f"moved {moved} restored relations into {database}.{schema}, owned by {user}")


@app.command("backup-store", hidden=True)
def backup_store(
    file: Path = typer.Option(..., "--file", help="The pg_dump -Fc file the init container wrote."),
    to: str = typer.Option(..., "--to", help="The backups URL (az://container/path)."),
    run_id: str = typer.Option(..., "--run-id", help="The run the backup belongs to."),
    keep: int = typer.Option(7, "--keep", min=1, help="How many backups of this run to keep."),
) -> None:
    """The backup CronJob's upload step: store the dump, delete the oldest beyond --keep."""
    from modelops.planes import adaptive

    url, removed = adaptive.backup_store(file, to, run_id, keep)
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
    from modelops.planes import adaptive

    target = os.environ.get("PGDATABASE", "")
    if not target:
        fail("PGDATABASE is not set", hint="export PGHOST, PGPORT, PGUSER, PGDATABASE (and PGPASSWORD) for the store")
    url = adaptive.restore_source(source, backups, runs_dir, run_id)
    confirm(f"Replace database {target} on {os.environ.get('PGHOST', 'localhost')} with {url}?", yes)
    adaptive.restore(url)
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
    from modelops.planes import adaptive

    with k8s_errors():
        rows = adaptive.list_runs(env, kubeconfig, _read_report)
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
