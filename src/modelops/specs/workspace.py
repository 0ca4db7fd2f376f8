"""The workspace spec (`kind: Workspace`): a Dask scheduler and groups of workers on Kubernetes.

```yaml
apiVersion: modelops/v1
kind: Workspace
metadata: {name: dev}
spec:
  image: ghcr.io/modelops/modelops:0.1.0     # default: the image `make images` builds for this version
  scheduler: {resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: "1", memory: 2Gi}}}
  workers:
    replicas: 4            # pods
    processes: 2           # `dask worker --nworkers`: one Python process per core for GIL-bound simulations
    threads: 1             # `--nthreads` per process
    resources: {requests: {cpu: "2", memory: 6Gi}, limits: {cpu: "2", memory: 8Gi}}
    node_selector: {modelops.io/role: cpu}
  worker_groups:           # more groups, e.g. GPU nodes
    - {name: gpu, replicas: 1, gpu: {count: 1}, resources: {...}}
```

The pieces shared with the adaptive spec (resources, tolerations, image pull) live here too.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from modelops.core.naming import DNS_LABEL_RULE, GUID_RULE, LABEL_KEY_RULE, LABEL_VALUE_RULE, STORAGE_ACCOUNT_RULE
from modelops.specs.base import SpecModel, load_spec

API_VERSION = "modelops/v1"


def parse_quantity(value: str) -> Decimal:
    """A Kubernetes quantity ("500m", "8Gi") as a number, or ValueError with the accepted forms."""
    from kubernetes.utils.quantity import parse_quantity as _parse

    try:
        return Decimal(_parse(value))
    except (ValueError, TypeError):
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity; use forms like 500m or 2 (cpu) and 512Mi or 8Gi (memory)"
        ) from None


def check_dns_label(value: str, what: str) -> str:
    if not DNS_LABEL_RULE.match(value):  # a DNS-1123 label: what namespaces and object names must be
        raise ValueError(
            f"{what} {value!r} must be a DNS label: at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


class Metadata(SpecModel):
    name: str = Field(description="Name of this workspace or adaptive run definition.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value, "metadata.name")


class ResourceAmounts(SpecModel):
    cpu: str
    memory: str

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: object) -> str:
        text = str(value)
        if parse_quantity(text) <= 0:
            raise ValueError(f"{text!r} must be greater than zero")
        return text

    def as_dict(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory}


class Resources(SpecModel):
    """Container requests and limits; every pod gets both (the scheduler packs by requests, the kubelet
    enforces limits), so neither is optional."""

    requests: ResourceAmounts
    limits: ResourceAmounts

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        for key in ("cpu", "memory"):
            if parse_quantity(getattr(self.limits, key)) < parse_quantity(getattr(self.requests, key)):
                raise ValueError(
                    f"limits.{key} ({getattr(self.limits, key)}) is below requests.{key} "
                    f"({getattr(self.requests, key)}); raise the limit or lower the request"
                )
        return self

    @property
    def memory_limit_bytes(self) -> int:
        return int(parse_quantity(self.limits.memory))

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {"requests": self.requests.as_dict(), "limits": self.limits.as_dict()}


def resources(req_cpu: str, req_mem: str, lim_cpu: str, lim_mem: str) -> Resources:
    return Resources(
        requests=ResourceAmounts(cpu=req_cpu, memory=req_mem), limits=ResourceAmounts(cpu=lim_cpu, memory=lim_mem)
    )


class Toleration(SpecModel):
    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _value_matches_operator(self) -> Toleration:
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("a toleration with operator Exists takes no value; remove value or use Equal")
        return self

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Placement(SpecModel):
    """Where pods may run: node labels they require and taints they tolerate."""

    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)

    @field_validator("node_selector")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not LABEL_KEY_RULE.match(key) or not LABEL_VALUE_RULE.match(str(val)) or len(str(val)) > 63:
                raise ValueError(f"node_selector {key}: {val!r} is not a valid Kubernetes label")
        return value


class ImagePull(SpecModel):
    """How nodes authenticate to the image registry.

    ``auto`` picks from the image's host: ``ghcr`` for ghcr.io (a pull secret built at apply time from the
    GHCR_USERNAME and GHCR_TOKEN environment variables), ``acr`` for *.azurecr.io (the AKS kubelet identity holds
    AcrPull, so no secret), ``none`` otherwise (a public image).
    """

    kind: Literal["auto", "ghcr", "acr", "none"] = "auto"
    username_env: str = "GHCR_USERNAME"
    token_env: str = "GHCR_TOKEN"

    def resolve(self, image: str) -> Literal["ghcr", "acr", "none"]:
        if self.kind != "auto":
            return self.kind
        host = image.split("/", 1)[0] if "/" in image else ""
        if host == "ghcr.io":
            return "ghcr"
        if host.endswith(".azurecr.io"):
            return "acr"
        return "none"


class ObjectStoreAccess(SpecModel):
    """How pods reach the object store (results, the simulation cache, bundles).

    ``auth``: ``workload_identity`` (a federated ServiceAccount acting as the workspace's managed identity; no key,
    SAS or password anywhere), ``sas`` (the explicit fallback: a SAS or connection string in a Secret), or unset:
    what the storage stack was brought up with (`mops storage up`), else ``sas`` when AZURE_STORAGE_* is exported.
    ``storage_account``, ``client_id`` and ``tenant_id`` default to the storage stack's outputs; set them to
    `render` manifests without Pulumi (none of them is a secret).
    """

    auth: Literal["workload_identity", "sas"] | None = None
    storage_account: str | None = None
    client_id: str | None = None
    tenant_id: str | None = None

    @field_validator("client_id", "tenant_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if value is not None and not GUID_RULE.match(value):
            raise ValueError(f"{value!r} is not a GUID (see `mops storage status`: identity_client_id/_tenant_id)")
        return value

    @field_validator("storage_account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not STORAGE_ACCOUNT_RULE.match(value):
            raise ValueError(f"storage account {value!r} must be 3-24 lowercase letters and digits")
        return value


class GpuShape(SpecModel):
    vendor: Literal["nvidia"] = "nvidia"
    count: int = Field(1, ge=1, le=16)
    # The node label the GPU pool carries (cloud part 1's GPU pool labels its nodes this way).
    node_selector: dict[str, str] = Field(default_factory=lambda: {"modelops.io/role": "gpu"})

    @property
    def resource_name(self) -> str:
        return f"{self.vendor}.com/gpu"


class Autoscale(SpecModel):
    """Pods between ``min`` and ``max``, sized by the scheduler's demand (modelops.k8s.scaler); idle pods only are
    retired on the way down."""

    min: int = Field(0, ge=0, le=1000)
    max: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscale:
        if self.min > self.max:
            raise ValueError(f"autoscale.min ({self.min}) must not exceed autoscale.max ({self.max})")
        return self


class WorkerGroup(Placement):
    """One Deployment of `dask worker` pods; each pod runs ``processes`` worker processes of ``threads`` threads."""

    name: str = "default"
    replicas: int = Field(2, ge=0, le=1000)
    processes: int = Field(2, ge=1, le=64)
    threads: int = Field(1, ge=1, le=64)
    resources: Resources = Field(default_factory=lambda: resources("1", "6Gi", "2", "8Gi"))
    gpu: GpuShape | None = None
    # With autoscale, `replicas` is where the group starts (clamped into [min, max]); the scaler moves it.
    autoscale: Autoscale | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value, "worker group name")

    @model_validator(mode="after")
    def _memory_per_process(self) -> WorkerGroup:
        # Each worker process needs room for the interpreter, Dask and a simulation; below 256 MiB it thrashes.
        if self.resources.memory_limit_bytes // self.processes < 256 * 2**20:
            raise ValueError(
                f"limits.memory {self.resources.limits.memory} split across {self.processes} processes leaves "
                "under 256Mi each; raise limits.memory or lower processes"
            )
        return self

    @property
    def initial_replicas(self) -> int:
        """The pods the Deployment starts with: ``replicas``, clamped into ``autoscale``'s bounds if any."""
        if self.autoscale is None:
            return self.replicas
        return min(max(self.replicas, self.autoscale.min), self.autoscale.max)

    @property
    def memory_limit_per_process(self) -> int:
        """Bytes for `dask worker --memory-limit` (per process): 90% of the pod's limit, split evenly.

        The 10% kept back covers the nanny processes, so Dask's own spill/pause/restart thresholds act before the
        kubelet's OOM killer does.
        """
        return int(self.resources.memory_limit_bytes * 0.9) // self.processes


