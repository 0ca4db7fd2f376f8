"""The Google Cloud stacks' components (pulumi-gcp): the infra stack's VPC network + GKE Standard, the registry
stack's Artifact Registry repository and the storage stack's GCS buckets with Workload Identity, and the three
Pulumi programs the GCP provider's plans name.

- ``GkeCluster``: a custom-mode VPC network with one subnetwork (secondary ranges for pods and services), a Cloud
  Router + NAT so private nodes reach the internet; a node service account with only the logging/monitoring roles;
  GKE Standard with Workload Identity (``{project}.svc.id.goog``), private nodes, the default pool removed; a fixed
  system pool, an autoscaling workload pool labelled ``modelops.io/role=cpu`` and one tainted pool per GPU worker
  group (with its accelerator, drivers installed by GKE); the kubeconfig (``gke-gcloud-auth-plugin``) as a secret
  output.
- ``ArtifactRepository``: a Docker repository with ``roles/artifactregistry.reader`` for the node service account.
- ``GcsStorage``: buckets with uniform access and public access prevention enforced; ``roles/storage.objectUser``
  granted to the Kubernetes namespaces' principal sets through Workload Identity Federation for GKE (no Google
  service account, no key, no service-account annotation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml

from modelops.core import naming_clouds
from modelops.infra.components.aws import PURPOSES, taint_args, url_env
from modelops.infra.components.pools import PoolShape
from modelops.infra.plan import StackPlan

COMPONENT_NAME = "modelops"
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
)
PULL_ROLE = "roles/artifactregistry.reader"
BUCKET_ROLE = "roles/storage.objectUser"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MASTER_CIDR = "172.16.0.0/28"


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {"project": "modelops", "managed-by": "pulumi", **labels}


def workload_pool(project: str) -> str:
    return f"{project}.svc.id.goog"


def namespace_principal(project_number: str, project: str, namespace: str) -> str:
    """Every pod of a Kubernetes namespace, as an IAM principal set (Workload Identity Federation for GKE)."""
    return (
        f"principalSet://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
        f"{workload_pool(project)}/namespace/{namespace}"
    )


def gke_kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with ``gke-gcloud-auth-plugin`` (no token is stored in it)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster_name, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca_data}}
        ],
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "provideClusterInfo": True,
                        "installHint": "gcloud components install gke-gcloud-auth-plugin",
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class GkeConfig:
    project: str
    location: str  # a region (regional cluster) or a zone (zonal)
    region: str
    cluster_name: str
    network_name: str
    kubernetes_version: str
    system_pool: PoolShape
    workload_pool: PoolShape
    gpu_pools: tuple[PoolShape, ...] = ()
    # pool name -> (accelerator type, count per node)
    accelerators: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    node_service_account: str = "mops-node"
    cidr: str = "10.0.0.0/20"
    pods_cidr: str = "10.4.0.0/14"
    services_cidr: str = "10.8.0.0/20"
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "system_pool": self.system_pool.to_dict(),
            "workload_pool": self.workload_pool.to_dict(),
            "gpu_pools": [p.to_dict() for p in self.gpu_pools],
            "accelerators": {k: list(v) for k, v in self.accelerators.items()},
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GkeConfig:
        return cls(
            **{
                **data,
                "system_pool": PoolShape.from_dict(data["system_pool"]),
                "workload_pool": PoolShape.from_dict(data["workload_pool"]),
                "gpu_pools": tuple(PoolShape.from_dict(p) for p in data.get("gpu_pools", ())),
                "accelerators": {k: (str(v[0]), int(v[1])) for k, v in (data.get("accelerators") or {}).items()},
                "labels": dict(data.get("labels") or {}),
            }
        )


@dataclass(frozen=True)
class ArtifactConfig:
    project: str
    region: str
    repository: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "labels": dict(self.labels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactConfig:
        return cls(**data)


@dataclass(frozen=True)
class GcsConfig:
    project: str
    region: str
    environment: str
    username: str
    namespaces: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "namespaces": list(self.namespaces), "labels": dict(self.labels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GcsConfig:
        return cls(**{**data, "namespaces": tuple(data["namespaces"]), "labels": dict(data.get("labels") or {})})


class GkeCluster(pulumi.ComponentResource):
    """Outputs: ``kubeconfig`` (secret), ``cluster_name``, ``location``, ``project``, ``endpoint``, ``network``,
    ``node_service_account``, ``workload_pool``."""

    def __init__(self, name: str, config: GkeConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelops:gcp:GkeCluster", name, None, opts)
        import pulumi_gcp as gcp

        child = pulumi.ResourceOptions(parent=self)
        labels = _labels(config.labels)
        network = gcp.compute.Network(
            f"{name}-network",
            name=config.network_name,
            project=config.project,
            auto_create_subnetworks=False,
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=config.network_name,
            project=config.project,
            region=config.region,
            network=network.id,
            ip_cidr_range=config.cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                {"range_name": "pods", "ip_cidr_range": config.pods_cidr},
                {"range_name": "services", "ip_cidr_range": config.services_cidr},
            ],
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{config.network_name}-router",
            project=config.project,
            region=config.region,
            network=network.id,
            opts=child,
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{config.network_name}-nat",
            project=config.project,
            region=config.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            opts=child,
        )
        node_sa = gcp.serviceaccount.Account(
            f"{name}-node-sa",
            account_id=config.node_service_account,
            display_name=f"ModelOps nodes of {config.cluster_name}",
            project=config.project,
            opts=child,
        )
        member = node_sa.email.apply(lambda e: f"serviceAccount:{e}")
        for role in NODE_ROLES:
            gcp.projects.IAMMember(
                f"{name}-node-{role.split('/')[-1].replace('.', '-')}",
                project=config.project,
                role=role,
                member=member,
                opts=child,
            )
        cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=config.cluster_name,
            project=config.project,
            location=config.location,
            network=network.id,
            subnetwork=subnet.id,
            min_master_version=config.kubernetes_version,
            # No release channel: the minor stays where the config pins it.
            release_channel={"channel": "UNSPECIFIED"},
            remove_default_node_pool=True,
            initial_node_count=1,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={"cluster_secondary_range_name": "pods", "services_secondary_range_name": "services"},
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": False,
                "master_ipv4_cidr_block": MASTER_CIDR,
            },
            workload_identity_config={"workload_pool": workload_pool(config.project)},
            enable_shielded_nodes=True,
            resource_labels=labels,
            # `mops infra down` deletes the cluster; the provider's default protection would make it fail.
            deletion_protection=False,
            opts=child,
        )
        self.node_pools: dict[str, Any] = {}
        for shape in (config.system_pool, config.workload_pool, *config.gpu_pools):
            self.node_pools[shape.name] = self._pool(name, config, shape, cluster, node_sa, labels)
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth).apply(
                lambda v: gke_kubeconfig(v[0], v[1], _ca(v[2]))
            )
        )
        self.outputs: dict[str, Any] = {
            "kubeconfig": self.kubeconfig,
            "cluster_name": cluster.name,
            "location": config.location,
            "project": config.project,
            "region": config.region,
            "endpoint": cluster.endpoint,
            "network": network.name,
            "node_service_account": node_sa.email,
            "workload_pool": workload_pool(config.project),
            "kubernetes_version": config.kubernetes_version,
        }
        self.register_outputs(self.outputs)

    def _pool(
        self, name: str, config: GkeConfig, shape: PoolShape, cluster: Any, node_sa: Any, labels: dict[str, str]
    ) -> Any:
        import pulumi_gcp as gcp

        fixed = shape.mode == "System"
        node_config: dict[str, Any] = {
            "machine_type": shape.vm_size,
            "labels": dict(shape.labels) or None,
            "taints": [taint_args(t) for t in shape.taints] or None,
            "service_account": node_sa.email,
            "oauth_scopes": [CLOUD_PLATFORM],
            # The GKE metadata server: pods get Workload Identity, never the node's own credentials.
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "resource_labels": labels,
        }
        accelerator = config.accelerators.get(shape.name)
        if accelerator is not None:
            node_config["guest_accelerators"] = [
                {
                    "type": accelerator[0],
                    "count": accelerator[1],
                    "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"},
                }
            ]
        scale: dict[str, Any] = (
            {"node_count": shape.count}
            if fixed
            else {
                "initial_node_count": shape.min or 0,
                "autoscaling": {"min_node_count": shape.min or 0, "max_node_count": shape.max or 1},
            }
        )
        return gcp.container.NodePool(
            f"{name}-pool-{shape.name}",
            name=shape.name,
            cluster=cluster.name,
            project=config.project,
            location=config.location,
            version=None,  # follows the control plane's version (min_master_version)
            node_config=node_config,
            management={"auto_repair": True, "auto_upgrade": True},
            **scale,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )


def _ca(master_auth: Any) -> str:
    if isinstance(master_auth, Mapping):
        return str(master_auth.get("cluster_ca_certificate") or master_auth.get("clusterCaCertificate") or "")
    return str(getattr(master_auth, "cluster_ca_certificate", "") or "")


class ArtifactRepository(pulumi.ComponentResource):
    """Outputs: ``login_server`` ({region}-docker.pkg.dev/{project}/{repo}), ``registry_name``, ``registry_id``,
    ``requires_auth`` (False: the node service account may pull)."""

    def __init__(
        self,
        name: str,
        config: ArtifactConfig,
        *,
        node_service_account: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("modelops:gcp:ArtifactRepository", name, None, opts)
        import pulumi_gcp as gcp

        child = pulumi.ResourceOptions(parent=self)
        repo = gcp.artifactregistry.Repository(
            f"{name}-repo",
            repository_id=config.repository,
            project=config.project,
            location=config.region,
            format="DOCKER",
            labels=_labels(config.labels),
            opts=child,
        )
        self.pull = gcp.artifactregistry.RepositoryIamMember(
            f"{name}-pull",
            project=config.project,
            location=config.region,
            repository=repo.name,
            role=PULL_ROLE,
            member=pulumi.Output.from_input(node_service_account).apply(lambda e: f"serviceAccount:{e}"),
            opts=child,
        )
        self.outputs: dict[str, Any] = {
            "login_server": f"{config.region}-docker.pkg.dev/{config.project}/{config.repository}",
            "registry_name": repo.repository_id,
            "registry_id": repo.id,
            "requires_auth": False,
        }
        self.register_outputs(self.outputs)


class GcsStorage(pulumi.ComponentResource):
    """Outputs: ``{purpose}_bucket``, ``{purpose}_url`` (gs://), ``project``, ``principals``."""

    def __init__(self, name: str, config: GcsConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelops:gcp:GcsStorage", name, None, opts)
        import pulumi_gcp as gcp
        import pulumi_random

        child = pulumi.ResourceOptions(parent=self)
        suffix = pulumi_random.RandomString(
            f"{name}-suffix", length=8, special=False, upper=False, lower=True, numeric=True, opts=child
        )
        project = gcp.organizations.get_project_output(
            project_id=config.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        principals = [
            project.number.apply(lambda n, ns=ns: namespace_principal(str(n), config.project, ns))
            for ns in config.namespaces
        ]
        self.buckets: dict[str, Any] = {}
        outputs: dict[str, Any] = {"project": config.project, "principals": pulumi.Output.all(*principals)}
        for purpose in PURPOSES:
            bucket = gcp.storage.Bucket(
                f"{name}-{purpose}",
                name=suffix.result.apply(
                    lambda s, p=purpose: naming_clouds.bucket_name(config.environment, config.username, p, s)
                ),
                project=config.project,
                location=config.region.upper(),
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                force_destroy=True,  # `mops storage down` asks first, then deletes the data (as on Azure)
                labels=_labels(config.labels),
                opts=child,
            )
            for i, principal in enumerate(principals):
                gcp.storage.BucketIAMMember(
                    f"{name}-{purpose}-wi-{i}", bucket=bucket.name, role=BUCKET_ROLE, member=principal, opts=child
                )
            self.buckets[purpose] = bucket
            outputs[f"{purpose}_bucket"] = bucket.name
            outputs[f"{purpose}_url"] = bucket.name.apply(lambda b: f"gs://{b}")
        outputs["env"] = pulumi.Output.all(*[b.name for b in self.buckets.values()]).apply(
            lambda names: {**url_env(PURPOSES, [f"gs://{n}" for n in names]), "GOOGLE_CLOUD_PROJECT": config.project}
        )
        self.outputs = outputs
        self.register_outputs(outputs)


def _export(outputs: Mapping[str, Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)


def infra_program(plan: StackPlan, ctx: Any = None) -> Any:
    config = GkeConfig.from_dict(plan.config["cluster"])

    def program() -> None:
        _export(GkeCluster(COMPONENT_NAME, config).outputs)

    return program


def registry_program(plan: StackPlan, ctx: Any = None) -> Any:
    config = ArtifactConfig.from_dict(plan.config["registry"])
    infra_ref = plan.reads["infra"]

    def program() -> None:
        infra = pulumi.StackReference(infra_ref)
        repo = ArtifactRepository(
            COMPONENT_NAME, config, node_service_account=infra.require_output("node_service_account")
        )
        _export(repo.outputs)

    return program


def storage_program(plan: StackPlan, ctx: Any = None) -> Any:
    config = GcsConfig.from_dict(plan.config["storage"])

    def program() -> None:
        _export(GcsStorage(COMPONENT_NAME, config).outputs)

    return program
