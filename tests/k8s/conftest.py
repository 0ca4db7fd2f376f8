"""Sample specs and rendered manifests shared by the k8s tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.k8s.adaptive import AdaptivePlan, StudyFiles, build_adaptive, generate_secrets
from modelops.k8s.identity import CloudPodIdentity, WorkloadIdentity
from modelops.k8s.managed_store import ManagedStoreTarget
from modelops.k8s.workspace import RegistryCredentials, build_workspace
from modelops.specs.adaptive import AdaptiveSpec
from modelops.specs.base import parse_spec
from modelops.specs.workspace import WorkspaceSpec


def workspace_doc(**spec: object) -> dict:
    return {"apiVersion": "modelops/v1", "kind": "Workspace", "metadata": {"name": "dev"}, "spec": spec}


def adaptive_doc(**spec: object) -> dict:
    body = {"study": "study.yaml", "workspace": {"namespace": "modelops-dev"}, **spec}
    return {"apiVersion": "modelops/v1", "kind": "Adaptive", "metadata": {"name": "sir"}, "spec": body}


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    d = tmp_path / "study"
    d.mkdir()
    (d / "study.yaml").write_text("apiVersion: modelops/v1\nkind: Study\nstorage: {kind: postgres}\n")
    (d / "data").mkdir()
    (d / "data" / "observed.csv").write_text("t,cases\n0,1\n")
    (d / "data" / "table.parquet").write_bytes(b"PAR1\xff\xfe")  # binary: goes to binaryData
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00")
    (d / "model.py").write_text("def simulate(params, seed):\n    return {}\n")
    (d / "notes.bin").write_bytes(b"\x00\x01")  # unknown suffix: not shipped
    return d


def full_workspace() -> WorkspaceSpec:
    """A workspace with every optional part: GHCR image, a GPU group, tolerations and node selectors."""
    return parse_spec(
        WorkspaceSpec,
        workspace_doc(
            image="ghcr.io/acme/modelops:1.2.3",
            scheduler={"node_selector": {"modelops.io/role": "cpu"}},
            workers={
                "replicas": 3,
                "processes": 2,
                "threads": 1,
                "node_selector": {"modelops.io/role": "cpu"},
                "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
            },
            worker_groups=[
                {"name": "gpu", "replicas": 1, "processes": 1, "gpu": {"count": 2}},
                {"name": "burst", "replicas": 1, "processes": 2, "autoscale": {"min": 2, "max": 20}},
            ],
        ),
    )


IDENTITY = WorkloadIdentity(
    client_id="22222222-2222-2222-2222-222222222222",
    tenant_id="11111111-1111-1111-1111-111111111111",
    storage_account="mopsdevstab12cd34",
)


# What the AWS storage stack's ``env`` output holds (EKS Pod Identity: no credential anywhere).
AWS_IDENTITY = CloudPodIdentity(
    "s3",
    {
        "MODELOPS_RESULTS_URL": "s3://modelops-dev-alice-results-ab12cd34",
        "MODELOPS_CACHE_URL": "s3://modelops-dev-alice-cache-ab12cd34",
        "MODELOPS_BUNDLES_URL": "s3://modelops-dev-alice-bundles-ab12cd34",
        "AWS_REGION": "eu-west-1",
    },
)


def cloud_workspace_manifests() -> list[dict]:
    """The workspace on EKS: pod identity through the namespace's default ServiceAccount (namespace modelops-eks)."""
    return build_workspace(full_workspace(), "modelops-eks", identity=AWS_IDENTITY)


def identity_workspace_manifests() -> list[dict]:
    """The workspace with workload identity instead of a SAS Secret (namespace modelops-wi)."""
    return build_workspace(full_workspace(), "modelops-wi", identity=IDENTITY)


def workspace_manifests() -> list[dict]:
    return build_workspace(
        full_workspace(),
        "modelops-dev",
        credentials=RegistryCredentials("ghcr.io", "someone", "token-123"),
        storage_env={"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_SAS_TOKEN": "sv=x"},
    )