class SchedulerSpec(Placement):
    resources: Resources = Field(default_factory=lambda: resources("500m", "1Gi", "1", "2Gi"))


class WorkspaceBody(SpecModel):
    namespace: str | None = Field(None, description="Kubernetes namespace; default modelops-<environment>.")
    image: str | None = Field(None, description="One image for scheduler and workers; default: this version's.")
    image_pull: ImagePull = Field(default_factory=ImagePull)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    workers: WorkerGroup = Field(default_factory=WorkerGroup)
    worker_groups: list[WorkerGroup] = Field(default_factory=list)
    object_store: ObjectStoreAccess = Field(default_factory=ObjectStoreAccess)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else check_dns_label(value, "namespace")

    @model_validator(mode="after")
    def _unique_groups(self) -> WorkspaceBody:
        names = [g.name for g in self.all_groups()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"worker group names must be unique; {', '.join(dupes)} appears more than once")
        return self

    def all_groups(self) -> list[WorkerGroup]:
        return [self.workers, *self.worker_groups]


class WorkspaceSpec(SpecModel):
    api_version: Literal["modelops/v1"] = Field(alias="apiVersion")
    kind: Literal["Workspace"]
    metadata: Metadata
    spec: WorkspaceBody = Field(default_factory=WorkspaceBody)

    def namespace_for(self, environment: str) -> str:
        """The workspace's namespace: the spec's, else ``modelops-<environment>`` (one workspace per environment)."""
        from modelops.core.naming import workspace_namespace

        return self.spec.namespace or workspace_namespace(environment)

    @property
    def image(self) -> str:
        from modelops.core.images import default_image

        return self.spec.image or default_image()


def load_workspace_spec(path: str | Path) -> WorkspaceSpec:
    """Read and validate a workspace YAML file (SpecError naming each bad field)."""
    return load_spec(WorkspaceSpec, path)
