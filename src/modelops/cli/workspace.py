"""`mops workspace`: the Dask workspace on Kubernetes (up, down, status, render, scale, port-forward).

Options, one call into ``modelops.planes.workspace`` and presentation; the plane does the work.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from modelops.cli.common import ENV_OPT, JSON_OPT, KUBECONFIG_OPT, k8s_errors, show_plain_outputs
from modelops.cli.output import confirm, console, err_console, fail, print_json, pulumi_progress, styled

app = typer.Typer(
    help=(
        "The Dask workspace on Kubernetes: a scheduler and groups of workers that every run shares.\n\n"
        "`mops workspace up examples/workspace.yaml` deploys it to the cluster of `mops infra up` (or to any "
        "cluster with --kubeconfig); `mops workspace render SPEC | kubectl apply -f -` does the same without Pulumi. "
        "Runs connect to it with `mops adaptive up`."
    ),
    no_args_is_help=True,
)


@app.command()
def render(
    spec_path: Path = typer.Argument(..., help="The workspace spec (kind: Workspace)."),
    env: str | None = ENV_OPT,
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print Secret values instead of redacting them."),
) -> None:
    """Print the manifests `up` would apply, as YAML (pipe to `kubectl apply -f -` for any cluster).

    Secret values (the GHCR pull secret, object-store credentials from AZURE_STORAGE_* in your environment) are
    redacted unless --show-secrets.
    """
    from modelops.k8s.render import to_yaml
    from modelops.planes import workspace

    with k8s_errors():
        manifests = workspace.render(spec_path, env)
    typer.echo(to_yaml(manifests, show_secrets=show_secrets), nl=False)


@app.command()
def up(
    spec_path: Path = typer.Argument(..., help="The workspace spec (kind: Workspace)."),
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Deploy (or update) the workspace: namespace, Dask scheduler, worker groups, network policies.

    Uses the infra stack's cluster (`mops infra up`) unless --kubeconfig is given. Workers get object-store
    credentials for the simulation cache and outputs: the storage stack's (`mops storage up`) when it exists, else
    AZURE_STORAGE_* from your environment when set (stored in the cluster as a Secret).
    """
    from modelops.planes import workspace

    with k8s_errors():
        deployed = workspace.up(spec_path, env, kubeconfig, on_output=None if as_json else pulumi_progress())
    show_plain_outputs(deployed.outputs, as_json, title=f"workspace {deployed.namespace}")


@app.command()
def down(
    env: str | None = ENV_OPT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove the workspace (scheduler, workers, namespace). The cluster and the runs' namespaces stay."""
    from modelops.planes import workspace

    with k8s_errors():
        ctx = workspace.pulumi_context(env)
        confirm(f"Destroy the Dask workspace of environment {ctx.environment!r}?", yes)
        workspace.down(ctx, on_output=pulumi_progress())
    console.print(f"workspace of environment {ctx.environment!r} removed")


@app.command()
def status(
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    namespace: str | None = typer.Option(
        None, "--namespace", help="The workspace namespace, for a workspace applied without Pulumi (with --kubeconfig)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Show the workspace's stack outputs and, from the cluster, each Deployment's ready replicas.

    With --kubeconfig, a workspace applied without Pulumi (`render | kubectl apply`) is read from its namespace
    (--namespace, default modelops-<env>) when there is no stack to ask.
    """
    from modelops.planes import workspace

    with k8s_errors():
        report = workspace.status(env, kubeconfig, namespace)
    environment, outputs = report["environment"], report["outputs"]
    if as_json:
        print_json(report)
        return
    show_plain_outputs(outputs, False, title=f"workspace ({environment})")
    if report.get("cluster_error"):
        err_console.print(styled("[yellow]cluster:[/] {}", report["cluster_error"]), highlight=False)
        return
    table = Table("workload", "ready", "desired", title="on the cluster")
    for w in report["workloads"] or []:
        colour = "green" if w["ready"] >= w["desired"] else "yellow"
        table.add_row(w["name"], Text(str(w["ready"]), style=colour), str(w["desired"]))
    console.print(table)


@app.command(hidden=True)
def autoscale(
    namespace: str = typer.Option(..., "--namespace", help="The workspace namespace."),
    scheduler: str = typer.Option(..., "--scheduler", help="The Dask scheduler's address."),
    group: list[str] = typer.Option(..., "--group", help="DEPLOYMENT:PROCESSES:MIN:MAX, once per scaled group."),
    interval: float = typer.Option(15.0, "--interval", min=1.0, help="Seconds between decisions."),
) -> None:
    """The scaler pod's loop (modelops.k8s.scaler): scheduler demand in, idle pods retired, Deployments scaled."""
    from modelops.k8s.scaler import ScaledGroup
    from modelops.planes import workspace

    groups = []
    for item in group:
        try:
            name, processes, low, high = item.split(":")
            groups.append(ScaledGroup(name, int(processes), int(low), int(high)))
        except ValueError:
            fail(f"--group {item!r} must be DEPLOYMENT:PROCESSES:MIN:MAX")
    workspace.autoscale(
        namespace, scheduler, groups, interval=interval, log=lambda line: console.print(line, highlight=False)
    )


@app.command()
def scale(
    group: str = typer.Argument(..., help="The worker group (its name in the spec, e.g. default)."),
    replicas: int = typer.Argument(..., min=0, max=1000, help="Pods for that group."),
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    namespace: str | None = typer.Option(None, "--namespace", help="The workspace namespace (default: the stack's)."),
) -> None:
    """Set a worker group's pod count now (until the next `mops workspace up`, which applies the spec again).

    An autoscaled group's scaler moves the count again on its next round: change autoscale.min/max instead.
    """
    from modelops.planes import workspace

    with k8s_errors():
        scaled = workspace.scale(group, replicas, env, kubeconfig, namespace)
    console.print(f"{scaled.deployment} in {scaled.namespace}: {scaled.before} -> {replicas} pods", highlight=False)


@app.command("port-forward")
def port_forward(
    env: str | None = ENV_OPT,
    kubeconfig: Path | None = KUBECONFIG_OPT,
    namespace: str | None = typer.Option(None, "--namespace", help="The workspace namespace (default: the stack's)."),
    scheduler_port: int = typer.Option(8786, "--scheduler-port", help="Local port for the scheduler (tcp)."),
    dashboard_port: int = typer.Option(8787, "--dashboard-port", help="Local port for the dashboard (http)."),
) -> None:
    """Reach the workspace's scheduler from this machine: `mops run --scheduler tcp://127.0.0.1:8786` and the
    dashboard at http://127.0.0.1:8787, until Ctrl-C (runs `kubectl port-forward` with the cluster's kubeconfig)."""
    from modelops.planes import workspace

    kubectl = workspace.kubectl()
    with k8s_errors():
        target = workspace.forward_target(env, kubeconfig, namespace)
    rc = workspace.port_forward(
        kubectl,
        target,
        scheduler_port,
        dashboard_port,
        on_start=lambda: err_console.print(
            f"scheduler tcp://127.0.0.1:{scheduler_port}, dashboard http://127.0.0.1:{dashboard_port} (Ctrl-C stops)",
            highlight=False,
        ),
    )
    if rc:
        fail(
            f"kubectl port-forward exited {rc}",
            hint=f"is the workspace up in {target.namespace}? `mops workspace status`",
        )
