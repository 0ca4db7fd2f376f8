"""The AWS provider: VPC + EKS (infra stack), ECR repositories (registry stack), S3 buckets with IRSA / EKS Pod
Identity (storage stack). Plans are pure (built from a provider config); ``check_login`` asks AWS STS who the
credentials belong to, with bounded timeouts.

    cloud = AwsCloud(load_provider("examples/providers/aws.yaml"))
    plan = cloud.infra_stack("dev", "alice")          # StackPlan naming components.aws:infra_program
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelops.core import naming, naming_clouds
from modelops.infra import automation
from modelops.infra.components.aws import EcrConfig, EksConfig, S3Config
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
from modelops.specs.provider_clouds import ROLE_LABEL, AwsProviderSpec
from modelops.specs.runtime import WorkerPool

if TYPE_CHECKING:
    from modelops.infra.doctor import Check
    from modelops.specs.config import GlobalConfig

# GPU model -> the smallest EC2 instance type carrying one (NVIDIA AMI; EKS installs no driver on others).
GPU_INSTANCE_TYPES = {
    "T4": "g4dn.xlarge",
    "A10": "g5.xlarge",
    "A10G": "g5.xlarge",
    "L4": "g6.xlarge",
    "V100": "p3.2xlarge",
    "A100": "p4d.24xlarge",
    "H100": "p5.48xlarge",
}
PROGRAMS = "modelops.infra.components.aws"
PLUGINS = ("aws", "random", "kubernetes")  # kubernetes: the cluster autoscaler's Helm release
TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15, "retries": {"max_attempts": 2}}
LOGIN_HINT = (
    "log in with `aws sso login` (or `aws configure`), or export AWS_PROFILE / AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY; then check with `mops infra doctor`"
)


def stack_config(spec: AwsProviderSpec) -> dict[str, str]:
    """The aws provider's stack settings (no secrets: credentials come from the standard AWS chain)."""
    config = {"aws:region": spec.region}
    if spec.auth.profile:
        config["aws:profile"] = spec.auth.profile
    return config


def cluster_config(
    spec: AwsProviderSpec,
    environment: str,
    username: str,
    worker_groups: Mapping[str, WorkerPool] | None = None,
    problems: Problems | None = None,
) -> EksConfig:
    problems = problems if problems is not None else []
    low, high = workload_bounds(spec.eks.workload_pool.min, spec.eks.workload_pool.max, worker_groups)
    gpus = [
        gpu_pool_shape(
            name,
            index,
            vm_size=instance,
            min_nodes=group.min,
            max_nodes=group.max,
            count=group.gpu.count if group.gpu else 1,
        )
        for index, name, group, instance in gpu_groups(worker_groups, problems, GPU_INSTANCE_TYPES, "aws")
    ]
    return EksConfig(
        region=spec.region,
        cluster_name=spec.eks.name or naming_clouds.eks_cluster_name(environment, username),
        kubernetes_version=spec.eks.version,
        system_pool=PoolShape(
            name=naming.node_pool_name("system"),
            vm_size=spec.eks.system_pool.instance_type,
            mode="System",
            count=spec.eks.system_pool.count,
        ),
        workload_pool=PoolShape(
            name=naming.node_pool_name("workcpu"),
            vm_size=spec.eks.workload_pool.instance_type,
            min=low,
            max=high,
            labels={**spec.eks.labels, ROLE_LABEL: "cpu"},
            taints=tuple(spec.eks.taints),
        ),
        gpu_pools=tuple(gpus),
        vpc_id=spec.vpc.id,
        subnet_ids=tuple(spec.vpc.subnet_ids),
        vpc_cidr=spec.vpc.cidr,
        public_access_cidrs=tuple(spec.eks.public_access_cidrs),
        profile=spec.auth.profile,
        tags={"env": environment, "owner": naming.user_slug(username), **spec.tags},
    )


def _plan(component: str, environment: str, config: dict[str, Any], spec: AwsProviderSpec, **kw: Any) -> StackPlan:
    return cloud_stack_plan(
        component, environment, config, stack_config=stack_config(spec), programs=PROGRAMS, plugins=PLUGINS, **kw
    )


