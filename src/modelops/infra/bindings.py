"""Typed bindings: what one plane hands the next, read back from stack outputs. Frozen dataclasses, never persisted.

Stack outputs are the only state; a binding is a typed view of one stack's outputs, built with ``from_outputs``:

    from modelops.infra import automation
    from modelops.infra.bindings import ClusterBinding

    outputs = automation.read_outputs(ctx, "infra", env)   # plain values, secrets decrypted
    cluster = ClusterBinding.from_outputs(outputs)          # BindingError naming any missing output
    k8s.Provider("aks", kubeconfig=cluster.kubeconfig)

Inside a Pulumi program the same keys are read with ``pulumi.StackReference(naming.stack_reference(...))``;
``OUTPUTS`` on each class lists them, so a program and the CLI never disagree on a key. Secret fields are excluded
from ``repr`` so a binding can be logged safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

B = TypeVar("B", bound="_Binding")


class BindingError(ValueError):
    """A stack's outputs lack what a binding needs (the stack is missing, old, or was brought up partially)."""


class _Binding:
    OUTPUTS: ClassVar[tuple[str, ...]] = ()
    OPTIONAL: ClassVar[tuple[str, ...]] = ()
    SOURCE: ClassVar[str] = ""

    @classmethod
    def from_outputs(cls: type[B], outputs: Mapping[str, Any]) -> B:
        """Build the binding from a stack's outputs (plain values; ``OutputValue``s are unwrapped)."""
        values = {k: getattr(v, "value", v) for k, v in outputs.items()}
        missing = [k for k in cls.OUTPUTS if values.get(k) in (None, "")]
        if missing:
            raise BindingError(
                f"the {cls.SOURCE} stack has no output {', '.join(missing)}; bring it up (or up again) with "
                f"`mops {cls.SOURCE} up` and retry"
            )
        kwargs = {k: values[k] for k in cls.OUTPUTS}
        kwargs.update({k: values.get(k) for k in cls.OPTIONAL})
        return cls(**kwargs)  # type: ignore[call-arg]


@dataclass(frozen=True)
class ClusterBinding(_Binding):
    """Infra -> workspace: how to reach the cluster. ``kubeconfig`` is the only thing the planes above need."""

    OUTPUTS: ClassVar[tuple[str, ...]] = ("kubeconfig",)
    OPTIONAL: ClassVar[tuple[str, ...]] = (
        "cluster_name",
        "resource_group",
        "location",
        "kubelet_object_id",
        "acr_login_server",
    )
    SOURCE: ClassVar[str] = "infra"

    kubeconfig: str = field(repr=False)
    cluster_name: str | None = None
    resource_group: str | None = None
    location: str | None = None
    kubelet_object_id: str | None = None
    acr_login_server: str | None = None


@dataclass(frozen=True)
class RegistryBinding(_Binding):
    """Registry -> workspace/adaptive: where images and bundles are pulled from."""

    OUTPUTS: ClassVar[tuple[str, ...]] = ("login_server", "registry_name")
    OPTIONAL: ClassVar[tuple[str, ...]] = ("registry_id", "requires_auth")
    SOURCE: ClassVar[str] = "registry"

    login_server: str
    registry_name: str
    registry_id: str | None = None
    # True when pulls need credentials the cluster does not already have (AcrPull covers AKS's kubelet identity).
    requires_auth: bool | None = None


# Environment variables adlfs/fsspec read for Azure Blob access (az:// URLs), set from a StorageBinding.
STORAGE_ACCOUNT_ENV = "AZURE_STORAGE_ACCOUNT_NAME"
STORAGE_SAS_ENV = "AZURE_STORAGE_SAS_TOKEN"
RESULTS_URL_ENV = "MODELOPS_RESULTS_URL"
CACHE_URL_ENV = "MODELOPS_CACHE_URL"
BUNDLES_URL_ENV = "MODELOPS_BUNDLES_URL"


