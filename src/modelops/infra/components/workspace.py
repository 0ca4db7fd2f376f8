"""The workspace plane as a Pulumi component: the pure manifests of ``modelops.k8s.workspace``, applied.

    provider = kubernetes_provider("workspace", infra_ref=ctx.stack_reference("infra"))
    ws = DaskWorkspace("workspace", spec, namespace="modelops-dev", provider=provider)
    pulumi.export("scheduler_addr", ws.scheduler_address)

The component adds nothing to the manifests: what `mops workspace render` prints is what it creates. It only turns
each manifest into the matching typed pulumi-kubernetes resource, orders them (everything after its namespace),
and marks every Secret value secret so it is encrypted in the stack state.

``create_manifests`` (manifests -> resources) is shared with the adaptive component.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from modelops.infra.components.identity import FederatedServiceAccount, Federation
from modelops.k8s.common import Manifest
from modelops.k8s.identity import PodIdentity
from modelops.k8s.workspace import RegistryCredentials, build_workspace, dashboard_url, scheduler_address
from modelops.specs.workspace import WorkspaceSpec

# Each manifest kind the builders emit, and the typed resource that applies it.
RESOURCE_TYPES: dict[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("batch/v1", "CronJob"): k8s.batch.v1.CronJob,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
}
# Custom resources the builders emit (their CRDs come with a cluster add-on, e.g. AKS's Key Vault secrets provider).
CUSTOM_KINDS = {("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass")}
# Top-level manifest fields -> the resource's keyword arguments (metadata and spec keep their names).
_FIELDS = {"metadata": "metadata", "spec": "spec", "data": "data", "stringData": "string_data", "type": "type"}
_FIELDS["binaryData"] = "binary_data"
_FIELDS["automountServiceAccountToken"] = "automount_service_account_token"
_FIELDS["rules"] = "rules"
_FIELDS["roleRef"] = "role_ref"
_FIELDS["subjects"] = "subjects"


def resource_name(manifest: Manifest) -> str:
    """A Pulumi resource name unique within a stack: kind, namespace and object name."""
    meta = manifest["metadata"]
    parts = [manifest["kind"].lower(), meta.get("namespace"), meta["name"]]
    return "-".join(p for p in parts if p)


def create_manifests(
    manifests: Sequence[Manifest],
    *,
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
    depends_on: Sequence[pulumi.Resource] = (),
    retain: Mapping[str, bool] | None = None,
) -> dict[str, pulumi.CustomResource]:
    """Create one typed resource per manifest; returns them by ``resource_name``.

    Namespaced objects depend on their Namespace (the provider does not infer it); every Secret value is wrapped in
    ``Output.secret`` so it is encrypted in the state and hidden in previews. ``retain`` maps resource names to
    ``retain_on_delete``.
    """
    created: dict[str, pulumi.CustomResource] = {}
    namespaces: dict[str, pulumi.CustomResource] = {}
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        if key not in RESOURCE_TYPES and key not in CUSTOM_KINDS:
            raise ValueError(f"no Pulumi resource type for {key[0]} {key[1]}; add it to RESOURCE_TYPES")
        kwargs: dict[str, Any] = {}
        for field_name, arg in _FIELDS.items():
            if field_name in manifest:
                kwargs[arg] = manifest[field_name]
        if manifest["kind"] == "Secret":
            kwargs["string_data"] = {k: pulumi.Output.secret(v) for k, v in manifest.get("stringData", {}).items()}
        name = resource_name(manifest)
        deps = list(depends_on)
        ns = manifest["metadata"].get("namespace")
        if ns in namespaces:
            deps.append(namespaces[ns])
        opts = pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            depends_on=deps,
            retain_on_delete=(retain or {}).get(name, False),
        )
        if key in CUSTOM_KINDS:
            resource: pulumi.CustomResource = k8s.apiextensions.CustomResource(
                name, api_version=key[0], kind=key[1], metadata=manifest["metadata"], spec=manifest["spec"], opts=opts
            )
        else:
            resource = RESOURCE_TYPES[key](name, opts=opts, **kwargs)
        created[name] = resource
        if manifest["kind"] == "Namespace":
            namespaces[manifest["metadata"]["name"]] = resource
    return created


def kubernetes_provider(
    name: str,
    *,
    kubeconfig: pulumi.Input[str] | None = None,
    infra_ref: str | None = None,
    context: str | None = None,
) -> k8s.Provider:
    """The Kubernetes provider: from a kubeconfig (an existing cluster) or the infra stack's ``kubeconfig`` output.

    Server-side apply (the provider's default) lets `up` adopt objects a previous `down` retained, such as a run's
    namespace holding its PostgreSQL volume.
    """
    if kubeconfig is None:
        if infra_ref is None:
            raise ValueError("pass kubeconfig (an existing cluster) or infra_ref (the infra stack's reference)")
        kubeconfig = pulumi.StackReference(f"{name}-infra", stack_name=infra_ref).require_output("kubeconfig")
    return k8s.Provider(
        name, kubeconfig=pulumi.Output.secret(kubeconfig), context=context, enable_server_side_apply=True
    )


class DaskWorkspace(pulumi.ComponentResource):
    """A Dask scheduler and worker groups in one namespace; outputs the DaskBinding fields."""

    namespace: pulumi.Output[str]
    scheduler_address: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    worker_count: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        spec: WorkspaceSpec,
        *,
        namespace: str,
        provider: pulumi.ProviderResource,
        credentials: RegistryCredentials | None = None,
        storage_env: Mapping[str, Any] | None = None,
        identity: PodIdentity | None = None,
        federation: Federation | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("modelops:workspace:DaskWorkspace", name, None, opts)
        manifests = build_workspace(
            spec, namespace, credentials=credentials, storage_env=storage_env, identity=identity
        )
        self.federated: FederatedServiceAccount | None = None
        deps: list[pulumi.Resource] = []
        if identity is not None and federation is not None:
            # Trust the workers' ServiceAccount before they start, or their first token exchange fails.
            self.federated = FederatedServiceAccount(
                f"{name}-federated",
                federation,
                namespace=namespace,
                service_account=identity.service_account,
                opts=pulumi.ResourceOptions(parent=self),
            )
            deps.append(self.federated)
        self.resources = create_manifests(manifests, parent=self, provider=provider, depends_on=deps)
        first_ns = self.resources[resource_name(manifests[0])]
        # Outputs hang off the namespace so they resolve only once it exists.
        self.namespace = first_ns.id.apply(lambda _: namespace)
        self.scheduler_address = pulumi.Output.from_input(scheduler_address(namespace))
        self.dashboard_url = pulumi.Output.from_input(dashboard_url(namespace))
        # Dask worker processes across all groups: what the scheduler will see when every pod is up.
        self.worker_count = pulumi.Output.from_input(
            sum(g.initial_replicas * g.processes for g in spec.spec.all_groups())
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "scheduler_addr": self.scheduler_address,
                "dashboard_url": self.dashboard_url,
                "worker_count": self.worker_count,
            }
        )


def workspace_program(
    spec: WorkspaceSpec,
    *,
    namespace: str,
    infra_ref: str | None = None,
    kubeconfig: str | None = None,
    credentials: RegistryCredentials | None = None,
    storage_env: Mapping[str, Any] | None = None,
    identity: PodIdentity | None = None,
    federation: Federation | None = None,
):
    """The Pulumi program of the workspace stack; exports the keys ``DaskBinding.from_outputs`` reads.

    With ``identity`` the workers act as the workspace's managed identity; ``federation`` (from the storage stack)
    makes this stack trust their ServiceAccount (without it, federate it yourself: docs/cloud.md)."""

    def program() -> None:
        provider = kubernetes_provider("workspace", kubeconfig=kubeconfig, infra_ref=infra_ref)
        ws = DaskWorkspace(
            "workspace",
            spec,
            namespace=namespace,
            provider=provider,
            credentials=credentials,
            storage_env=storage_env,
            identity=identity,
            federation=federation,
        )
        pulumi.export("scheduler_addr", ws.scheduler_address)
        pulumi.export("dashboard_url", ws.dashboard_url)
        pulumi.export("namespace", ws.namespace)
        pulumi.export("worker_count", ws.worker_count)

    return program


# The keys workspace_program exports; DaskBinding.from_outputs reads them (kept in step by the tests).
WORKSPACE_OUTPUTS = ("scheduler_addr", "dashboard_url", "namespace", "worker_count")


# --- the Runtime-spec route (`kind: Runtime`, compiled by a ProviderPlugin) --------------------------------------
def workspace_spec_from_plan(plan: Any) -> WorkspaceSpec:
    """The WorkspaceSpec a Runtime plan's workspace stack describes: one Dask worker group per ``workerGroups``
    entry, ``max`` pods each, one worker process per whole core of its ``resources.cpu``, requests = limits."""
    from modelops.infra.automation import InfraError
    from modelops.specs.base import SpecError, parse_spec
    from modelops.specs.workspace import parse_quantity

    config = plan.config
    groups: list[dict[str, Any]] = []
    images: set[str] = set()
    for name, g in (config.get("worker_groups") or {}).items():
        res = g.get("resources") or {}
        cpu, memory = str(res.get("cpu") or "1"), str(res.get("memory") or "4Gi")
        profile = g.get("profile", "cpu")
        group: dict[str, Any] = {
            "name": re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "default",
            "replicas": int(g.get("max", 1)),
            "processes": max(1, int(parse_quantity(cpu))),
            "threads": 1,
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
            # The labels cloud part 1 puts on the pools: the workload pool's role, a GPU pool's role and group.
            "node_selector": {"modelops.io/role": profile},
        }
        if g.get("gpu"):
            selector = {"modelops.io/role": "gpu", "modelops.io/worker-group": name}
            group["gpu"] = {"vendor": g["gpu"].get("vendor", "nvidia"), "count": g["gpu"].get("count", 1)}
            group["gpu"]["node_selector"] = selector
            group["node_selector"] = selector
        if g.get("image"):
            images.add(g["image"]["ref"])
        groups.append(group)
    if len(images) > 1:
        raise InfraError(
            f"the worker groups name {len(images)} different images ({', '.join(sorted(images))}), but a workspace "
            "runs one image on its scheduler and all workers (Dask needs the same versions everywhere)",
            hint="give every worker group the same image.ref, or none for the default modelops image",
        )
    if not groups:
        raise InfraError("the runtime plan has no worker groups", hint="add spec.workerGroups to the Runtime spec")
    doc = {
        "apiVersion": "modelops/v1",
        "kind": "Workspace",
        "metadata": {"name": config["namespace"]},
        "spec": {
            "namespace": config["namespace"],
            "image": images.pop() if images else None,
            "workers": groups[0],
            "worker_groups": groups[1:],
        },
    }
    try:
        return parse_spec(WorkspaceSpec, doc, source=f"runtime plan {plan.stack}")
    except SpecError as exc:
        raise InfraError(str(exc), hint="fix the Runtime spec's workerGroups") from None


def program_from_plan(plan: Any, ctx: Any) -> Callable[[], None]:
    """The workspace stack's program for a Runtime plan (cloud part 1's ``programs.build`` hook).

    Checked before Pulumi starts: the worker groups make a valid workspace, the GHCR credentials are set. The
    cluster is the infra stack's (``reads["infra"]``) or, for the kubeconfig provider, the named file and context;
    with an object store the workers get the storage stack's account and SAS token.
    """
    from modelops.infra.automation import InfraError
    from modelops.infra.bindings import STORAGE_ACCOUNT_ENV, STORAGE_SAS_ENV
    from modelops.k8s.workspace import K8sConfigError, registry_credentials

    spec = workspace_spec_from_plan(plan)
    try:
        credentials = registry_credentials(spec.spec.image_pull, spec.image)
    except K8sConfigError as exc:
        raise InfraError(str(exc)) from None
    cluster = plan.config.get("cluster") or {}
    kubeconfig: str | None = None
    if cluster.get("source") == "kubeconfig":
        path = Path(cluster["kubeconfig"]).expanduser()
        if not path.is_file():
            raise InfraError(f"the kubeconfig {path} does not exist", hint="fix spec.provider.path")
        kubeconfig = path.read_text(encoding="utf-8")
    infra_ref = plan.reads.get("infra")
    storage_ref = plan.reads.get("storage") if plan.config.get("object_store") else None
    namespace = plan.config["namespace"]
    identity: PodIdentity | None = None
    federation: Federation | None = None
    if storage_ref and ctx is not None:
        # The storage stack is applied before this one: with workload identity its outputs are plain ids, read
        # now so the manifests carry them; in sas mode the token stays an encrypted StackReference output below.
        from modelops.infra import automation
        from modelops.infra.bindings import StorageBinding
        from modelops.k8s.identity import resolve_identity

        outputs = automation.read_outputs(ctx, "storage")
        binding = StorageBinding.from_outputs(outputs)
        if binding.mode == "workload_identity":
            identity = resolve_identity(spec.spec.object_store, binding)
            federation = Federation.from_outputs(outputs)
            storage_ref = None

    def program() -> None:
        provider = kubernetes_provider(
            "workspace", kubeconfig=kubeconfig, infra_ref=infra_ref, context=cluster.get("context")
        )
        storage_env = None
        if storage_ref:
            storage = pulumi.StackReference("workspace-storage", stack_name=storage_ref)
            storage_env = {
                STORAGE_ACCOUNT_ENV: storage.require_output("account_name"),
                STORAGE_SAS_ENV: storage.require_output("sas_token"),
            }
        ws = DaskWorkspace(
            "workspace",
            spec,
            namespace=namespace,
            provider=provider,
            credentials=credentials,
            storage_env=storage_env,
            identity=identity,
            federation=federation,
        )
        pulumi.export("scheduler_addr", ws.scheduler_address)
        pulumi.export("dashboard_url", ws.dashboard_url)
        pulumi.export("namespace", ws.namespace)
        pulumi.export("worker_count", ws.worker_count)

    return program