def adaptive_variants(study_file: Path) -> dict[str, list[dict]]:
    """Rendered runs: with PostgreSQL and an object store, and a single runner writing to a PVC."""
    study = StudyFiles.from_path(study_file)
    shared = parse_spec(
        AdaptiveSpec,
        adaptive_doc(
            runners={"replicas": 2},
            central_store={"size": "20Gi", "backup": {"keep": 3}},
            results={"url": "az://results/runs"},
        ),
    )
    plan = AdaptivePlan.for_run(shared, "exp-001", "exp-001", "modelops-exp-001", study)
    b, i, r = build_adaptive(
        shared,
        plan,
        pg_secrets=generate_secrets(shared),
        results_env={"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_SAS_TOKEN": "sv=x"},
    )
    single = parse_spec(AdaptiveSpec, adaptive_doc())
    plan1 = AdaptivePlan.for_run(single, "solo", "solo", "modelops-solo", study)
    b1, i1, r1 = build_adaptive(single, plan1)
    pooled = parse_spec(
        AdaptiveSpec,
        adaptive_doc(runners={"replicas": 8}, central_store={"pooler": True}, results={"url": "az://results/runs"}),
    )
    plan4 = AdaptivePlan.for_run(pooled, "pool-run", "pool-run", "modelops-pool-run", study)
    b4, i4, r4 = build_adaptive(pooled, plan4, pg_secrets=generate_secrets(pooled), identity=IDENTITY)
    plan2 = AdaptivePlan.for_run(shared, "wi-run", "wi-run", "modelops-wi-run", study)
    b2, i2, r2 = build_adaptive(shared, plan2, pg_secrets=generate_secrets(shared), identity=IDENTITY)
    managed = parse_spec(
        AdaptiveSpec,
        adaptive_doc(
            runners={"replicas": 3},
            central_store={"kind": "managed", "egress_cidr": "10.20.3.0/24"},
            results={"url": "az://results/runs"},
        ),
    )
    plan3 = AdaptivePlan.for_run(managed, "mg-run", "mg-run", "modelops-mg-run", study)
    target = ManagedStoreTarget.resolve(
        managed.spec.central_store,
        "mg-run",
        host="modelops-dev-pg-alice.postgres.database.azure.com",
        admin_user="modelops_admin",
        key_vault="modelopsdevkvab12cd34",
        admin_client_id="33333333-3333-3333-3333-333333333333",
    )
    b3, i3, r3 = build_adaptive(managed, plan3, identity=IDENTITY, managed=target)
    managed_pooled = parse_spec(
        AdaptiveSpec,
        adaptive_doc(
            runners={"replicas": 3},
            central_store={"kind": "managed", "pooler": {"pool_size": 8}},
            results={"url": "az://results/runs"},
        ),
    )
    plan5 = AdaptivePlan.for_run(managed_pooled, "mp-run", "mp-run", "modelops-mp-run", study)
    target5 = ManagedStoreTarget.resolve(
        managed_pooled.spec.central_store,
        "mp-run",
        host="modelops-dev-pg-alice.postgres.database.azure.com",
        admin_user="modelops_admin",
        key_vault="modelopsdevkvab12cd34",
        admin_client_id="33333333-3333-3333-3333-333333333333",
    )
    b5, i5, r5 = build_adaptive(managed_pooled, plan5, identity=IDENTITY, managed=target5)
    shared_cloud = parse_spec(
        AdaptiveSpec, adaptive_doc(runners={"replicas": 2}, central_store={"size": "20Gi", "backup": {"keep": 3}})
    )
    plan6 = AdaptivePlan.for_run(
        shared_cloud,
        "eks-run",
        "eks-run",
        "modelops-eks-run",
        study,
        runs_url="s3://modelops-dev-alice-results-ab12cd34/runs",
    )
    b6, i6, r6 = build_adaptive(shared_cloud, plan6, pg_secrets=generate_secrets(shared_cloud), identity=AWS_IDENTITY)
    return {
        "cloud": b6 + i6 + r6,
        "shared": b + i + r,
        "single": b1 + i1 + r1,
        "identity": b2 + i2 + r2,
        "managed": b3 + i3 + r3,
        "pooled": b4 + i4 + r4,
        "managed-pooled": b5 + i5 + r5,
    }


def by_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[dict], kind: str, name: str) -> dict:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_specs(manifests: list[dict]) -> list[dict]:
    return [m["spec"]["template"]["spec"] for m in manifests if m["kind"] in ("Deployment", "StatefulSet", "Job")]


@pytest.fixture
def all_manifests(study_dir: Path) -> list[dict]:
    variants = adaptive_variants(study_dir / "study.yaml")
    return (
        workspace_manifests()
        + identity_workspace_manifests()
        + variants["shared"]
        + variants["single"]
        + variants["identity"]
        + variants["managed"]
        + variants["pooled"]
        + variants["managed-pooled"]
        + cloud_workspace_manifests()
        + variants["cloud"]
    )


class Pick:
    """Lookups over manifest lists, handed to tests as the ``pick`` fixture."""

    by_kind = staticmethod(by_kind)
    one = staticmethod(one)
    pod_specs = staticmethod(pod_specs)
    workspace_doc = staticmethod(workspace_doc)
    adaptive_doc = staticmethod(adaptive_doc)
    full_workspace = staticmethod(full_workspace)
    workspace_manifests = staticmethod(workspace_manifests)
    adaptive_variants = staticmethod(adaptive_variants)
    identity_workspace_manifests = staticmethod(identity_workspace_manifests)
    cloud_workspace_manifests = staticmethod(cloud_workspace_manifests)


@pytest.fixture
def pick() -> type[Pick]:
    return Pick
