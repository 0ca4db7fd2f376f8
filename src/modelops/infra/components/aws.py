"""The AWS stacks' components (pulumi-aws): the infra stack's VPC + EKS, the registry stack's ECR repositories and
the storage stack's S3 buckets with IRSA, and the three Pulumi programs the AWS provider's plans name.

Why pulumi-aws alone, not pulumi-eks: pulumi-eks is a multi-language component (a Node.js plugin behind a Python
facade). Its node groups, IAM roles and OIDC provider are created inside that plugin, so Pulumi's unit-test mocks see
one opaque resource and the tests here could not check a pool's labels, taints or the pull permission; it also
brings a second plugin and its own opinions (aws-auth ConfigMap, default node group). The EKS pieces it would save
are about 150 lines here, written against the resources AWS documents.

- ``EksCluster``: VPC (two public + two private subnets in two zones, one NAT gateway) or an existing VPC's
  subnets; cluster IAM role; EKS (API authentication, pinned minor version); node IAM role with ECR read-only; a
  fixed system node group, an autoscaling workload node group labelled ``modelops.io/role=cpu`` and one tainted
  node group per GPU worker group (tagged for the cluster autoscaler); the OIDC provider for IRSA; the EKS Pod
  Identity agent; the cluster autoscaler (pinned Helm chart, its role through Pod Identity, limited to this
  cluster's groups), since EKS node groups do not scale by themselves; the kubeconfig (``aws eks get-token``) as a
  secret output.
- ``EcrRegistry``: repositories under ``modelops-{env}-{user}/`` (scan on push, AES256), each with a repository
  policy letting the node role pull.
- ``S3Storage``: private buckets (all public access blocked, owner-enforced, SSE) for results, cache and bundles;
  one IAM role pods assume through IRSA or EKS Pod Identity (``default`` service account of the workspace's and the
  listed namespaces), allowed only those buckets. No keys exist to leak.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml

from modelops.core import naming_clouds
from modelops.infra.components.gpu_pool import GPU_ROLE, ROLE_LABEL
from modelops.infra.components.pools import PoolShape
from modelops.infra.plan import StackPlan

COMPONENT_NAME = "modelops"
PURPOSES = ("results", "cache", "bundles")
CLUSTER_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    # Pull from any ECR repository of the account (GetAuthorizationToken is account-wide); each ModelOps repository
    # also names the node role in its policy (EcrRegistry), so pulls keep working under a restrictive SCP.
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
ECR_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
S3_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
S3_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")
CPU_AMI = "AL2023_x86_64_STANDARD"
GPU_AMI = "AL2023_x86_64_NVIDIA"
POD_IDENTITY_ADDON = "eks-pod-identity-agent"
SERVICE_ACCOUNT = "default"  # the planes' pods run as their namespace's default service account
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# EKS node groups do not scale by themselves: the Kubernetes cluster autoscaler (its Helm chart, pinned) grows and
# shrinks them from pending pods, finding them by the tags EKS puts on a managed node group's Auto Scaling group.
AUTOSCALER_CHART = "cluster-autoscaler"
AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler"
AUTOSCALER_CHART_VERSION = "9.43.2"
AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_ACCOUNT = "cluster-autoscaler"
AUTOSCALER_READ_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
)
AUTOSCALER_WRITE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {"project": "modelops", "managedBy": "pulumi", **tags}


# --- pure pieces ----------------------------------------------------------------------------------------------------
def subnet_cidrs(vpc_cidr: str) -> tuple[list[str], list[str]]:
    """Two public and two private subnets carved from the VPC range (each 1/16 of it: a /20 of a /16)."""
    net = ipaddress.ip_network(vpc_cidr, strict=False)
    parts = [str(s) for s in net.subnets(prefixlen_diff=4)]
    return parts[:2], parts[2:4]


def assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def workload_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespaces: Sequence[str]) -> str:
    """Who may assume the storage role: pods of ``namespaces`` running as their ``default`` service account, through
    IRSA (the cluster's OIDC token, audience sts.amazonaws.com) or EKS Pod Identity (the association limits it)."""
    host = oidc_issuer.removeprefix("https://")
    subjects = [f"system:serviceaccount:{ns}:{SERVICE_ACCOUNT}" for ns in namespaces]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {f"{host}:aud": "sts.amazonaws.com"},
                        "StringLike": {f"{host}:sub": subjects},
                    },
                },
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "pods.eks.amazonaws.com"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                },
            ],
        }
    )


