"""`mops workspace`: the Dask workspace on Kubernetes (up, down, status, render).

The helpers at the top (context, kubeconfig, bindings, error handling) are shared with `mops adaptive`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from modelops.cli import output
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

ENV_OPT = typer.Option(None, "--env", help="Environment (default: `environment` in ~/.modelops/config.yaml).")
KUBECONFIG_OPT = typer.Option(
    None,
    "--kubeconfig",
    help="Use this kubeconfig (an existing cluster: AKS, kind, k3d...) instead of the infra stack's.",
    exists=True,
    dir_okay=False,
    readable=True,
)
JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")


# --- shared with `mops adaptive` -------------------------------------------------------------------------------------
def errors_as_messages() -> AbstractContextManager[None]:
    """Turn the expected failures (bad spec, missing config, Pulumi or cluster problems) into clear exits."""
    return output.handled(spec_hint="fix the fields listed above; docs/kubernetes.md describes every key")


def global_config(env: str | None) -> Any:
    from modelops.specs.config import load_config

    config = load_config()
    if env:
        from modelops.core.naming import check_environment

        config = config.model_copy(update={"environment": check_environment(env)})
    return config


def pulumi_context(env: str | None, *, create: bool = False) -> Any:
    from modelops.infra.automation import PulumiContext

    return PulumiContext.from_config(global_config(env), create_passphrase=create)


def read_kubeconfig(path: Path | None) -> str | None:
    from modelops.specs.inputs import read_text  # the input boundary: regular file, size limit, UTF-8

    return read_text(path, what="kubeconfig") if path is not None else None


def infra_ref_or_fail(ctx: Any, kubeconfig: str | None) -> str | None:
    """The infra stack's reference, when no kubeconfig was given (and the stack must then exist)."""
    from modelops.infra import automation

    if kubeconfig is not None:
        return None
    if not automation.stack_exists(ctx, "infra"):
        fail(
            f"no infra stack in environment {ctx.environment!r}, so there is no cluster to deploy to",
            hint="create one with `mops infra up`, or target an existing cluster with --kubeconfig PATH",
        )
    return ctx.stack_reference("infra")


def cluster_kubeconfig(ctx: Any | None, path: Path | None) -> str:
    """The kubeconfig text for reading the cluster: --kubeconfig, else the infra stack's (secret) output."""
    if path is not None:
        return read_kubeconfig(path) or ""
    from modelops.infra import automation
    from modelops.infra.bindings import ClusterBinding

    return ClusterBinding.from_outputs(automation.read_outputs(ctx, "infra")).kubeconfig


def storage_binding(ctx: Any) -> Any | None:
    """The storage stack's binding when that stack exists (object store for results and the cache)."""
    from modelops.infra import automation
    from modelops.infra.bindings import storage_binding_from_outputs

    if not automation.stack_exists(ctx, "storage"):
        return None
    return storage_binding_from_outputs(automation.read_outputs(ctx, "storage"))


def storage_env(binding: Any | None) -> dict[str, str]:
    """Object-store variables for pods (the SAS fallback): the storage binding's account and SAS, else the caller's
    AZURE_STORAGE_*."""
    from modelops.infra.bindings import STORAGE_ACCOUNT_ENV, CloudStorageBinding
    from modelops.k8s.adaptive import object_store_env_from

    if isinstance(binding, CloudStorageBinding):  # the caller's own AWS / Google login reads the buckets
        return binding.client_env()
    if binding is not None:
        return {STORAGE_ACCOUNT_ENV: binding.account_name, **binding.secret_env()}
    return object_store_env_from()


def object_store_access(access: Any, binding: Any | None, *, render: bool = False) -> tuple[Any, Any, dict[str, str]]:
    """(workload identity or None, federation or None, SAS-mode env) for pods, from the spec's ``object_store`` and
    the storage stack's binding. With workload identity no credential is read from anywhere, so a SAS exported in
    this shell cannot end up in a Secret."""
    from modelops.infra.bindings import CloudStorageBinding
    from modelops.infra.components.identity import Federation
    from modelops.k8s.adaptive import object_store_env_from
    from modelops.k8s.identity import cloud_pod_identity, resolve_identity

    if isinstance(binding, CloudStorageBinding):  # EKS / GKE: pod identity, set up by the storage stack itself
        return cloud_pod_identity(access, binding.scheme, binding.env), None, {}
    identity = resolve_identity(access, binding)
    if identity is not None:
        federation = Federation.from_outputs(vars(binding)) if binding is not None and not render else None
        return identity, federation, {}
    return None, None, object_store_env_from() if render else storage_env(binding)


# --- commands --------------------------------------------------------------------------------------------------------
def _load(spec_path: Path) -> Any:
    from modelops.specs.workspace import load_workspace_spec

    return load_workspace_spec(spec_path)


def _credentials(spec: Any) -> Any:
    from modelops.k8s.workspace import registry_credentials

    return registry_credentials(spec.spec.image_pull, spec.image)


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
    from modelops.k8s.workspace import build_workspace

    with errors_as_messages():
        spec = _load(spec_path)
        ns = spec.namespace_for(global_config(env).environment)
        identity, _, env_vars = object_store_access(spec.spec.object_store, None, render=True)
        manifests = build_workspace(
            spec, ns, credentials=_credentials(spec), storage_env=env_vars or None, identity=identity
        )
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
    from modelops.infra import automation
    from modelops.infra.components.workspace import workspace_program

    with errors_as_messages():
        spec = _load(spec_path)
        credentials = _credentials(spec)
        ctx = pulumi_context(env, create=True)
        ns = spec.namespace_for(ctx.environment)
        kc = read_kubeconfig(kubeconfig)
        identity, federation, env_vars = object_store_access(spec.spec.object_store, storage_binding(ctx))
        program = workspace_program(
            spec,
            namespace=ns,
            infra_ref=infra_ref_or_fail(ctx, kc),
            kubeconfig=kc,
            credentials=credentials,
            storage_env=env_vars or None,
            identity=identity,
            federation=federation,
        )
        outputs = automation.up(ctx, "workspace", program, on_output=None if as_json else pulumi_progress())
    _print_outputs(outputs, as_json, title=f"workspace {ns}")


