"""Provider configs for AWS (EKS) and Google Cloud (GKE): the same shape as Azure's (a cluster with a system pool
and an autoscaling workload pool, a registry, object storage), in each cloud's own words. Every key is commented in
examples/providers/aws.yaml and gcp.yaml.

Shared rules (labels, taints, pool bounds, the reserved ``modelops.io/role`` label) are the Azure config's, imported
from ``modelops.specs.provider``; nothing here is Azure-specific.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from modelops.core import naming, naming_clouds
from modelops.specs.base import SpecModel

ROLE_LABEL = "modelops.io/role"
# The EKS/GKE minor version new configs are pinned to; both clouds patch within a minor themselves.
PINNED_EKS_VERSION = "1.33"
PINNED_GKE_VERSION = "1.33"
EKS_VERSION_RULE = re.compile(r"^\d+\.\d+$")
# GKE takes a minor ("1.33") or an exact GKE version ("1.33.2-gke.1240000").
GKE_VERSION_RULE = re.compile(r"^\d+\.\d+(\.\d+-gke\.\d+)?$")
AWS_REGION_RULE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
AWS_ACCOUNT_RULE = re.compile(r"^\d{12}$")
INSTANCE_TYPE_RULE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
VPC_ID_RULE = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID_RULE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
CIDR_RULE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")
GCP_PROJECT_RULE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
GCP_REGION_RULE = re.compile(r"^[a-z]+-[a-z]+\d$")
GCP_ZONE_RULE = re.compile(r"^[a-z]+-[a-z]+\d-[a-z]$")
MACHINE_TYPE_RULE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")
GCP_LABEL_RULE = re.compile(r"^[a-z][-_a-z0-9]{0,62}$")
GCP_LABEL_VALUE_RULE = re.compile(r"^[-_a-z0-9]{0,63}$")
NAMESPACE_RULE = naming.DNS_LABEL_RULE


def _labels(value: dict[str, str]) -> dict[str, str]:
    from modelops.specs.provider import check_labels

    if ROLE_LABEL in value:
        raise ValueError(f"{ROLE_LABEL} is set by ModelOps (cpu for the workload pool); remove it from labels")
    return check_labels(value)


def _taints(value: list[str]) -> list[str]:
    from modelops.specs.provider import check_taints

    return check_taints(value)


def _namespaces(value: list[str]) -> list[str]:
    for ns in value:
        if not NAMESPACE_RULE.match(ns):
            raise ValueError(f"namespace {ns!r} is not a Kubernetes namespace name (lowercase letters, digits, '-')")
    return value


def _bounds(pool: AwsWorkloadPoolSpec | GkeWorkloadPoolSpec) -> None:
    if pool.min > pool.max:
        raise ValueError(f"min ({pool.min}) must not exceed max ({pool.max}); the autoscaler needs min <= max")


# --- AWS ------------------------------------------------------------------------------------------------------------
def _instance_type(value: str) -> str:
    if not INSTANCE_TYPE_RULE.match(value):
        raise ValueError(
            f"{value!r} is not an EC2 instance type; use a name like m6i.xlarge "
            "(list them with `aws ec2 describe-instance-types --query 'InstanceTypes[].InstanceType'`)"
        )
    return value


class AwsSystemPoolSpec(SpecModel):
    """The fixed-size node group for Kubernetes' own add-ons (CoreDNS, the VPC CNI, kube-proxy)."""

    instance_type: str = "t3.large"
    count: int = Field(1, ge=1, le=10)

    _it = field_validator("instance_type")(classmethod(lambda cls, v: _instance_type(v)))


class AwsWorkloadPoolSpec(SpecModel):
    """The autoscaling node group where Dask workers and runners run (labelled ``modelops.io/role=cpu``)."""

    instance_type: str = "m6i.xlarge"
    min: int = Field(0, ge=0, le=1000)
    max: int = Field(5, ge=1, le=1000)

    _it = field_validator("instance_type")(classmethod(lambda cls, v: _instance_type(v)))

    @model_validator(mode="after")
    def _check(self) -> AwsWorkloadPoolSpec:
        _bounds(self)
        return self


class EksSpec(SpecModel):
    name: str | None = None
    version: str = PINNED_EKS_VERSION
    system_pool: AwsSystemPoolSpec = AwsSystemPoolSpec()
    workload_pool: AwsWorkloadPoolSpec = AwsWorkloadPoolSpec()
    labels: dict[str, str] = {}
    taints: list[str] = []
    # Who may reach the API server: the public endpoint from these CIDRs (default: anywhere, authenticated by IAM).
    public_access_cidrs: list[str] = ["0.0.0.0/0"]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not naming_clouds.EKS_CLUSTER_RULE.match(value):
            raise ValueError(
                f"EKS name {value!r} is not valid: 1-100 letters, digits, '-' and '_', starting with a letter or "
                "digit (or remove it to use modelops-{env}-eks-{user})"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not EKS_VERSION_RULE.match(str(value)):
            raise ValueError(
                f"EKS version {value!r} must be major.minor (e.g. {PINNED_EKS_VERSION}); AWS applies patches "
                "itself. `aws eks describe-cluster-versions` lists what is offered"
            )
        return str(value)

    _l = field_validator("labels")(classmethod(lambda cls, v: _labels(v)))
    _t = field_validator("taints")(classmethod(lambda cls, v: _taints(v)))

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not CIDR_RULE.match(c)]
        if bad or not value:
            raise ValueError(f"public_access_cidrs must be CIDR blocks like 203.0.113.0/24 (bad: {bad or 'none'})")
        return value


