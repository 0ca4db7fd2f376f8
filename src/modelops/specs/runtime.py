"""The ``kind: Runtime`` document: what an algorithm needs (worker groups, databases, an object store) and where it
runs (a provider). A ProviderPlugin compiles it into the stacks to apply.

```yaml
apiVersion: modelops/v1
kind: Runtime
metadata: {name: prod}
spec:
  provider: {name: azure, subscription_id: ..., location: eastus2, aks: {name: modelops-aks, managed: true}}
  objectStore: {name: results, managed: true, class: azure-blob, bucket: calabaria-results}
  databases:
    optuna: {engine: postgres, managed: true, size: small}
  workerGroups:
    default-cpu: {kind: k8s-pool, profile: cpu, min: 2, max: 6, resources: {cpu: "4", memory: 16Gi}}
    gpu-calib: {kind: k8s-pool, profile: gpu, min: 0, max: 2, gpu: {vendor: nvidia, count: 1, model: A10}}
  algorithms:
    optuna-calibration:
      type: optuna
      bindings: {workers: default-cpu, database: optuna, objectStore: results}
      parameters: {sampler: tpe, n_parallel: 16}
      entrypoint: {module: "calabaria.runners.optuna:main", bundleRef: "oci://ghcr.io/org/bundle:sha256:abcd"}
```

``provider`` takes the fields of the provider config (``modelops.specs.provider``) plus ``name``. Bindings are
checked by ``compile`` (a binding naming a group, database or store that does not exist is an error there).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from modelops.core import naming
from modelops.core.fnref import FN_REF_RULE
from modelops.specs.base import SpecModel, load_spec
from modelops.specs.provider import AzureProviderSpec, KubeconfigProviderSpec, check_vm_size
from modelops.specs.provider_clouds import AwsProviderSpec, GcpProviderSpec

API_VERSION = "modelops/v1"
QUANTITY_RULE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")

# GPU models a user names in a worker group, and the smallest AKS VM size carrying one of them.
GPU_VM_SIZES = {
    "T4": "Standard_NC4as_T4_v3",
    "A10": "Standard_NV36ads_A10_v5",
    "V100": "Standard_NC6s_v3",
    "A100": "Standard_NC24ads_A100_v4",
    "H100": "Standard_NC40ads_H100_v5",
}


def _name_key(value: str, what: str) -> str:
    if not naming.DNS_LABEL_RULE.match(value):
        raise ValueError(f"{what} {value!r} must be a DNS label: lowercase letters, digits and '-'")
    return value


class AzureRuntimeProvider(AzureProviderSpec):
    name: Literal["azure"]


class KubeconfigRuntimeProvider(KubeconfigProviderSpec):
    name: Literal["kubeconfig"]


class AwsRuntimeProvider(AwsProviderSpec):
    name: Literal["aws"]


class GcpRuntimeProvider(GcpProviderSpec):
    name: Literal["gcp"]


RuntimeProvider = Annotated[
    AzureRuntimeProvider | KubeconfigRuntimeProvider | AwsRuntimeProvider | GcpRuntimeProvider,
    Field(discriminator="name"),
]


class Metadata(SpecModel):
    name: str

    _n = field_validator("name")(classmethod(lambda cls, v: _name_key(v, "metadata.name")))


class ObjectStoreSpec(SpecModel):
    name: str
    managed: bool = True
    class_: Literal["azure-blob"] = Field("azure-blob", alias="class")
    bucket: str = "results"

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not naming.BLOB_CONTAINER_RULE.match(value):
            raise ValueError(
                f"bucket {value!r} is not a valid blob container name: 3-63 lowercase letters, digits and single '-'"
            )
        return value


class DatabaseSpec(SpecModel):
    engine: Literal["postgres"] = "postgres"
    managed: bool = True
    size: Literal["small", "medium", "large"] = "small"


class Resources(SpecModel):
    cpu: str | None = None
    memory: str | None = None

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None and not QUANTITY_RULE.match(str(value)):
            raise ValueError(f"{value!r} is not a Kubernetes quantity; use forms like 500m or 4 (cpu), 16Gi (memory)")
        return None if value is None else str(value)


class ImageSpec(SpecModel):
    ref: str


class GpuSpec(SpecModel):
    vendor: Literal["nvidia"] = "nvidia"
    count: int = Field(1, ge=1, le=8)
    model: str | None = None


class WorkerGroupSpec(SpecModel):
    kind: Literal["k8s-pool"] = "k8s-pool"
    profile: Literal["cpu", "gpu"] = "cpu"
    min: int = Field(0, ge=0, le=1000)
    max: int = Field(1, ge=1, le=1000)
    resources: Resources = Resources()
    image: ImageSpec | None = None
    gpu: GpuSpec | None = None
    vm_size: str | None = None

    @field_validator("vm_size")
    @classmethod
    def _vm(cls, value: str | None) -> str | None:
        return None if value is None else check_vm_size(value)

    @model_validator(mode="after")
    def _shape(self) -> WorkerGroupSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        if self.profile == "gpu" and self.gpu is None:
            raise ValueError("profile gpu needs a gpu block, e.g. gpu: {vendor: nvidia, count: 1, model: T4}")
        if self.profile == "cpu" and self.gpu is not None:
            raise ValueError("a gpu block needs profile: gpu")
        return self

    def gpu_vm_size(self) -> str | None:
        """The VM size of this group's GPU pool: explicit ``vm_size``, else the size for ``gpu.model``."""
        if self.vm_size:
            return self.vm_size
        if self.gpu and self.gpu.model:
            return GPU_VM_SIZES.get(self.gpu.model.upper())
        return None


class AlgorithmBindings(SpecModel):
    workers: str
    database: str | None = None
    object_store: str | None = Field(None, alias="objectStore")


class EntrypointSpec(SpecModel):
    module: str
    bundle_ref: str | None = Field(None, alias="bundleRef")

    @field_validator("module")
    @classmethod
    def _module(cls, value: str) -> str:
        if not FN_REF_RULE.match(value):
            raise ValueError(f"{value!r} must be a reference like package.module:function")
        return value


class AlgorithmSpec(SpecModel):
    type: str
    bindings: AlgorithmBindings
    parameters: dict[str, Any] = {}
    entrypoint: EntrypointSpec | None = None
    replicas: int = Field(1, ge=1, le=64)


class RuntimeBody(SpecModel):
    provider: RuntimeProvider
    object_store: ObjectStoreSpec | None = Field(None, alias="objectStore")
    databases: dict[str, DatabaseSpec] = {}
    worker_groups: dict[str, WorkerGroupSpec] = Field(alias="workerGroups")
    algorithms: dict[str, AlgorithmSpec] = {}

    @field_validator("worker_groups")
    @classmethod
    def _groups(cls, value: dict[str, WorkerGroupSpec]) -> dict[str, WorkerGroupSpec]:
        if not value:
            raise ValueError("declare at least one worker group")
        for key in value:
            _name_key(key, "worker group name")
        return value

    @field_validator("algorithms", "databases")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            _name_key(key, "name")
        return value


class RuntimeSpec(SpecModel):
    api_version: Literal["modelops/v1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["Runtime"]
    metadata: Metadata
    spec: RuntimeBody


def load_runtime(path: str | Path) -> RuntimeSpec:
    """Read and validate a Runtime YAML file (SpecError naming each bad field)."""
    return load_spec(RuntimeSpec, path)