@dataclass(frozen=True)
class AwsCloud:
    """CloudProvider for ``provider: aws``."""

    spec: AwsProviderSpec
    name: str = "aws"

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
        return self.spec.ecr.enabled and bool(self.spec.ecr.repositories)

    def registry_stack(self, environment: str, username: str, organization: str | None) -> StackPlan:
        ecr = self.spec.ecr
        if not ecr.enabled or not ecr.repositories:
            raise SpecError("provider config", [("ecr.enabled", "no registry is configured; set ecr.enabled: true")])
        config = EcrConfig(
            prefix=naming_clouds.ecr_repository_prefix(environment, username),
            repositories=tuple(ecr.repositories),
            scan_on_push=ecr.scan_on_push,
            tag_mutability=ecr.tag_mutability,
            tags={"env": environment, **self.spec.tags},
        )
        reads = {"infra": naming.stack_reference("infra", environment, organization=organization)}
        return _plan("registry", environment, {"registry": config.to_dict()}, self.spec, reads=reads)

    def storage_stack(self, environment: str, username: str, organization: str | None) -> StackPlan:
        if not self.spec.storage.enabled:
            raise SpecError("provider config", [("storage.enabled", "storage is disabled; set storage.enabled: true")])
        namespaces = dict.fromkeys([naming.workspace_namespace(environment), *self.spec.storage.namespaces])
        config = S3Config(
            environment=environment,
            username=username,
            region=self.spec.region,
            namespaces=tuple(namespaces),
            tags={"env": environment, **self.spec.tags},
        )
        reads = {"infra": naming.stack_reference("infra", environment, organization=organization)}
        return _plan("storage", environment, {"storage": config.to_dict()}, self.spec, reads=reads)

    def check_login(self) -> str | None:
        require_extra("pulumi_aws", "aws", "aws")
        identity = caller_identity(self.spec)
        return f"{identity['Arn']} (account {identity['Account']})"

    def prepare(self, ctx: automation.PulumiContext, stack: StackPlan, note: Note | None = None) -> dict[str, Any]:
        return {}  # no secret settings: Pulumi's aws provider reads the same credential chain as check_login

    def describe(self, stack: StackPlan) -> str:
        if stack.component == "infra":
            c = stack.config["cluster"]
            vpc = f"VPC {c['vpc_id']}" if c.get("vpc_id") else f"a new VPC {c['vpc_cidr']}"
            return f"bringing up {c['cluster_name']} (EKS {c['kubernetes_version']}) in {vpc} / {c['region']}"
        return f"bringing up the {stack.component} stack in {self.spec.region}"

    def after_up(self, stack: StackPlan, outputs: Mapping[str, Any]) -> str | None:
        if stack.component == "registry":
            server = outputs.get("login_server", "<login server>")
            return (
                f"push with: aws ecr get-login-password --region {self.spec.region} | docker login --username AWS "
                f"--password-stdin {server}"
            )
        return None

    def doctor(self, config: GlobalConfig) -> list[Check]:
        from modelops.infra.doctor import Check

        checks: list[Check] = []
        try:
            checks.append(Check("aws login", "ok", self.check_login() or ""))
        except automation.InfraError as exc:
            checks.append(Check("aws login", "fail", exc.message, exc.hint))
            checks.append(Check("eks version", "warn", f"{self.spec.eks.version}: not checked (needs AWS access)"))
            return checks
        try:
            offered = eks_versions(self.spec)
        except automation.InfraError as exc:
            checks.append(Check("eks version", "warn", f"{self.spec.eks.version}: not checked ({exc.message})"))
            return checks
        if self.spec.eks.version in offered:
            checks.append(Check("eks version", "ok", f"{self.spec.eks.version} is offered in {self.spec.region}"))
        else:
            checks.append(
                Check(
                    "eks version",
                    "fail",
                    f"{self.spec.eks.version} is not offered in {self.spec.region} (offered: {', '.join(offered)})",
                    "set eks.version to one of the listed versions",
                )
            )
        return checks


def _client(spec: AwsProviderSpec, service: str) -> Any:
    """A botocore client with bounded timeouts; CloudLoginMissing when there are no credentials at all."""
    import botocore.exceptions
    import botocore.session
    from botocore.config import Config

    try:
        session = botocore.session.Session(profile=spec.auth.profile)
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise CloudLoginMissing(
            f"the AWS profile {spec.auth.profile!r} (auth.profile) does not exist",
            hint=f"create it with `aws configure sso --profile {spec.auth.profile}`, or fix auth.profile",
        ) from None
    except botocore.exceptions.BotoCoreError as exc:  # e.g. an expired SSO token
        raise CloudLoginMissing(f"the AWS credentials could not be loaded ({exc})", hint=LOGIN_HINT) from None
    if credentials is None:
        raise CloudLoginMissing(
            "no AWS credentials found (environment, shared credentials/config files, SSO, instance role)",
            hint=LOGIN_HINT,
        )
    return session.create_client(service, region_name=spec.region, config=Config(**TIMEOUTS))


def _call(spec: AwsProviderSpec, service: str, operation: str, **kwargs: Any) -> Any:
    import botocore.exceptions

    client = _client(spec, service)
    try:
        return getattr(client, operation)(**kwargs)
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
            raise CloudLoginMissing(f"AWS refused the credentials ({code})", hint=LOGIN_HINT) from None
        raise automation.InfraError(f"AWS {service} {operation} failed: {exc}") from None
    except botocore.exceptions.NoCredentialsError:
        raise CloudLoginMissing("no AWS credentials found", hint=LOGIN_HINT) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise automation.InfraError(
            f"could not reach AWS {service} in {spec.region}: {exc}", hint="check the network and the region"
        ) from None


def caller_identity(spec: AwsProviderSpec) -> dict[str, str]:
    """``sts get-caller-identity``; CloudLoginMissing if the account differs from ``account_id``."""
    identity = _call(spec, "sts", "get_caller_identity")
    if spec.account_id and identity.get("Account") != spec.account_id:
        raise CloudLoginMissing(
            f"the AWS credentials are for account {identity.get('Account')}, but the config says {spec.account_id}",
            hint="select the right profile (AWS_PROFILE or auth.profile), or fix account_id",
        )
    return identity


def eks_versions(spec: AwsProviderSpec) -> list[str]:
    """The EKS Kubernetes versions AWS offers (``eks describe-cluster-versions``), newest first."""
    data = _call(spec, "eks", "describe_cluster_versions")
    versions = {str(v.get("clusterVersion")) for v in data.get("clusterVersions", []) if v.get("clusterVersion")}
    return sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")), reverse=True)
