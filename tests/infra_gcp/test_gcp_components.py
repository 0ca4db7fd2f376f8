"""The Google Cloud stacks under Pulumi's own unit-test mocks: network + GKE with its pools (labels, taints, GPU
accelerators), Artifact Registry with the node service account's pull role, private buckets bound to the
namespaces' Workload Identity principals, and the kubeconfig as the only (secret) output."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml

from modelops.infra.components import gcp as comp
from modelops.infra.components.gpu_pool import GPU_TAINT
from modelops.infra.providers.gcp import GcpCloud
from modelops.specs.provider import parse_provider
from modelops.specs.runtime import WorkerPool
from modelops_testing.fake_pulumi import RecordingMocks, resolve_outputs, run_program

pytest.importorskip("pulumi_gcp")

PROJECT = "my-modelops-project"
NUMBER = "123456789012"
NODE_SA = f"mops-dev-node-alice@{PROJECT}.iam.gserviceaccount.com"
KEY_TYPES = ("gcp:serviceaccount/key:Key", "gcp:storage/hmacKey:HmacKey")


class Mocks(RecordingMocks):
    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        inputs = args.inputs
        if args.typ == "gcp:container/cluster:Cluster":
            return {"endpoint": "34.1.2.3", "masterAuth": {"clusterCaCertificate": "Q0EtR0tF"}}
        if args.typ == "gcp:serviceaccount/account:Account":
            return {"email": f"{inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com"}
        if args.typ == "random:index/randomString:RandomString":
            return {"result": "ab12cd34"}
        if args.typ == "pulumi:pulumi:StackReference":
            return {"outputs": {"node_service_account": NODE_SA}}
        return {}

    def answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": NUMBER, "projectId": PROJECT}
        return {}


@pytest.fixture
def mocks(fresh_event_loop: object) -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="modelops-infra", stack="modelops-infra-dev", preview=False)
    return m


def _cloud(**over: Any) -> GcpCloud:
    data = {"provider": "gcp", "project": PROJECT, "region": "europe-west4", "gke": {"labels": {"team": "epi"}}}
    return GcpCloud(parse_provider({**data, **over}))  # type: ignore[arg-type]


GROUPS = {
    "default-cpu": WorkerPool(profile="cpu", min=2, max=9),
    "gpu-calib": WorkerPool(profile="gpu", min=0, max=2, gpu={"vendor": "nvidia", "count": 2, "model": "T4"}),
}


def test_infra_graph_network_gke_pools(mocks: Mocks) -> None:
    plan = _cloud(zone="europe-west4-a").infra_stack("dev", "alice", GROUPS)
    values, secret = resolve_outputs(lambda: run_program(plan))

    (network,) = mocks.of_type("gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    (subnet,) = mocks.of_type("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert [r["rangeName"] for r in subnet.inputs["secondaryIpRanges"]] == ["pods", "services"]
    assert len(mocks.of_type("gcp:compute/routerNat:RouterNat")) == 1  # private nodes reach the internet
    (cluster,) = mocks.of_type("gcp:container/cluster:Cluster")
    c = cluster.inputs
    assert c["name"] == "modelops-dev-gke-alice" and c["location"] == "europe-west4-a"
    assert c["minMasterVersion"] == "1.33" and c["removeDefaultNodePool"] is True
    assert c["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    pools = {p.inputs["name"]: p.inputs for p in mocks.of_type("gcp:container/nodePool:NodePool")}
    assert set(pools) == {"system", "workcpu", "gpu0"}
    system, work, gpu = pools["system"], pools["workcpu"], pools["gpu0"]
    assert system["nodeCount"] == 1 and "autoscaling" not in system
    assert work["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 9}  # widened by the CPU group
    assert work["nodeConfig"]["labels"] == {"team": "epi", "modelops.io/role": "cpu"}
    assert work["nodeConfig"]["machineType"] == "e2-standard-4"
    assert all(p["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"} for p in pools.values())
    assert all(p["nodeConfig"]["serviceAccount"] == NODE_SA for p in pools.values())
    assert gpu["nodeConfig"]["machineType"] == "n1-standard-4"
    assert gpu["nodeConfig"]["guestAccelerators"][0]["type"] == "nvidia-tesla-t4"
    assert gpu["nodeConfig"]["guestAccelerators"][0]["count"] == 2
    key, value = GPU_TAINT.split(":")[0].split("=")
    assert gpu["nodeConfig"]["taints"] == [{"key": key, "value": value, "effect": "NO_SCHEDULE"}]
    assert gpu["nodeConfig"]["labels"]["modelops.io/worker-group"] == "gpu-calib"
    roles = sorted(m.inputs["role"] for m in mocks.of_type("gcp:projects/iAMMember:IAMMember"))
    assert roles == sorted(comp.NODE_ROLES)  # logging/monitoring only: no editor, no storage admin
    assert not [r for r in mocks.resources if r.typ in KEY_TYPES]
    doc = yaml.safe_load(values["kubeconfig"])
    assert doc["clusters"][0]["cluster"] == {"server": "https://34.1.2.3", "certificate-authority-data": "Q0EtR0tF"}
    assert doc["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert secret == ["kubeconfig"]
    assert values["node_service_account"] == NODE_SA


def test_registry_with_node_pull_role(mocks: Mocks) -> None:
    plan = _cloud().registry_stack("dev", "alice", None)
    values, secret = resolve_outputs(lambda: run_program(plan))
    (repo,) = mocks.of_type("gcp:artifactregistry/repository:Repository")
    assert repo.inputs["format"] == "DOCKER" and repo.inputs["repositoryId"] == "modelops-dev-alice"
    (pull,) = mocks.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert pull.inputs["role"] == "roles/artifactregistry.reader"
    assert pull.inputs["member"] == f"serviceAccount:{NODE_SA}"  # read from the infra stack
    assert values["login_server"] == f"europe-west4-docker.pkg.dev/{PROJECT}/modelops-dev-alice"
    assert secret == []


def test_storage_private_buckets_bound_to_namespaces(mocks: Mocks) -> None:
    plan = _cloud(storage={"namespaces": ["modelops-calib1"]}).storage_stack("dev", "alice", None)
    values, secret = resolve_outputs(lambda: run_program(plan))
    buckets = mocks.of_type("gcp:storage/bucket:Bucket")
    names = sorted(b.inputs["name"] for b in buckets)
    assert names == sorted(f"modelops-dev-alice-{p}-ab12cd34" for p in comp.PURPOSES)
    assert all(b.inputs["uniformBucketLevelAccess"] is True for b in buckets)
    assert all(b.inputs["publicAccessPrevention"] == "enforced" for b in buckets)
    assert all(b.inputs["forceDestroy"] is True for b in buckets)  # `mops storage down` asks first
    members = mocks.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    pool = f"principalSet://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/"
    expected = {f"{pool}{PROJECT}.svc.id.goog/namespace/{ns}" for ns in ("modelops-dev", "modelops-calib1")}
    assert {m.inputs["member"] for m in members} == expected
    assert {m.inputs["role"] for m in members} == {"roles/storage.objectUser"}
    assert len(members) == 6  # three buckets x two namespaces, and nothing public (no allUsers)
    assert values["results_url"] == "gs://modelops-dev-alice-results-ab12cd34"
    assert values["env"]["MODELOPS_BUNDLES_URL"] == "gs://modelops-dev-alice-bundles-ab12cd34"
    assert values["env"]["GOOGLE_CLOUD_PROJECT"] == PROJECT
    assert not [r for r in mocks.resources if r.typ in KEY_TYPES]
    assert secret == []


def test_gpu_count_on_a_fixed_gpu_machine_is_a_problem() -> None:
    problems: list[tuple[str, str]] = []
    groups = {"g": WorkerPool(profile="gpu", min=0, max=1, gpu={"vendor": "nvidia", "count": 2, "model": "L4"})}
    plan = _cloud().infra_stack("dev", "alice", groups, problems)
    assert plan.config["cluster"]["gpu_pools"] == []
    assert problems == [("spec.workerGroups.g.gpu.count", "g2-standard-4 carries one GPU on GKE here; use count: 1")]


def test_regional_by_default_and_stack_config() -> None:
    plan = _cloud().infra_stack("dev", "alice")
    assert plan.config["cluster"]["location"] == "europe-west4"
    assert plan.stack_config == {"gcp:project": PROJECT, "gcp:region": "europe-west4"}
    assert plan.plugins == ("gcp", "random")
