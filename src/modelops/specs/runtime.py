"""The ``kind: Runtime`` document: the cluster a calibration needs, as the worker groups its node pools must fit.

```yaml
apiVersion: modelops/v1
kind: Runtime
metadata: {name: prod}
spec:
  provider: {name: azure, subscription_id: ..., location: eastus2, aks: {name: modelops-aks}}
  workerGroups:
    default-cpu: {profile: cpu, min: 2, max: 6}
    gpu-calib: {profile: gpu, min: 0, max: 2, gpu: {vendor: nvidia, count: 1, model: A10}}
```

Two commands read it, and only for the cluster: `mops infra up --runtime FILE` brings up the provider config's
(``--config``) cluster with its node pools sized by ``workerGroups`` (CPU groups widen the workload pool to the sum of
their node counts, each GPU group gets a pool of its own), and `mops infra plan FILE` shows, without cloud calls, the
stacks that cluster takes on the document's own ``provider`` (the infra stack so sized, then the registry stack when
the provider config enables one). What runs on the cluster is described elsewhere, once: the Dask workers by a
``kind: Workspace`` spec (`mops workspace up`), a calibration run by a ``kind: Adaptive`` spec (`mops adaptive up`).

``provider`` takes the fields of a provider config (``modelops.specs.provider``) plus ``name``; an existing cluster
(provider ``kubeconfig``) has no pools to size, so it has no Runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from modelops.specs.base import SpecModel, load_spec
from modelops.specs.provider import AzureProviderSpec, check_vm_size
from modelops.specs.provider_clouds import AwsProviderSpec, GcpProviderSpec
from modelops.specs.workspace import Metadata, check_dns_label

API_VERSION = "modelops/v1"

# GPU models a user names in a worker group, and the smallest AKS VM size carrying one of them.
GPU_VM_SIZES = {
    "T4": "Standard_NC4as_T4_v3",
    "A10": "Standard_NV36ads_A10_v5",
    "V100": "Standard_NC6s_v3",
    "A100": "Standard_NC24ads_A100_v4",
    "H100": "Standard_NC40ads_H100_v5",
}


class AzureRuntimeProvider(AzureProviderSpec):
    name: Literal["azure"]


class AwsRuntimeProvider(AwsProviderSpec):
    name: Literal["aws"]


class GcpRuntimeProvider(GcpProviderSpec):
    name: Literal["gcp"]


RuntimeProvider = Annotated[
    AzureRuntimeProvider | AwsRuntimeProvider | GcpRuntimeProvider,
    Field(discriminator="name"),
]


class NodeGpu(SpecModel):
    """The GPUs each node of a GPU pool carries (what a pod requests is the Workspace spec's ``gpu``)."""

    vendor: Literal["nvidia"] = "nvidia"
    count: int = Field(1, ge=1, le=8)
    model: str | None = None


class WorkerPool(SpecModel):
    """The nodes one worker group needs: ``min``..``max`` nodes of the CPU workload pool, or of a GPU pool."""

    profile: Literal["cpu", "gpu"] = "cpu"
    min: int = Field(0, ge=0, le=1000)
    max: int = Field(1, ge=1, le=1000)
    gpu: NodeGpu | None = None
    vm_size: str | None = None

    @field_validator("vm_size")
    @classmethod
    def _vm(cls, value: str | None) -> str | None:
        return None if value is None else check_vm_size(value)

    @model_validator(mode="after")
    def _shape(self) -> WorkerPool:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        if self.profile == "gpu" and self.gpu is None:
            raise ValueError("profile gpu needs a gpu block, e.g. gpu: {vendor: nvidia, count: 1, model: T4}")
        if self.profile == "cpu" and self.gpu is not None:
            raise ValueError("a gpu block needs profile: gpu")
        return self

    def gpu_vm_size(self) -> str | None:
        """The Azure VM size of this group's GPU pool: explicit ``vm_size``, else the size for ``gpu.model``."""
        if self.vm_size:
            return self.vm_size
        if self.gpu and self.gpu.model:
            return GPU_VM_SIZES.get(self.gpu.model.upper())
        return None


class RuntimeBody(SpecModel):
    provider: RuntimeProvider
    worker_groups: dict[str, WorkerPool] = Field(alias="workerGroups")

    @field_validator("worker_groups")
    @classmethod
    def _groups(cls, value: dict[str, WorkerPool]) -> dict[str, WorkerPool]:
        if not value:
            raise ValueError("declare at least one worker group")
        for key in value:
            check_dns_label(key, "worker group name")
        return value


class RuntimeSpec(SpecModel):
    api_version: Literal["modelops/v1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["Runtime"]
    metadata: Metadata
    spec: RuntimeBody


def load_runtime(path: str | Path) -> RuntimeSpec:
    """Read and validate a Runtime YAML file (SpecError naming each bad field)."""
    return load_spec(RuntimeSpec, path)