def bucket_access_policy(bucket_arns: Sequence[str]) -> str:
    """Read/write objects and list the given buckets; nothing else (no bucket deletion, no policy changes)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": list(S3_BUCKET_ACTIONS), "Resource": list(bucket_arns)},
                {"Effect": "Allow", "Action": list(S3_OBJECT_ACTIONS), "Resource": [f"{a}/*" for a in bucket_arns]},
            ],
        }
    )


def autoscaler_policy(cluster_name: str) -> str:
    """What the cluster autoscaler may do: read the groups and instance types (EKS node groups' labels and taints
    too, to scale a GPU group up from zero), and resize or shrink only the Auto Scaling groups of this cluster."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": list(AUTOSCALER_READ_ACTIONS), "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": list(AUTOSCALER_WRITE_ACTIONS),
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
                    },
                },
            ],
        }
    )


def autoscaler_values(cluster_name: str, region: str, kubernetes_version: str) -> dict[str, Any]:
    """The chart's values: discover this cluster's groups, run on the system pool, and the autoscaler release made
    for the cluster's Kubernetes minor (the project's compatibility rule). Its service account gets AWS credentials
    through EKS Pod Identity (an association, no annotation)."""
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"tag": f"v{kubernetes_version}.0"},
        "rbac": {"serviceAccount": {"create": True, "name": AUTOSCALER_ACCOUNT}},
        "extraArgs": {
            "balance-similar-node-groups": "true",
            "skip-nodes-with-system-pods": "false",
            "expander": "least-waste",
        },
        "nodeSelector": {"eks.amazonaws.com/nodegroup": "system"},
    }


def ecr_pull_policy(role_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ModelOpsNodesPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": role_arn},
                    "Action": list(ECR_PULL_ACTIONS),
                }
            ],
        }
    )


def eks_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str, profile: str | None = None) -> str:
    """A kubeconfig that authenticates with ``aws eks get-token`` (no token is stored in it)."""
    user: dict[str, Any] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    if profile:
        user["exec"]["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": cluster_name, "user": user}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def url_env(purposes: Sequence[str], urls: Sequence[str]) -> dict[str, str]:
    """The store's URLs as the environment variables runs read (MODELOPS_RESULTS_URL, ...)."""
    from modelops.infra.bindings import BUNDLES_URL_ENV, CACHE_URL_ENV, RESULTS_URL_ENV

    names = {"results": RESULTS_URL_ENV, "cache": CACHE_URL_ENV, "bundles": BUNDLES_URL_ENV}
    return {names[p]: u for p, u in zip(purposes, urls, strict=True)}


def taint_args(taint: str) -> dict[str, str]:
    """``key=value:NoSchedule`` as EKS wants it (``{key, value, effect: NO_SCHEDULE}``)."""
    kv, effect = taint.rsplit(":", 1)
    key, _, value = kv.partition("=")
    effect_name = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
    out = {"key": key, "effect": effect_name[effect]}
    if value:
        out["value"] = value
    return out


