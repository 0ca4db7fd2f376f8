"""The AWS stacks under Pulumi's own unit-test mocks: the resource graph each program registers (cluster, node groups
with labels and taints, ECR with the node role's pull permission, private buckets with the pods' identity), and that
the kubeconfig is the only secret and is exported as one."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
import yaml

from modelops.infra.components import aws as comp
from modelops.infra.components.gpu_pool import GPU_TAINT
from modelops.infra.providers.aws import AwsCloud
from modelops.specs.provider import parse_provider
from modelops.specs.runtime import WorkerPool
from modelops_testing.fake_pulumi import RecordingMocks, resolve_outputs, run_program

pytest.importorskip("pulumi_aws")

ACCOUNT = "123456789012"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
INFRA_OUTPUTS = {
    "cluster_name": "modelops-dev-eks-alice",
    "node_role_arn": f"arn:aws:iam::{ACCOUNT}:role/modelops-dev-eks-alice-node",
    "oidc_provider_arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
    "oidc_issuer": ISSUER,
}
# Resource types that would mean long-lived keys exist somewhere.
KEY_TYPES = ("aws:iam/accessKey:AccessKey", "aws:iam/userLoginProfile:UserLoginProfile", "aws:iam/user:User")


class Mocks(RecordingMocks):
    """Echo inputs; add what AWS computes (ARNs, endpoints, the OIDC issuer, repository URLs)."""

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        inputs = args.inputs
        if args.typ == "aws:eks/cluster:Cluster":
            return {
                "endpoint": "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com",
                "certificateAuthority": {"data": "Q0EtREFUQQ=="},
                "identities": [{"oidcs": [{"issuer": ISSUER}]}],
            }
        if args.typ == "aws:iam/role:Role":
            return {"arn": f"arn:aws:iam::{ACCOUNT}:role/{inputs.get('name', args.name)}"}
        if args.typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            return {"arn": INFRA_OUTPUTS["oidc_provider_arn"]}
        if args.typ == "aws:ecr/repository:Repository":
            return {
                "repositoryUrl": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{inputs['name']}",
                "registryId": ACCOUNT,
            }
        if args.typ == "aws:s3/bucket:Bucket":
            return {"arn": f"arn:aws:s3:::{inputs['bucket']}"}
        if args.typ == "random:index/randomString:RandomString":
            return {"result": "ab12cd34"}
        if args.typ == "pulumi:pulumi:StackReference":
            return {"outputs": INFRA_OUTPUTS}
        return {}

    def answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ["us-east-1a", "us-east-1b", "us-east-1c"], "zoneIds": ["a", "b", "c"]}
        return {}


@pytest.fixture
def mocks(fresh_event_loop: object) -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="modelops-infra", stack="modelops-infra-dev", preview=False)
    return m


def _cloud(**over: Any) -> AwsCloud:
    data = {"provider": "aws", "region": "us-east-1", "eks": {"labels": {"team": "epi"}, "taints": []}, **over}
    return AwsCloud(parse_provider(data))  # type: ignore[arg-type]


GROUPS = {
    "default-cpu": WorkerPool(profile="cpu", min=1, max=7),
    "gpu-calib": WorkerPool(profile="gpu", min=0, max=2, gpu={"vendor": "nvidia", "count": 1, "model": "T4"}),
}


def test_infra_graph_vpc_eks_node_groups_oidc(mocks: Mocks) -> None:
    plan = _cloud().infra_stack("dev", "alice", GROUPS)
    values, secret = resolve_outputs(lambda: run_program(plan))

    (cluster,) = mocks.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["name"] == "modelops-dev-eks-alice" and cluster.inputs["version"] == "1.33"
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    assert len(cluster.inputs["vpcConfig"]["subnetIds"]) == 4  # two public + two private
    groups = {g.inputs["nodeGroupName"]: g.inputs for g in mocks.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {"system", "workcpu", "gpu0"}
    system, work, gpu = groups["system"], groups["workcpu"], groups["gpu0"]
    assert system["scalingConfig"] == {"desiredSize": 1, "minSize": 1, "maxSize": 1}
    assert "labels" not in system and "taints" not in system
    assert work["labels"] == {"team": "epi", "modelops.io/role": "cpu"}
    assert (work["scalingConfig"]["minSize"], work["scalingConfig"]["maxSize"]) == (1, 7)  # widened by the groups
    assert work["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert work["amiType"] == comp.CPU_AMI and work["instanceTypes"] == ["m6i.xlarge"]
    assert gpu["instanceTypes"] == ["g4dn.xlarge"] and gpu["amiType"] == comp.GPU_AMI
    assert gpu["labels"]["modelops.io/role"] == "gpu" and gpu["labels"]["modelops.io/worker-group"] == "gpu-calib"
    key, value = GPU_TAINT.split(":")[0].split("=")
    assert gpu["taints"] == [{"key": key, "value": value, "effect": "NO_SCHEDULE"}]
    assert (gpu["scalingConfig"]["minSize"], gpu["scalingConfig"]["maxSize"]) == (0, 2)
    # Nodes sit in the two private subnets only; the private route goes through the NAT gateway.
    subnets = {s.name: s for s in mocks.of_type("aws:ec2/subnet:Subnet")}
    assert sorted(subnets) == ["modelops-private-0", "modelops-private-1", "modelops-public-0", "modelops-public-1"]
    assert all(g["subnetIds"] == ["modelops-private-0-id", "modelops-private-1-id"] for g in groups.values())
    assert {s.inputs["availabilityZone"] for s in subnets.values()} == {"us-east-1a", "us-east-1b"}
    (private_rt,) = [r for r in mocks.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert private_rt.inputs["routes"][0]["natGatewayId"] == "modelops-nat-id"
    # Node role: worker, CNI and ECR read-only (the pull permission); IRSA's OIDC provider; the Pod Identity agent.
    node_arns = {
        a.inputs["policyArn"]
        for a in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if "node" in a.name
    }
    assert node_arns == set(comp.NODE_POLICIES)
    (oidc,) = mocks.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"] == ISSUER and oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    (addon,) = mocks.of_type("aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "eks-pod-identity-agent"
    assert not [r for r in mocks.resources if r.typ in KEY_TYPES]
    # The kubeconfig authenticates through `aws eks get-token` (no token in it), and it is the only secret output.
    doc = yaml.safe_load(values["kubeconfig"])
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0EtREFUQQ=="
    assert doc["clusters"][0]["cluster"]["server"] == "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com"
    assert doc["users"][0]["user"]["exec"]["args"][:4] == [
        "eks",
        "get-token",
        "--cluster-name",
        "modelops-dev-eks-alice",
    ]
    assert "token" not in doc["users"][0]["user"]
    assert secret == ["kubeconfig"]
    assert values["oidc_issuer"] == ISSUER and values["node_role_arn"].endswith(":role/modelops-dev-eks-alice-node")


def test_the_cluster_autoscaler_scales_only_this_clusters_groups(mocks: Mocks) -> None:
    plan = _cloud().infra_stack("dev", "alice", GROUPS)
    resolve_outputs(lambda: run_program(plan))
    (release,) = mocks.of_type("kubernetes:helm.sh/v3:Release")
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"]) == (comp.AUTOSCALER_CHART, comp.AUTOSCALER_CHART_VERSION)
    assert inputs["repositoryOpts"]["repo"] == comp.AUTOSCALER_REPO and inputs["namespace"] == "kube-system"
    values = inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": "modelops-dev-eks-alice"} and values["awsRegion"] == "us-east-1"
    assert values["image"]["tag"] == "v1.33.0"  # the autoscaler made for the cluster's minor
    assert values["nodeSelector"] == {"eks.amazonaws.com/nodegroup": "system"}  # never on a pool it may remove
    # It acts through EKS Pod Identity: an association for its service account, a role only pods can assume.
    (association,) = [a for a in mocks.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")]
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "kube-system",
        comp.AUTOSCALER_ACCOUNT,
    )
    (role,) = [r for r in mocks.of_type("aws:iam/role:Role") if "autoscaler" in r.name]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert association.inputs["roleArn"].endswith(":role/modelops-dev-eks-alice-autoscaler")
    (policy,) = [p for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy") if "autoscaler" in p.name]
    read, write = json.loads(policy.inputs["policy"])["Statement"]
    assert "autoscaling:SetDesiredCapacity" not in read["Action"]
    assert set(write["Action"]) == set(comp.AUTOSCALER_WRITE_ACTIONS)
    assert write["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/modelops-dev-eks-alice": "owned"}
    }
    # Applied with the cluster's own kubeconfig, after the node groups and the Pod Identity agent exist.
    (provider,) = mocks.of_type("pulumi:providers:kubernetes")
    kubeconfig = provider.inputs["kubeconfig"]
    assert isinstance(kubeconfig, dict) and "get-token" in kubeconfig["value"]  # passed on as a secret
    assert kubeconfig[pulumi.runtime.rpc._special_sig_key] == pulumi.runtime.rpc._special_secret_sig


def test_existing_vpc_creates_no_network(mocks: Mocks) -> None:
    subnets = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    plan = _cloud(vpc={"id": "vpc-0123456789abcdef0", "subnet_ids": subnets}).infra_stack("dev", "alice")
    values, _ = resolve_outputs(lambda: run_program(plan))
    assert values["vpc_id"] == "vpc-0123456789abcdef0"
    assert not [r for r in mocks.resources if r.typ.startswith("aws:ec2/")]
    (cluster,) = mocks.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == subnets


def test_registry_repositories_with_node_pull_policy(mocks: Mocks) -> None:
    plan = _cloud().registry_stack("dev", "alice", None)
    values, secret = resolve_outputs(lambda: run_program(plan))
    assert values["login_server"] == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
    assert values["requires_auth"] is False
    repos = {r.inputs["name"]: r.inputs for r in mocks.of_type("aws:ecr/repository:Repository")}
    assert set(repos) == {"modelops-dev-alice/modelops", "modelops-dev-alice/bundles"}
    assert all(r["imageTagMutability"] == "IMMUTABLE" for r in repos.values())
    assert all(r["imageScanningConfiguration"] == {"scanOnPush": True} for r in repos.values())
    policies = mocks.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy")
    assert sorted(p.inputs["repository"] for p in policies) == sorted(repos)
    for p in policies:
        (statement,) = json.loads(p.inputs["policy"])["Statement"]
        assert statement["Principal"] == {"AWS": INFRA_OUTPUTS["node_role_arn"]}  # read from the infra stack
        assert set(statement["Action"]) == set(comp.ECR_PULL_ACTIONS)
    assert secret == []


def test_storage_private_buckets_and_pod_identity(mocks: Mocks) -> None:
    plan = _cloud(storage={"namespaces": ["modelops-calib1"]}).storage_stack("dev", "alice", None)
    assert plan.reads == {"infra": "organization/modelops-infra/modelops-infra-dev"}
    values, secret = resolve_outputs(lambda: run_program(plan))

    urls = [values[f"{p}_url"] for p in comp.PURPOSES]
    assert urls == [f"s3://modelops-dev-alice-{p}-ab12cd34" for p in comp.PURPOSES]
    buckets = [b.inputs["bucket"] for b in mocks.of_type("aws:s3/bucket:Bucket")]
    assert sorted(buckets) == sorted(u.removeprefix("s3://") for u in urls)
    assert all(b.inputs["forceDestroy"] is True for b in mocks.of_type("aws:s3/bucket:Bucket"))  # down asks first
    blocks = mocks.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert len(blocks) == 3 and all(b.inputs[f] is True for b in blocks for f in flags)
    owners = mocks.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert [o.inputs["rule"]["objectOwnership"] for o in owners] == ["BucketOwnerEnforced"] * 3
    sse = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    assert len(mocks.of_type(sse)) == 3
    # The pods' role: IRSA for the namespaces' default service accounts, and EKS Pod Identity; nothing else.
    (role,) = mocks.of_type("aws:iam/role:Role")
    irsa, pod_identity = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert irsa["Principal"] == {"Federated": INFRA_OUTPUTS["oidc_provider_arn"]}
    host = ISSUER.removeprefix("https://")
    assert irsa["Condition"]["StringEquals"] == {f"{host}:aud": "sts.amazonaws.com"}
    assert irsa["Condition"]["StringLike"][f"{host}:sub"] == [
        "system:serviceaccount:modelops-dev:default",
        "system:serviceaccount:modelops-calib1:default",
    ]
    assert pod_identity["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    (policy,) = mocks.of_type("aws:iam/rolePolicy:RolePolicy")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    resources = {r for st in statements for r in st["Resource"]}
    assert resources == {f"arn:aws:s3:::{b}" for b in buckets} | {f"arn:aws:s3:::{b}/*" for b in buckets}
    assert "s3:DeleteBucket" not in {a for st in statements for a in st["Action"]}
    assoc = mocks.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert sorted((a.inputs["namespace"], a.inputs["serviceAccount"], a.inputs["clusterName"]) for a in assoc) == [
        ("modelops-calib1", "default", "modelops-dev-eks-alice"),
        ("modelops-dev", "default", "modelops-dev-eks-alice"),
    ]
    assert values["service_account_annotations"] == {comp.IRSA_ANNOTATION: values["role_arn"]}
    assert values["env"] == {
        "MODELOPS_RESULTS_URL": urls[0],
        "MODELOPS_CACHE_URL": urls[1],
        "MODELOPS_BUNDLES_URL": urls[2],
        "AWS_REGION": "us-east-1",
    }
    assert not [r for r in mocks.resources if r.typ in KEY_TYPES]
    assert secret == []


def test_gpu_model_unknown_to_aws_is_a_problem() -> None:
    problems: list[tuple[str, str]] = []
    groups = {"g": WorkerPool(profile="gpu", min=0, max=1, gpu={"vendor": "nvidia", "count": 1, "model": "MI300"})}
    plan = _cloud().infra_stack("dev", "alice", groups, problems)
    assert plan.config["cluster"]["gpu_pools"] == []
    assert problems and problems[0][0] == "spec.workerGroups.g.gpu.model" and "T4" in problems[0][1]


def test_pure_helpers() -> None:
    assert comp.subnet_cidrs("10.0.0.0/16") == (["10.0.0.0/20", "10.0.16.0/20"], ["10.0.32.0/20", "10.0.48.0/20"])
    assert comp.taint_args("dedicated=modelops:PreferNoSchedule") == {
        "key": "dedicated",
        "value": "modelops",
        "effect": "PREFER_NO_SCHEDULE",
    }
    assert comp.taint_args("only:NoExecute") == {"key": "only", "effect": "NO_EXECUTE"}
    with_profile = yaml.safe_load(comp.eks_kubeconfig("c", "https://e", "ca", "eu-west-1", profile="dev"))
    assert with_profile["users"][0]["user"]["exec"]["env"] == [{"name": "AWS_PROFILE", "value": "dev"}]
