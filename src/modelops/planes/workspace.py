"""The workspace plane: the Dask scheduler and worker groups on Kubernetes that every run shares (stack
``modelops-workspace-<env>``), and the helpers the adaptive plane shares with it: which cluster (the infra stack's
or a kubeconfig file) and how pods reach the object store."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.planes.errors import PlaneError
from modelops.planes.stacks import OnOutput, global_config

if TYPE_CHECKING:
    from modelops.infra.automation import PulumiContext
    from modelops.infra.bindings import CloudStorageBinding, StorageBinding
    from modelops.specs.workspace import ObjectStoreAccess, WorkspaceSpec


# --- shared with the adaptive plane ---------------------------------------------------------------------------------
def pulumi_context(env: str | None, *, create: bool = False) -> PulumiContext:
    """The Pulumi context of environment ``env`` (default: the global config's)."""
    from modelops.infra.automation import PulumiContext

    return PulumiContext.from_config(global_config(env), create_passphrase=create)


def read_kubeconfig(path: Path | None) -> str | None:
    from modelops.specs.inputs import read_text  # the input boundary: regular file, size limit, UTF-8

    return read_text(path, what="kubeconfig") if path is not None else None


def infra_ref_or_fail(ctx: PulumiContext, kubeconfig: str | None) -> str | None:
    """The infra stack's reference, when no kubeconfig was given (and the stack must then exist)."""
    from modelops.infra import automation

    if kubeconfig is not None:
        return None
    if not automation.stack_exists(ctx, "infra"):
        raise PlaneError(
            f"no infra stack in environment {ctx.environment!r}, so there is no cluster to deploy to",
            hint="create one with `mops infra up`, or target an existing cluster with --kubeconfig PATH",
        )
    return ctx.stack_reference("infra")


def cluster_kubeconfig(ctx: PulumiContext | None, path: Path | None) -> str:
    """The kubeconfig text for reading the cluster: ``path``, else the infra stack's (secret) output."""
    if path is not None:
        return read_kubeconfig(path) or ""
    from modelops.infra import automation
    from modelops.infra.bindings import ClusterBinding

    return ClusterBinding.from_outputs(automation.read_outputs(ctx, "infra")).kubeconfig


def storage_binding(ctx: PulumiContext) -> StorageBinding | CloudStorageBinding | None:
    """The storage stack's binding when that stack exists (object store for results and the cache), whichever
    cloud made it."""
    from modelops.infra import automation
    from modelops.infra.bindings import storage_binding_from_outputs

    if not automation.stack_exists(ctx, "storage"):
        return None
    return storage_binding_from_outputs(automation.read_outputs(ctx, "storage"))


def storage_env(binding: StorageBinding | CloudStorageBinding | None) -> dict[str, str]:
    """Object-store variables for pods (the SAS fallback): the storage binding's account and SAS, else the caller's
    AZURE_STORAGE_*. For S3/GCS buckets only the region/project: the caller's own cloud login reads them."""
    from modelops.infra.bindings import STORAGE_ACCOUNT_ENV, CloudStorageBinding
    from modelops.k8s.adaptive import object_store_env_from

    if isinstance(binding, CloudStorageBinding):
        return binding.client_env()
    if binding is not None:
        return {STORAGE_ACCOUNT_ENV: binding.account_name, **binding.secret_env()}
    return object_store_env_from()


def object_store_access(
    access: ObjectStoreAccess | None, binding: StorageBinding | CloudStorageBinding | None, *, render: bool = False
) -> tuple[Any, Any, dict[str, str]]:
    """(pod identity or None, federation or None, SAS-mode env) for pods, from the spec's ``object_store`` and
    the storage stack's binding. With an identity no credential is read from anywhere, so a SAS exported in this
    shell cannot end up in a Secret. On EKS/GKE the storage stack set the identity up itself (Pod Identity /
    Workload Identity for the namespaces' default account): the pods only learn where the buckets are."""
    from modelops.infra.bindings import CloudStorageBinding
    from modelops.infra.components.identity import Federation
    from modelops.k8s.adaptive import object_store_env_from
    from modelops.k8s.identity import cloud_pod_identity, resolve_identity

    if isinstance(binding, CloudStorageBinding):
        return cloud_pod_identity(access, binding.scheme, binding.env), None, {}
    identity = resolve_identity(access, binding)
    if identity is not None:
        federation = Federation.from_outputs(vars(binding)) if binding is not None and not render else None
        return identity, federation, {}
    return None, None, object_store_env_from() if render else storage_env(binding)


def credentials(spec: Any) -> Any:
    """The image pull credentials a workspace or adaptive spec's pods need (checked now: a missing GHCR token)."""
    from modelops.k8s.workspace import registry_credentials

    return registry_credentials(spec.spec.image_pull, spec.image)


# --- the workspace ----------------------------------------------------------------------------------------------------
def load(spec_path: Path) -> WorkspaceSpec:
    from modelops.specs.workspace import load_workspace_spec

    return load_workspace_spec(spec_path)


def render(spec_path: Path, env: str | None) -> list[dict[str, Any]]:
    """The manifests `up` would apply (object-store credentials from AZURE_STORAGE_* in this environment)."""
    from modelops.k8s.workspace import build_workspace

    spec = load(spec_path)
    ns = spec.namespace_for(global_config(env).environment)
    identity, _, env_vars = object_store_access(spec.spec.object_store, None, render=True)
    return build_workspace(spec, ns, credentials=credentials(spec), storage_env=env_vars or None, identity=identity)


@dataclass(frozen=True)
class Deployed:
    """The workspace brought up: its namespace and the stack's outputs (DaskBinding reads them)."""

    namespace: str
    outputs: Mapping[str, Any]


def up(spec_path: Path, env: str | None, kubeconfig: Path | None, *, on_output: OnOutput = None) -> Deployed:
    """Deploy (or update) the workspace on the infra stack's cluster, or on ``kubeconfig``'s."""
    from modelops.infra import automation
    from modelops.infra.components.workspace import workspace_program

    spec = load(spec_path)
    creds = credentials(spec)
    ctx = pulumi_context(env, create=True)
    ns = spec.namespace_for(ctx.environment)
    kc = read_kubeconfig(kubeconfig)
    identity, federation, env_vars = object_store_access(spec.spec.object_store, storage_binding(ctx))
    program = workspace_program(
        spec,
        namespace=ns,
        infra_ref=infra_ref_or_fail(ctx, kc),
        kubeconfig=kc,
        credentials=creds,
        storage_env=env_vars or None,
        identity=identity,
        federation=federation,
    )
    outputs = automation.up(ctx, "workspace", program, on_output=on_output)
    return Deployed(ns, outputs)


def down(ctx: PulumiContext, *, on_output: OnOutput = None) -> None:
    """Remove the workspace (scheduler, workers, namespace) and its stack."""
    from modelops.infra import automation

    automation.destroy(ctx, "workspace", remove=True, on_output=on_output)


def status(env: str | None, kubeconfig: Path | None, namespace: str | None) -> dict[str, Any]:
    """The workspace's stack outputs (secrets hidden) and, from the cluster, each Deployment's ready replicas
    (``cluster_error`` instead when the cluster cannot be read). With ``kubeconfig``, a workspace applied without
    Pulumi is read from ``namespace`` (default modelops-<env>) when there is no stack to ask."""
    from modelops.core import naming
    from modelops.infra import automation
    from modelops.infra.automation import InfraError
    from modelops.infra.bindings import BindingError
    from modelops.k8s import cluster

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
    return report


@dataclass(frozen=True)
class Scaled:
    deployment: str
    namespace: str
    before: int


def scale(group: str, replicas: int, env: str | None, kubeconfig: Path | None, namespace: str | None) -> Scaled:
    """Set a worker group's pod count now (until the next `up`, which applies the spec again)."""
    from modelops.core import naming
    from modelops.k8s import cluster
    from modelops.k8s.workspace import worker_name
    from modelops.specs.workspace import check_dns_label

    try:
        check_dns_label(group, "worker group")
    except ValueError as exc:
        raise PlaneError(str(exc)) from None
    ctx = pulumi_context(env) if kubeconfig is None else None
    ns = namespace or naming.workspace_namespace(global_config(env).environment)
    api = cluster.clients(cluster_kubeconfig(ctx, kubeconfig))
    name = worker_name(_Named(group))
    before = cluster.scale_deployment(api, ns, name, replicas)
    if before is None:
        raise PlaneError(
            f"no worker group {group!r} (Deployment {name}) in {ns}", hint="`mops workspace status` lists them"
        )
    return Scaled(name, ns, before)


@dataclass(frozen=True)
class _Named:
    """Just the name, which is all ``worker_name`` reads."""

    name: str


def autoscale(
    namespace: str, scheduler: str, groups: list[Any], *, interval: float, log: Callable[[str], None]
) -> None:
    """The scaler pod's loop (modelops.k8s.scaler): scheduler demand in, idle pods retired, Deployments scaled."""
    from distributed import Client
    from kubernetes import client as k8s_client
    from kubernetes import config

    from modelops.k8s.scaler import run_loop

    config.load_incluster_config()
    with Client(scheduler, timeout=60) as dask_client:
        run_loop(
            dask_client, k8s_client.AppsV1Api(), k8s_client.CoreV1Api(), namespace, groups, interval=interval, log=log
        )


def kubectl() -> str:
    """The kubectl executable (PlaneError saying how to install it)."""
    import shutil

    path = shutil.which("kubectl")
    if path is None:
        raise PlaneError(
            "kubectl is not installed", hint="install it (https://kubernetes.io/docs/tasks/tools/) and retry"
        )
    return path


@dataclass(frozen=True)
class ForwardTarget:
    """Where the scheduler is: its namespace and the kubeconfig (credentials) that reaches the cluster."""

    namespace: str
    kubeconfig: str


def forward_target(env: str | None, kubeconfig: Path | None, namespace: str | None) -> ForwardTarget:
    from modelops.core import naming

    ctx = pulumi_context(env) if kubeconfig is None else None
    ns = namespace or naming.workspace_namespace(global_config(env).environment)
    return ForwardTarget(ns, cluster_kubeconfig(ctx, kubeconfig))


def port_forward(
    kubectl_path: str,
    target: ForwardTarget,
    scheduler_port: int,
    dashboard_port: int,
    on_start: Callable[[], None] | None = None,
) -> int:
    """Run `kubectl port-forward` to the scheduler's Service until it exits or Ctrl-C (then 0); its exit code."""
    import subprocess
    import tempfile

    from modelops.k8s.workspace import SCHEDULER

    with tempfile.TemporaryDirectory(prefix="mops-kube-") as tmp:
        config = Path(tmp) / "config"
        config.write_text(target.kubeconfig, encoding="utf-8")
        config.chmod(0o600)  # the kubeconfig holds credentials
        argv = [kubectl_path, "port-forward", "-n", target.namespace, f"svc/{SCHEDULER}", f"{scheduler_port}:8786",
                f"{dashboard_port}:8787"]  # fmt: skip
        if on_start is not None:
            on_start()
        try:
            return subprocess.call(argv, env={**os.environ, "KUBECONFIG": str(config)})
        except KeyboardInterrupt:
            return 0