# --- configs (pure, built by the provider's compile) -------------------------------------------------------------
@dataclass(frozen=True)
class EksConfig:
    region: str
    cluster_name: str
    kubernetes_version: str
    system_pool: PoolShape
    workload_pool: PoolShape
    gpu_pools: tuple[PoolShape, ...] = ()
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    vpc_cidr: str = "10.0.0.0/16"
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    profile: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "system_pool": self.system_pool.to_dict(),
            "workload_pool": self.workload_pool.to_dict(),
            "gpu_pools": [p.to_dict() for p in self.gpu_pools],
            "subnet_ids": list(self.subnet_ids),
            "public_access_cidrs": list(self.public_access_cidrs),
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EksConfig:
        return cls(
            **{
                **data,
                "system_pool": PoolShape.from_dict(data["system_pool"]),
                "workload_pool": PoolShape.from_dict(data["workload_pool"]),
                "gpu_pools": tuple(PoolShape.from_dict(p) for p in data.get("gpu_pools", ())),
                "subnet_ids": tuple(data.get("subnet_ids", ())),
                "public_access_cidrs": tuple(data.get("public_access_cidrs", ("0.0.0.0/0",))),
                "tags": dict(data.get("tags") or {}),
            }
        )


@dataclass(frozen=True)
class EcrConfig:
    prefix: str
    repositories: tuple[str, ...] = ("modelops", "bundles")
    scan_on_push: bool = True
    tag_mutability: str = "IMMUTABLE"
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "repositories": list(self.repositories), "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EcrConfig:
        return cls(**{**data, "repositories": tuple(data["repositories"]), "tags": dict(data.get("tags") or {})})


@dataclass(frozen=True)
class S3Config:
    environment: str
    username: str
    region: str
    namespaces: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "namespaces": list(self.namespaces), "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> S3Config:
        return cls(**{**data, "namespaces": tuple(data["namespaces"]), "tags": dict(data.get("tags") or {})})