class VpcSpec(SpecModel):
    """A new VPC (``cidr``; two public and two private subnets in two zones, one NAT gateway), or an existing one
    (``id`` with at least two private ``subnet_ids`` in different zones that reach the internet)."""

    id: str | None = None
    subnet_ids: list[str] = []
    cidr: str = "10.0.0.0/16"

    @model_validator(mode="after")
    def _check(self) -> VpcSpec:
        if self.id is not None and not VPC_ID_RULE.match(self.id):
            raise ValueError(f"vpc id {self.id!r} is not a VPC id (vpc-0123abcd...)")
        bad = [s for s in self.subnet_ids if not SUBNET_ID_RULE.match(s)]
        if bad:
            raise ValueError(f"subnet ids {bad} are not subnet ids (subnet-0123abcd...)")
        if self.id is not None and len(self.subnet_ids) < 2:
            raise ValueError("an existing vpc needs subnet_ids: at least two subnets in different availability zones")
        if self.id is None and self.subnet_ids:
            raise ValueError("subnet_ids apply to an existing vpc: set vpc.id too, or remove them for a new VPC")
        if not CIDR_RULE.match(self.cidr):
            raise ValueError(f"vpc cidr {self.cidr!r} is not a CIDR block (e.g. 10.0.0.0/16)")
        return self


class EcrSpec(SpecModel):
    enabled: bool = True
    # Repositories created under modelops-{env}-{user}/ (ECR does not create them on push).
    repositories: list[str] = ["modelops", "bundles"]
    scan_on_push: bool = True
    # IMMUTABLE refuses to overwrite a tag (safer: bundles are addressed by digest anyway); MUTABLE allows it.
    tag_mutability: Literal["MUTABLE", "IMMUTABLE"] = "IMMUTABLE"

    @field_validator("repositories")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        for repo in value:
            if not naming_clouds.ECR_REPOSITORY_RULE.match(repo) or "/" in repo:
                raise ValueError(f"repository {repo!r}: use lowercase letters, digits and single '-', '_' or '.'")
        if len(set(value)) != len(value):
            raise ValueError("repositories are listed twice")
        return value


class ObjectStorageSpec(SpecModel):
    """Buckets for results, the simulation cache and bundles, reachable by pods through the cloud's workload
    identity (no keys). ``namespaces``: Kubernetes namespaces whose pods may use them besides the workspace's
    (``modelops-{env}``), e.g. an adaptive run's ``modelops-{run}``."""

    enabled: bool = True
    namespaces: list[str] = []
    # Keep object versions for this many days after they are overwritten or deleted (0: no versioning).
    noncurrent_days: int = Field(0, ge=0, le=3650)

    _ns = field_validator("namespaces")(classmethod(lambda cls, v: _namespaces(v)))


class AwsAuthSpec(SpecModel):
    """How Pulumi and the checks reach AWS: the standard credential chain (environment, SSO, ~/.aws), optionally a
    named profile. Keys never go in this file."""

    profile: str | None = None


class AwsProviderSpec(SpecModel):
    """AWS from zero: a VPC (or an existing one), EKS, ECR repositories and S3 buckets with IRSA."""

    provider: Literal["aws"] = "aws"
    region: str
    # When set, `mops infra up` refuses to run against another account (a guard against the wrong profile).
    account_id: str | None = None
    username: str | None = None
    vpc: VpcSpec = VpcSpec()
    eks: EksSpec = EksSpec()
    ecr: EcrSpec = EcrSpec()
    storage: ObjectStorageSpec = ObjectStorageSpec()
    auth: AwsAuthSpec = AwsAuthSpec()
    tags: dict[str, str] = {}

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not AWS_REGION_RULE.match(value):
            raise ValueError(f"region {value!r} is not an AWS region name (e.g. us-east-1, eu-west-1)")
        return value

    @field_validator("account_id", mode="before")
    @classmethod
    def _account(cls, value: object) -> object:
        if value is not None and not AWS_ACCOUNT_RULE.match(str(value)):
            raise ValueError(
                f"account_id {value!r} must be the 12-digit AWS account id, quoted in YAML "
                "(`aws sts get-caller-identity --query Account`)"
            )
        return None if value is None else str(value)