@dataclass(frozen=True)
class StorageBinding(_Binding):
    """Storage -> workers and runners: the object store. Access is by workload identity (a managed identity's
    client and tenant ids, nothing secret), or in ``sas`` mode by a read/write SAS token (a secret); never by an
    account key."""

    OUTPUTS: ClassVar[tuple[str, ...]] = (
        "account_name",
        "blob_endpoint",
        "results_container",
        "cache_container",
        "bundles_container",
    )
    OPTIONAL: ClassVar[tuple[str, ...]] = (
        "sas_token",
        "sas_expiry",
        "auth_mode",
        "identity_client_id",
        "identity_principal_id",
        "identity_tenant_id",
        "identity_name",
        "identity_resource_group",
        "identity_subscription_id",
        "oidc_issuer_url",
    )
    SOURCE: ClassVar[str] = "storage"

    account_name: str
    blob_endpoint: str
    results_container: str
    cache_container: str
    bundles_container: str
    sas_token: str | None = field(default=None, repr=False)
    sas_expiry: str | None = None
    # Stacks from before workload identity exported only a SAS: they read as sas mode.
    auth_mode: str | None = None
    identity_client_id: str | None = None
    identity_principal_id: str | None = None
    identity_tenant_id: str | None = None
    identity_name: str | None = None
    identity_resource_group: str | None = None
    identity_subscription_id: str | None = None
    oidc_issuer_url: str | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> StorageBinding:
        binding = super().from_outputs(outputs)
        mode = binding.mode
        if mode == "sas" and not binding.sas_token:
            raise BindingError("the storage stack is in sas mode but has no sas_token output; run `mops storage up`")
        if mode == "workload_identity" and not (binding.identity_client_id and binding.identity_tenant_id):
            raise BindingError(
                "the storage stack uses workload identity but has no identity_client_id/identity_tenant_id output; "
                "run `mops storage up`"
            )
        return binding

    @property
    def mode(self) -> str:
        return self.auth_mode or "sas"

    def url(self, container: str, path: str = "") -> str:
        """An fsspec URL (``az://container/path``) for adlfs."""
        return f"az://{container}/{path}".rstrip("/")

    def runs_url(self) -> str:
        """Where adaptive runs keep their records: ``runs/`` in the results container."""
        return self.url(self.results_container, "runs")

    def public_env(self) -> dict[str, str]:
        """The non-secret environment a pod needs (safe for a ConfigMap)."""
        return {
            STORAGE_ACCOUNT_ENV: self.account_name,
            RESULTS_URL_ENV: self.url(self.results_container),
            CACHE_URL_ENV: self.url(self.cache_container),
            BUNDLES_URL_ENV: self.url(self.bundles_container),
        }

    def secret_env(self) -> dict[str, str]:
        """The secret environment (put it in a Kubernetes Secret and reference it; never a plain env value); empty
        with workload identity, where nothing is secret."""
        return {STORAGE_SAS_ENV: self.sas_token} if self.mode == "sas" and self.sas_token else {}


@dataclass(frozen=True)
class CloudStorageBinding(_Binding):
    """Storage -> workers and runners on AWS or GCP: the S3 / GCS buckets. The pods reach them as their namespace's
    default ServiceAccount (EKS Pod Identity / GKE Workload Identity, set up by the storage stack), so nothing here is
    a secret: where the buckets are (``env``), and on AWS the role's IRSA annotation."""

    OUTPUTS: ClassVar[tuple[str, ...]] = ("results_url", "cache_url", "bundles_url", "env")
    OPTIONAL: ClassVar[tuple[str, ...]] = ("region", "project", "role_arn", "service_account_annotations")
    SOURCE: ClassVar[str] = "storage"

    results_url: str
    cache_url: str
    bundles_url: str
    env: Mapping[str, str]
    region: str | None = None
    project: str | None = None
    role_arn: str | None = None
    service_account_annotations: Mapping[str, str] | None = None

    @property
    def scheme(self) -> str:
        """The buckets' URL scheme (``s3``, ``gs``): what messages name, so no code here branches on a cloud."""
        return self.results_url.partition("://")[0]

    @property
    def mode(self) -> str:
        """How pods authenticate (Azure's StorageBinding says ``sas`` or ``workload_identity``)."""
        return "pod_identity"

    def client_env(self) -> dict[str, str]:
        """What this machine needs besides the caller's own cloud login to read the buckets: the region/project."""
        return {k: v for k, v in self.env.items() if k in ("AWS_REGION", "GOOGLE_CLOUD_PROJECT")}

    def runs_url(self) -> str:
        """Where adaptive runs keep their records: ``runs/`` in the results bucket."""
        return f"{self.results_url.rstrip('/')}/runs"


def storage_binding_from_outputs(outputs: Mapping[str, Any]) -> StorageBinding | CloudStorageBinding:
    """The storage stack's binding, whichever cloud made it: Azure's stack exports an account, AWS's and GCP's
    bucket URLs."""
    values = {k: getattr(v, "value", v) for k, v in outputs.items()}
    if "account_name" not in values and "results_url" in values:
        return CloudStorageBinding.from_outputs(values)
    return StorageBinding.from_outputs(values)


@dataclass(frozen=True)
class DaskBinding(_Binding):
    """Workspace -> adaptive: the Dask scheduler a runner connects to."""

    OUTPUTS: ClassVar[tuple[str, ...]] = ("scheduler_addr", "namespace")
    OPTIONAL: ClassVar[tuple[str, ...]] = ("dashboard_url",)
    SOURCE: ClassVar[str] = "workspace"

    scheduler_addr: str
    namespace: str
    dashboard_url: str | None = None


@dataclass(frozen=True)
class PostgresBinding(_Binding):
    """Adaptive internal: the central store. Credentials stay in the named Kubernetes Secret (PG* keys)."""

    OUTPUTS: ClassVar[tuple[str, ...]] = ("postgres_secret_name", "namespace")
    OPTIONAL: ClassVar[tuple[str, ...]] = ("postgres_host", "postgres_port", "postgres_database")
    SOURCE: ClassVar[str] = "adaptive"

    postgres_secret_name: str
    namespace: str
    postgres_host: str | None = None
    postgres_port: int | None = None
    postgres_database: str | None = None