# --- components -----------------------------------------------------------------------------------------------------
class EksCluster(pulumi.ComponentResource):
    """VPC (or existing subnets) + EKS + node groups + OIDC provider. Outputs: ``kubeconfig`` (secret),
    ``cluster_name``, ``region``, ``endpoint``, ``vpc_id``, ``node_role_arn``, ``oidc_provider_arn``,
    ``oidc_issuer``."""

    def __init__(self, name: str, config: EksConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelops:aws:EksCluster", name, None, opts)
        import pulumi_aws as aws

        child = pulumi.ResourceOptions(parent=self)
        tags = _tags(config.tags)
        cluster_tag = {f"kubernetes.io/cluster/{config.cluster_name}": "shared"}
        if config.vpc_id:
            vpc_id: pulumi.Input[str] = config.vpc_id
            node_subnets: list[pulumi.Input[str]] = list(config.subnet_ids)
            cluster_subnets = node_subnets
        else:
            vpc_id, cluster_subnets, node_subnets = self._network(name, config, tags, cluster_tag, child)

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            name=naming_clouds.iam_role_name(config.cluster_name, "cluster"),
            assume_role_policy=assume_role_policy("eks.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-cluster-policy-{i}", role=cluster_role.name, policy_arn=arn, opts=child
            )
            for i, arn in enumerate(CLUSTER_POLICIES)
        ]
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=config.cluster_name,
            version=config.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=cluster_subnets,
                endpoint_public_access=True,
                endpoint_private_access=True,
                public_access_cidrs=list(config.public_access_cidrs),
            ),
            # Access entries (the EKS API), with the creator as admin: no aws-auth ConfigMap to hand-edit.
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        node_role = aws.iam.Role(
            f"{name}-node-role",
            name=naming_clouds.iam_role_name(config.cluster_name, "node"),
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        node_attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-policy-{i}", role=node_role.name, policy_arn=arn, opts=child)
            for i, arn in enumerate(NODE_POLICIES)
        ]
        self.node_groups: dict[str, Any] = {}
        for shape in (config.system_pool, config.workload_pool, *config.gpu_pools):
            self.node_groups[shape.name] = self._node_group(
                name, config, shape, cluster, node_role, node_subnets, tags, node_attachments
            )
        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer if ids and ids[0].oidcs else "")
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], tags=tags, opts=child
        )
        # EKS Pod Identity: lets the storage role reach pods of unmodified manifests (no service-account annotation).
        pod_identity = aws.eks.Addon(
            f"{name}-pod-identity",
            cluster_name=cluster.name,
            addon_name=POD_IDENTITY_ADDON,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.node_groups.values())),
        )
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority).apply(
                lambda v: eks_kubeconfig(v[0], v[1], _ca_data(v[2]), config.region, config.profile)
            )
        )
        self.autoscaler = self._autoscaler(name, config, cluster, tags, [pod_identity, *self.node_groups.values()])
        self.cluster_name: pulumi.Output[str] = cluster.name
        self.endpoint: pulumi.Output[str] = cluster.endpoint
        self.vpc_id: pulumi.Output[str] = pulumi.Output.from_input(vpc_id)
        self.node_role_arn: pulumi.Output[str] = node_role.arn
        self.oidc_provider_arn: pulumi.Output[str] = oidc.arn
        self.oidc_issuer: pulumi.Output[str] = issuer
        self.outputs: dict[str, Any] = {
            "kubeconfig": self.kubeconfig,
            "cluster_name": self.cluster_name,
            "region": config.region,
            "endpoint": self.endpoint,
            "vpc_id": self.vpc_id,
            "node_role_arn": self.node_role_arn,
            "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_issuer": self.oidc_issuer,
            "kubernetes_version": config.kubernetes_version,
        }
        self.register_outputs(self.outputs)

    def _autoscaler(self, name: str, config: EksConfig, cluster: Any, tags: dict[str, str], after: list[Any]) -> Any:
        """The cluster autoscaler: its role (assumed through EKS Pod Identity, limited to this cluster's groups),
        the association with its service account, and the pinned Helm chart applied with the cluster's kubeconfig."""
        import pulumi_aws as aws
        import pulumi_kubernetes as k8s

        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-autoscaler-role",
            name=naming_clouds.iam_role_name(config.cluster_name, "autoscaler"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "pods.eks.amazonaws.com"},
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-autoscaler-policy", role=role.id, policy=autoscaler_policy(config.cluster_name), opts=child
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-autoscaler-identity",
            cluster_name=cluster.name,
            namespace=AUTOSCALER_NAMESPACE,
            service_account=AUTOSCALER_ACCOUNT,
            role_arn=role.arn,
            tags=tags,
            opts=child,
        )
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child)
        return k8s.helm.v3.Release(
            f"{name}-autoscaler",
            name=AUTOSCALER_CHART,
            chart=AUTOSCALER_CHART,
            version=AUTOSCALER_CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=AUTOSCALER_REPO),
            namespace=AUTOSCALER_NAMESPACE,
            values=autoscaler_values(config.cluster_name, config.region, config.kubernetes_version),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[*after, policy, association]),
        )

    def _network(
        self,
        name: str,
        config: EksConfig,
        tags: dict[str, str],
        cluster_tag: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], list[pulumi.Output[str]], list[pulumi.Output[str]]]:
        """A new VPC: public subnets (load balancers, the NAT gateway) and private subnets (nodes), two zones."""
        import pulumi_aws as aws

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": config.cluster_name},
            opts=child,
        )
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tags,
            opts=child,
        )
        public_cidrs, private_cidrs = subnet_cidrs(config.vpc_cidr)
        public, private = [], []
        for i, cidr in enumerate(public_cidrs):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones.names.apply(lambda n, i=i: n[i]),
                map_public_ip_on_launch=False,
                tags={**tags, **cluster_tag, "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}-rt", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child
            )
            public.append(subnet)
        eip = aws.ec2.Eip(f"{name}-nat-ip", domain="vpc", tags=tags, opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=eip.id,
            subnet_id=public[0].id,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )
        private_rt = aws.ec2.RouteTable(
            f"{name}-private-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags=tags,
            opts=child,
        )
        for i, cidr in enumerate(private_cidrs):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones.names.apply(lambda n, i=i: n[i]),
                tags={**tags, **cluster_tag, "kubernetes.io/role/internal-elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}-rt", subnet_id=subnet.id, route_table_id=private_rt.id, opts=child
            )
            private.append(subnet)
        return vpc.id, [s.id for s in public + private], [s.id for s in private]

    def _node_group(
        self,
        name: str,
        config: EksConfig,
        shape: PoolShape,
        cluster: Any,
        node_role: Any,
        subnets: list[pulumi.Input[str]],
        tags: dict[str, str],
        attachments: list[Any],
    ) -> Any:
        import pulumi_aws as aws

        fixed = shape.mode == "System"
        low = shape.count if fixed else (shape.min or 0)
        high = shape.count if fixed else (shape.max or 1)
        group_tags = dict(tags)
        if not fixed:  # discovery tags of the cluster autoscaler (EKS node groups do not scale by themselves)
            group_tags["k8s.io/cluster-autoscaler/enabled"] = "true"
            group_tags[f"k8s.io/cluster-autoscaler/{config.cluster_name}"] = "owned"
        gpu = shape.labels.get(ROLE_LABEL) == GPU_ROLE
        return aws.eks.NodeGroup(
            f"{name}-ng-{shape.name}",
            cluster_name=cluster.name,
            node_group_name=shape.name,
            node_role_arn=node_role.arn,
            subnet_ids=subnets,
            instance_types=[shape.vm_size],
            ami_type=GPU_AMI if gpu else CPU_AMI,
            version=config.kubernetes_version,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                desired_size=max(low or 0, 0), min_size=low, max_size=high
            ),
            labels=dict(shape.labels) or None,
            taints=[aws.eks.NodeGroupTaintArgs(**taint_args(t)) for t in shape.taints] or None,
            tags=group_tags,
            # The autoscaler owns the desired size once the group exists; an `up` must not reset it.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"]
            ),
        )