def _print_outputs(outputs: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        print_json(outputs)
        return
    table = Table(title=title, show_header=False)
    for key in sorted(outputs):
        table.add_row(key, str(outputs[key]))
    console.print(table)


@app.command()
def down(
    env: str | None = ENV_OPT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove the workspace (scheduler, workers, namespace). The cluster and the runs' namespaces stay."""
    from modelops.infra import automation

    with errors_as_messages():
        ctx = pulumi_context(env)
        confirm(f"Destroy the Dask workspace of environment {ctx.environment!r}?", yes)
        automation.destroy(ctx, "workspace", remove=True, on_output=pulumi_progress())
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
    from modelops.core import naming
    from modelops.infra import automation
    from modelops.infra.automation import InfraError
    from modelops.infra.bindings import BindingError
    from modelops.k8s import cluster

    with errors_as_messages():
        environment = global_config(env).environment
        ctx = None
        try:
            ctx = pulumi_context(env)
            outputs = automation.redact(automation.read_output_values(ctx, "workspace"))
        except InfraError:
            if kubeconfig is None:
                raise
            outputs = {"namespace": namespace or naming.workspace_namespace(environment)}
        report: dict[str, Any] = {"environment": environment, "outputs": outputs, "workloads": None}
        try:
            api = cluster.clients(cluster_kubeconfig(ctx, kubeconfig))
            workloads = cluster.workspace_status(api, outputs.get("namespace", ""))
            report["workloads"] = [
                {"kind": w.kind, "name": w.name, "desired": w.desired, "ready": w.ready} for w in workloads
            ]
        except (cluster.ClusterError, InfraError, BindingError) as exc:
            report["cluster_error"] = str(getattr(exc, "message", exc))
    if as_json:
        print_json(report)
        return
    _print_outputs(outputs, False, title=f"workspace ({environment})")
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
    from distributed import Client
    from kubernetes import client as k8s_client
    from kubernetes import config

    from modelops.k8s.scaler import ScaledGroup, run_loop

    groups = []
    for item in group:
        try:
            name, processes, low, high = item.split(":")
            groups.append(ScaledGroup(name, int(processes), int(low), int(high)))
        except ValueError:
            fail(f"--group {item!r} must be DEPLOYMENT:PROCESSES:MIN:MAX")
    config.load_incluster_config()
    with Client(scheduler, timeout=60) as dask_client:
        run_loop(
            dask_client, k8s_client.AppsV1Api(), k8s_client.CoreV1Api(), namespace, groups, interval=interval,
            log=lambda line: console.print(line, highlight=False),
        )  # fmt: skip


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
    from modelops.core import naming
    from modelops.k8s import cluster
    from modelops.k8s.workspace import worker_name
    from modelops.specs.workspace import check_dns_label

    with errors_as_messages():
        try:
            check_dns_label(group, "worker group")
        except ValueError as exc:
            fail(str(exc))
        ctx = pulumi_context(env) if kubeconfig is None else None
        ns = namespace or naming.workspace_namespace(global_config(env).environment)
        api = cluster.clients(cluster_kubeconfig(ctx, kubeconfig))
        name = worker_name(SimpleGroup(group))
        before = cluster.scale_deployment(api, ns, name, replicas)
        if before is None:
            fail(f"no worker group {group!r} (Deployment {name}) in {ns}", hint="`mops workspace status` lists them")
    console.print(f"{name} in {ns}: {before} -> {replicas} pods", highlight=False)


class SimpleGroup:
    """Just the name, which is all ``worker_name`` reads."""

    def __init__(self, name: str) -> None:
        self.name = name


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
    import os
    import shutil
    import subprocess
    import tempfile

    from modelops.core import naming
    from modelops.k8s.workspace import SCHEDULER

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        fail("kubectl is not installed", hint="install it (https://kubernetes.io/docs/tasks/tools/) and retry")
    with errors_as_messages():
        ctx = pulumi_context(env) if kubeconfig is None else None
        ns = namespace or naming.workspace_namespace(global_config(env).environment)
        text = cluster_kubeconfig(ctx, kubeconfig)
    with tempfile.TemporaryDirectory(prefix="mops-kube-") as tmp:
        config = Path(tmp) / "config"
        config.write_text(text, encoding="utf-8")
        config.chmod(0o600)  # the kubeconfig holds credentials
        argv = [kubectl, "port-forward", "-n", ns, f"svc/{SCHEDULER}", f"{scheduler_port}:8786",
                f"{dashboard_port}:8787"]  # fmt: skip
        err_console.print(
            f"scheduler tcp://127.0.0.1:{scheduler_port}, dashboard http://127.0.0.1:{dashboard_port} (Ctrl-C stops)",
            highlight=False,
        )
        try:
            rc = subprocess.call(argv, env={**os.environ, "KUBECONFIG": str(config)})
        except KeyboardInterrupt:
            rc = 0
    if rc:
        fail(f"kubectl port-forward exited {rc}", hint=f"is the workspace up in {ns}? `mops workspace status`")
