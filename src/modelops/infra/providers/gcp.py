"""The Google Cloud provider: VPC network + GKE Standard (infra stack), an Artifact Registry repository (registry
stack), GCS buckets with Workload Identity (storage stack). Plans are pure; ``check_login`` loads the application
default credentials Pulumi's gcp provider uses and refreshes them once, with a bounded timeout.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelops.core import naming, naming_clouds
from modelops.infra import automation
from modelops.infra.components.gcp import ArtifactConfig, GcsConfig, GkeConfig
from modelops.infra.components.gpu_pool import gpu_pool_shape
from modelops.infra.components.pools import PoolShape
from modelops.infra.plan import StackPlan
from modelops.infra.providers.cloud import (
    CloudLoginMissing,
    Note,
    Problems,
    cloud_stack_plan,
    gpu_groups,
    require_extra,
    workload_bounds,
)
from modelops.specs.base import SpecError
from modelops.specs.provider_clouds import ROLE_LABEL, GcpProviderSpec
from modelops.specs.runtime import WorkerPool

if TYPE_CHECKING:
    from modelops.infra.doctor import Check
    from modelops.specs.config import GlobalConfig

# GPU model -> (machine type, accelerator type). N1 machines take 1, 2 or 4 attached T4/V100s; the A2/A3/G2
# families come with their GPU built in, one per machine in the sizes listed.
GPU_MACHINES = {
    "T4": ("n1-standard-4", "nvidia-tesla-t4"),
    "V100": ("n1-standard-8", "nvidia-tesla-v100"),
    "L4": ("g2-standard-4", "nvidia-l4"),
    "A100": ("a2-highgpu-1g", "nvidia-tesla-a100"),
    "H100": ("a3-highgpu-1g", "nvidia-h100-80gb"),
}
ATTACHABLE = ("n1-",)
PROGRAMS = "modelops.infra.components.gcp"
PLUGINS = ("gcp", "random")
TIMEOUT = 15
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
LOGIN_HINT = (
    "run `gcloud auth application-default login` (Pulumi's gcp provider uses those credentials), or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a credentials file; then check with `mops infra doctor`"
)


def stack_config(spec: GcpProviderSpec) -> dict[str, str]:
    return {"gcp:project": spec.project, "gcp:region": spec.region}


def cluster_config(
    spec: GcpProviderSpec,
    environment: str,
    username: str,
    worker_groups: Mapping[str, WorkerPool] | None = None,
    problems: Problems | None = None,
) -> GkeConfig:
    problems = problems if problems is not None else []
    low, high = workload_bounds(spec.gke.workload_pool.min, spec.gke.workload_pool.max, worker_groups)
    gpus, accelerators = [], {}
    for index, name, group, (machine, accelerator) in gpu_groups(worker_groups, problems, GPU_MACHINES, "gcp"):
        count = group.gpu.count if group.gpu else 1
        if count != 1 and not machine.startswith(ATTACHABLE):
            problems.append(
                (f"spec.workerGroups.{name}.gpu.count", f"{machine} carries one GPU on GKE here; use count: 1")
            )
            continue
        shape = gpu_pool_shape(name, index, vm_size=machine, min_nodes=group.min, max_nodes=group.max, count=count)
        gpus.append(shape)
        accelerators[shape.name] = (accelerator, count)
    name = spec.gke.name or naming_clouds.gke_cluster_name(environment, username)
    return GkeConfig(
        project=spec.project,
        location=spec.zone or spec.region,
        region=spec.region,
        cluster_name=name,
        network_name=naming_clouds.network_name(name),
        kubernetes_version=spec.gke.version,
        system_pool=PoolShape(
            name=naming.node_pool_name("system"),
            vm_size=spec.gke.system_pool.machine_type,
            mode="System",
            count=spec.gke.system_pool.count,
        ),
        workload_pool=PoolShape(
            name=naming.node_pool_name("workcpu"),
            vm_size=spec.gke.workload_pool.machine_type,
            min=low,
            max=high,
            labels={**spec.gke.labels, ROLE_LABEL: "cpu"},
            taints=tuple(spec.gke.taints),
        ),
        gpu_pools=tuple(gpus),
        accelerators=accelerators,
        node_service_account=naming_clouds.service_account_id(environment, username, "node"),
        cidr=spec.network.cidr,
        pods_cidr=spec.network.pods_cidr,
        services_cidr=spec.network.services_cidr,
        labels={"env": environment, "owner": naming.user_slug(username), **spec.labels},
    )


def _plan(component: str, environment: str, config: dict[str, Any], spec: GcpProviderSpec, **kw: Any) -> StackPlan:
    return cloud_stack_plan(
        component, environment, config, stack_config=stack_config(spec), programs=PROGRAMS, plugins=PLUGINS, **kw
    )


@dataclass(frozen=True)
class GcpCloud:
    """CloudProvider for ``provider: gcp``."""

    spec: GcpProviderSpec
    name: str = "gcp"

    def infra_stack(
        self,
        environment: str,
        username: str,
        worker_groups: Mapping[str, WorkerPool] | None = None,
        problems: Problems | None = None,
    ) -> StackPlan:
        cluster = cluster_config(self.spec, environment, username, worker_groups, problems)
        return _plan("infra", environment, {"cluster": cluster.to_dict()}, self.spec)

    @property
    def registry_enabled(self) -> bool:
        return self.spec.artifact_registry.enabled

    def registry_stack(self, environment: str, username: str, organization: str | None) -> StackPlan:
        ar = self.spec.artifact_registry
        if not ar.enabled:
            raise SpecError(
                "provider config", [("artifact_registry.enabled", "no registry is configured; set enabled: true")]
            )
        config = ArtifactConfig(
            project=self.spec.project,
            region=self.spec.region,
            repository=ar.name or naming_clouds.artifact_repository_name(environment, username),
            labels={"env": environment, **self.spec.labels},
        )
        reads = {"infra": naming.stack_reference("infra", environment, organization=organization)}
        return _plan("registry", environment, {"registry": config.to_dict()}, self.spec, reads=reads)

    def storage_stack(self, environment: str, username: str, organization: str | None) -> StackPlan:
        if not self.spec.storage.enabled:
            raise SpecError("provider config", [("storage.enabled", "storage is disabled; set storage.enabled: true")])
        namespaces = dict.fromkeys([naming.workspace_namespace(environment), *self.spec.storage.namespaces])
        config = GcsConfig(
            project=self.spec.project,
            region=self.spec.region,
            environment=environment,
            username=username,
            namespaces=tuple(namespaces),
            labels={"env": environment, **self.spec.labels},
        )
        reads = {"infra": naming.stack_reference("infra", environment, organization=organization)}
        return _plan("storage", environment, {"storage": config.to_dict()}, self.spec, reads=reads)

    def check_login(self) -> str | None:
        require_extra("pulumi_gcp", "gcp", "gcp")
        return application_default_identity()

    def prepare(self, ctx: automation.PulumiContext, stack: StackPlan, note: Note | None = None) -> dict[str, Any]:
        return {}  # no secret settings: Pulumi's gcp provider reads the application default credentials

    def describe(self, stack: StackPlan) -> str:
        if stack.component == "infra":
            c = stack.config["cluster"]
            return (
                f"bringing up {c['cluster_name']} (GKE {c['kubernetes_version']}) in project {c['project']} / "
                f"{c['location']}"
            )
        return f"bringing up the {stack.component} stack in project {self.spec.project}"

    def after_up(self, stack: StackPlan, outputs: Mapping[str, Any]) -> str | None:
        if stack.component == "registry":
            host = str(outputs.get("login_server", f"{self.spec.region}-docker.pkg.dev")).split("/", 1)[0]
            return f"push with: gcloud auth configure-docker {host}"
        return None

    def doctor(self, config: GlobalConfig) -> list[Check]:
        from modelops.infra.doctor import Check

        try:
            who = self.check_login() or ""
        except automation.InfraError as exc:
            return [Check("gcp login", "fail", exc.message, exc.hint)]
        return [
            Check("gcp login", "ok", who),
            Check(
                "gke version",
                "warn",
                f"{self.spec.gke.version}: not checked here",
                f"`gcloud container get-server-config --region {self.spec.region}` lists the offered versions",
            ),
        ]


def application_default_identity() -> str:
    """Who the application default credentials are; CloudLoginMissing when there are none or Google refuses them."""
    import google.auth
    import google.auth.exceptions
    from google.auth.transport.requests import Request

    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError:
        raise CloudLoginMissing(
            "no Google Cloud credentials (application default credentials)", hint=LOGIN_HINT
        ) from None
    try:
        credentials.refresh(functools.partial(Request(), timeout=TIMEOUT))
    except google.auth.exceptions.RefreshError as exc:
        raise CloudLoginMissing(f"Google Cloud refused the credentials ({exc})", hint=LOGIN_HINT) from None
    except google.auth.exceptions.TransportError as exc:
        raise automation.InfraError(f"could not reach Google Cloud: {exc}", hint="check the network") from None
    return str(getattr(credentials, "service_account_email", None) or "user credentials (gcloud)")