def _ca_data(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("data") or "")
    return str(getattr(value, "data", "") or "")


class EcrRegistry(pulumi.ComponentResource):
    """ECR repositories the nodes may pull from. Outputs: ``login_server``, ``registry_name`` (the prefix),
    ``registry_id`` (the account), ``repository_urls``, ``requires_auth`` (False: the node role may pull)."""

    def __init__(
        self,
        name: str,
        config: EcrConfig,
        *,
        node_role_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("modelops:aws:EcrRegistry", name, None, opts)
        import pulumi_aws as aws

        child = pulumi.ResourceOptions(parent=self)
        self.repositories: dict[str, Any] = {}
        for repo in config.repositories:
            repository = aws.ecr.Repository(
                f"{name}-repo-{repo}",
                name=naming_clouds.ecr_repository_name(config.prefix, repo),
                image_tag_mutability=config.tag_mutability,
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=config.scan_on_push
                ),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                force_delete=True,  # `mops registry destroy` asks first, then deletes the images (as on Azure)
                tags=_tags(config.tags),
                opts=child,
            )
            aws.ecr.RepositoryPolicy(
                f"{name}-pull-{repo}",
                repository=repository.name,
                policy=pulumi.Output.from_input(node_role_arn).apply(ecr_pull_policy),
                opts=child,
            )
            self.repositories[repo] = repository
        first = next(iter(self.repositories.values()))
        self.login_server: pulumi.Output[str] = first.repository_url.apply(lambda url: url.split("/", 1)[0])
        self.registry_id: pulumi.Output[str] = first.registry_id
        self.repository_urls = pulumi.Output.all(*[r.repository_url for r in self.repositories.values()]).apply(
            lambda urls: dict(zip(self.repositories, urls, strict=True))
        )
        self.outputs: dict[str, Any] = {
            "login_server": self.login_server,
            "registry_name": config.prefix,
            "registry_id": self.registry_id,
            "repository_urls": self.repository_urls,
            "requires_auth": False,
        }
        self.register_outputs(self.outputs)