# --- GCP ------------------------------------------------------------------------------------------------------------
def _machine_type(value: str) -> str:
    if not MACHINE_TYPE_RULE.match(value):
        raise ValueError(
            f"{value!r} is not a Compute Engine machine type; use a name like e2-standard-4 "
            "(`gcloud compute machine-types list --zones ZONE`)"
        )
    return value


class GkeSystemPoolSpec(SpecModel):
    machine_type: str = "e2-standard-2"
    count: int = Field(1, ge=1, le=10)

    _mt = field_validator("machine_type")(classmethod(lambda cls, v: _machine_type(v)))


class GkeWorkloadPoolSpec(SpecModel):
    machine_type: str = "e2-standard-4"
    min: int = Field(0, ge=0, le=1000)
    max: int = Field(5, ge=1, le=1000)

    _mt = field_validator("machine_type")(classmethod(lambda cls, v: _machine_type(v)))

    @model_validator(mode="after")
    def _check(self) -> GkeWorkloadPoolSpec:
        _bounds(self)
        return self


class GkeSpec(SpecModel):
    name: str | None = None
    version: str = PINNED_GKE_VERSION
    system_pool: GkeSystemPoolSpec = GkeSystemPoolSpec()
    workload_pool: GkeWorkloadPoolSpec = GkeWorkloadPoolSpec()
    labels: dict[str, str] = {}
    taints: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not naming_clouds.GKE_NAME_RULE.match(value):
            raise ValueError(
                f"GKE name {value!r} is not valid: 1-40 lowercase letters, digits and '-', starting with a letter "
                "(or remove it to use modelops-{env}-gke-{user})"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not GKE_VERSION_RULE.match(str(value)):
            raise ValueError(
                f"GKE version {value!r} must be a minor (e.g. {PINNED_GKE_VERSION}) or an exact GKE version "
                "(e.g. 1.33.2-gke.1240000); `gcloud container get-server-config` lists them"
            )
        return str(value)

    _l = field_validator("labels")(classmethod(lambda cls, v: _labels(v)))
    _t = field_validator("taints")(classmethod(lambda cls, v: _taints(v)))


class GcpNetworkSpec(SpecModel):
    """The VPC network's one subnetwork and its secondary ranges for pods and services (VPC-native cluster)."""

    cidr: str = "10.0.0.0/20"
    pods_cidr: str = "10.4.0.0/14"
    services_cidr: str = "10.8.0.0/20"

    @model_validator(mode="after")
    def _check(self) -> GcpNetworkSpec:
        for key in ("cidr", "pods_cidr", "services_cidr"):
            if not CIDR_RULE.match(getattr(self, key)):
                raise ValueError(f"network.{key} {getattr(self, key)!r} is not a CIDR block (e.g. 10.0.0.0/20)")
        return self


class ArtifactRegistrySpec(SpecModel):
    enabled: bool = True
    name: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not naming_clouds.GCP_RESOURCE_RULE.match(value):
            raise ValueError(
                f"repository name {value!r}: 1-63 lowercase letters, digits and '-', starting with a letter "
                "(or remove it to use modelops-{env}-{user})"
            )
        return value


class GcpProviderSpec(SpecModel):
    """Google Cloud from zero: a VPC network, GKE Standard, an Artifact Registry repository and GCS buckets with
    Workload Identity."""

    provider: Literal["gcp"] = "gcp"
    project: str
    region: str
    # A zone makes a zonal cluster (one zone, cheaper); without it the cluster is regional (three zones).
    zone: str | None = None
    username: str | None = None
    gke: GkeSpec = GkeSpec()
    network: GcpNetworkSpec = GcpNetworkSpec()
    artifact_registry: ArtifactRegistrySpec = ArtifactRegistrySpec()
    storage: ObjectStorageSpec = ObjectStorageSpec()
    labels: dict[str, str] = {}

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not GCP_PROJECT_RULE.match(value):
            raise ValueError(
                f"project {value!r} is not a project id (6-30 lowercase letters, digits and '-'); "
                "`gcloud projects list` shows yours"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not GCP_REGION_RULE.match(value):
            raise ValueError(f"region {value!r} is not a Google Cloud region (e.g. europe-west4, us-central1)")
        return value

    @model_validator(mode="after")
    def _zone(self) -> GcpProviderSpec:
        if self.zone is not None and not (GCP_ZONE_RULE.match(self.zone) and self.zone.startswith(self.region + "-")):
            raise ValueError(f"zone {self.zone!r} must be a zone of region {self.region} (e.g. {self.region}-a)")
        return self

    @field_validator("labels")
    @classmethod
    def _gcp_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not GCP_LABEL_RULE.match(key) or not GCP_LABEL_VALUE_RULE.match(val):
                raise ValueError(
                    f"label {key}={val!r}: Google Cloud labels are lowercase letters, digits, '-' and '_' "
                    "(keys start with a letter), at most 63 characters"
                )
        return value
