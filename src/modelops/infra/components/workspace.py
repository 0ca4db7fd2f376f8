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

from collections.abc import Mapping, Sequence
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