class S3Storage(pulumi.ComponentResource):
    """Private buckets + the role pods use. Outputs: ``{purpose}_bucket``, ``{purpose}_url`` (s3://),
    ``region``, ``role_arn``, ``service_account_annotations`` (for IRSA)."""

    def __init__(
        self,
        name: str,
        config: S3Config,
        *,
        cluster_name: pulumi.Input[str],
        oidc_provider_arn: pulumi.Input[str],
        oidc_issuer: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("modelops:aws:S3Storage", name, None, opts)
        import pulumi_aws as aws
        import pulumi_random

        child = pulumi.ResourceOptions(parent=self)
        tags = _tags(config.tags)
        suffix = pulumi_random.RandomString(
            f"{name}-suffix", length=8, special=False, upper=False, lower=True, numeric=True, opts=child
        )
        self.buckets: dict[str, Any] = {}
        for purpose in PURPOSES:
            bucket = aws.s3.Bucket(
                f"{name}-{purpose}",
                bucket=suffix.result.apply(
                    lambda s, p=purpose: naming_clouds.bucket_name(config.environment, config.username, p, s)
                ),
                # `mops storage down` asks first, then deletes the data with the buckets (as on Azure).
                force_destroy=True,
                tags=tags,
                opts=child,
            )
            aws.s3.BucketPublicAccessBlock(
                f"{name}-{purpose}-private",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            )
            aws.s3.BucketOwnershipControls(
                f"{name}-{purpose}-owner",
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=child,
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-{purpose}-sse",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        ),
                        bucket_key_enabled=True,
                    )
                ],
                opts=child,
            )
            self.buckets[purpose] = bucket
        role = aws.iam.Role(
            f"{name}-pods-role",
            assume_role_policy=pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
                lambda v: workload_trust_policy(v[0], v[1], config.namespaces)
            ),
            tags=tags,
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-pods-buckets",
            role=role.id,
            policy=pulumi.Output.all(*[b.arn for b in self.buckets.values()]).apply(bucket_access_policy),
            opts=child,
        )
        self.associations = [
            aws.eks.PodIdentityAssociation(
                f"{name}-pod-identity-{ns}",
                cluster_name=cluster_name,
                namespace=ns,
                service_account=SERVICE_ACCOUNT,
                role_arn=role.arn,
                tags=tags,
                opts=child,
            )
            for ns in config.namespaces
        ]
        self.role_arn: pulumi.Output[str] = role.arn
        outputs: dict[str, Any] = {
            "region": config.region,
            "role_arn": role.arn,
            "service_account_annotations": role.arn.apply(lambda arn: {IRSA_ANNOTATION: arn}),
        }
        for purpose, bucket in self.buckets.items():
            outputs[f"{purpose}_bucket"] = bucket.bucket
            outputs[f"{purpose}_url"] = bucket.bucket.apply(lambda b: f"s3://{b}")
        outputs["env"] = pulumi.Output.all(*[b.bucket for b in self.buckets.values()]).apply(
            lambda names: {**url_env(PURPOSES, [f"s3://{n}" for n in names]), "AWS_REGION": config.region}
        )
        self.outputs = outputs
        self.register_outputs(outputs)


# --- programs (named by the AWS provider's stack plans) -------------------------------------------------------------
def _export(outputs: Mapping[str, Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)


def infra_program(plan: StackPlan, ctx: Any = None) -> Any:
    config = EksConfig.from_dict(plan.config["cluster"])

    def program() -> None:
        _export(EksCluster(COMPONENT_NAME, config).outputs)

    return program


def registry_program(plan: StackPlan, ctx: Any = None) -> Any:
    config = EcrConfig.from_dict(plan.config["registry"])
    infra_ref = plan.reads["infra"]

    def program() -> None:
        infra = pulumi.StackReference(infra_ref)
        _export(EcrRegistry(COMPONENT_NAME, config, node_role_arn=infra.require_output("node_role_arn")).outputs)

    return program


def storage_program(plan: StackPlan, ctx: Any = None) -> Any:
    config = S3Config.from_dict(plan.config["storage"])
    infra_ref = plan.reads["infra"]

    def program() -> None:
        infra = pulumi.StackReference(infra_ref)
        store = S3Storage(
            COMPONENT_NAME,
            config,
            cluster_name=infra.require_output("cluster_name"),
            oidc_provider_arn=infra.require_output("oidc_provider_arn"),
            oidc_issuer=infra.require_output("oidc_issuer"),
        )
        _export(store.outputs)

    return program
