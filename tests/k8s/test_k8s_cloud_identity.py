"""Pods on EKS and GKE: the storage stack's bucket URLs and region reach the workers and runners as plain values,
the pods run as their namespace's default ServiceAccount (the one EKS Pod Identity / GKE Workload Identity names),
and nothing secret, no token volume and no Azure variable is in the manifests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelops.infra.bindings import (
    BindingError,
    CloudStorageBinding,
    StorageBinding,
    storage_binding_from_outputs,
)
from modelops.k8s.identity import CloudPodIdentity, IdentityConfigError, cloud_pod_identity
from modelops.planes.workspace import object_store_access, storage_env
from modelops.specs.workspace import ObjectStoreAccess

CREDENTIAL = re.compile(r"sig=|SharedAccessSignature|AccountKey|SECRET|SESSION_TOKEN|password|AZURE_", re.I)
AWS_OUTPUTS = {
    "region": "eu-west-1",
    "role_arn": "arn:aws:iam::123456789012:role/pods",
    "service_account_annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/pods"},
    "results_bucket": "r",
    "results_url": "s3://modelops-dev-alice-results-ab12cd34",
    "cache_url": "s3://modelops-dev-alice-cache-ab12cd34",
    "bundles_url": "s3://modelops-dev-alice-bundles-ab12cd34",
    "env": {
        "MODELOPS_RESULTS_URL": "s3://modelops-dev-alice-results-ab12cd34",
        "MODELOPS_CACHE_URL": "s3://modelops-dev-alice-cache-ab12cd34",
        "MODELOPS_BUNDLES_URL": "s3://modelops-dev-alice-bundles-ab12cd34",
        "AWS_REGION": "eu-west-1",
    },
}
GCP_OUTPUTS = {
    "project": "acme-models",
    "principals": ["principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/x/namespace/y"],
    "results_url": "gs://modelops-dev-alice-results-ab12cd34",
    "cache_url": "gs://modelops-dev-alice-cache-ab12cd34",
    "bundles_url": "gs://modelops-dev-alice-bundles-ab12cd34",
    "env": {"MODELOPS_RESULTS_URL": "gs://modelops-dev-alice-results-ab12cd34", "GOOGLE_CLOUD_PROJECT": "acme-models"},
}


def _pods(manifests: list[dict]) -> list[tuple[str, dict]]:
    return [
        (m["metadata"]["name"], m["spec"]["template"]["spec"])
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job")
    ]


def test_the_storage_binding_follows_the_stack_that_made_it() -> None:
    aws = storage_binding_from_outputs(AWS_OUTPUTS)
    assert isinstance(aws, CloudStorageBinding) and aws.scheme == "s3" and aws.mode == "pod_identity"
    assert aws.runs_url() == "s3://modelops-dev-alice-results-ab12cd34/runs"
    gcp = storage_binding_from_outputs(GCP_OUTPUTS)
    assert isinstance(gcp, CloudStorageBinding) and gcp.scheme == "gs"
    assert gcp.runs_url() == "gs://modelops-dev-alice-results-ab12cd34/runs"
    azure = storage_binding_from_outputs(
        {"account_name": "acct", "blob_endpoint": "https://acct.blob.core.windows.net/", "results_container": "results",
         "cache_container": "cache", "bundles_container": "bundles", "auth_mode": "sas", "sas_token": "sv=x"}
    )  # fmt: skip
    assert isinstance(azure, StorageBinding) and azure.runs_url() == "az://results/runs"
    with pytest.raises(BindingError, match="no output env"):
        storage_binding_from_outputs({k: v for k, v in AWS_OUTPUTS.items() if k != "env"})


def test_a_secret_in_the_stacks_env_output_never_reaches_a_pod() -> None:
    env = {**AWS_OUTPUTS["env"], "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI"}
    with pytest.raises(IdentityConfigError, match="AWS_SECRET_ACCESS_KEY") as info:
        CloudPodIdentity("s3", env)
    assert "wJalrXUtnFEMI" not in str(info.value)


def test_azure_access_fields_in_the_spec_are_named_on_another_cloud() -> None:
    access = ObjectStoreAccess(auth="workload_identity", client_id="22222222-2222-2222-2222-222222222222")
    with pytest.raises(IdentityConfigError, match=r"object_store.auth, object_store.client_id .* s3:// URLs"):
        cloud_pod_identity(access, "s3", AWS_OUTPUTS["env"])


def test_the_cli_gives_cloud_pods_the_stacks_identity_and_no_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=leaked")  # ignored: the buckets are not on Azure
    binding = storage_binding_from_outputs(AWS_OUTPUTS)
    identity, federation, env = object_store_access(ObjectStoreAccess(), binding)
    assert isinstance(identity, CloudPodIdentity) and federation is None and env == {}
    assert storage_env(binding) == {"AWS_REGION": "eu-west-1"}  # the caller's own AWS login reads the records


def test_eks_workers_and_runners_know_where_the_buckets_are(pick, study_dir: Path) -> None:
    manifests = pick.cloud_workspace_manifests() + pick.adaptive_variants(study_dir / "study.yaml")["cloud"]
    accounts = [m["metadata"]["name"] for m in manifests if m["kind"] == "ServiceAccount"]
    assert "modelops-workload" not in accounts  # no federated account: the namespace's default, as associated
    assert [m for m in manifests if m["kind"] == "PersistentVolumeClaim" and "runs" in m["metadata"]["name"]] == []
    secrets = [m for m in manifests if m["kind"] == "Secret"]
    assert all("results" not in m["metadata"]["name"] for m in secrets)  # no object-store Secret
    pods = dict(_pods(manifests))
    acting = {name: pod for name, pod in pods.items() if "worker" in name or "runner" in name}
    assert acting, sorted(pods)
    for name, pod in acting.items():
        assert "serviceAccountName" not in pod, name
        assert all("projected" not in v for v in pod.get("volumes", [])), name
        (c,) = [c for c in pod["containers"] if c["name"] in ("worker", "runner")]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["MODELOPS_RESULTS_URL"] == "s3://modelops-dev-alice-results-ab12cd34", name
        assert env["AWS_REGION"] == "eu-west-1", name
    (runner,) = [pod for name, pod in acting.items() if "runner" in name]
    (c,) = [c for c in runner["containers"] if c["name"] == "runner"]
    assert "s3://modelops-dev-alice-results-ab12cd34/runs" in c["args"]
    # Plain values in every pod: no Azure variable, nothing shaped like a credential (secretKeyRefs are fine).
    plain = [e for pod in acting.values() for c in pod["containers"] for e in c.get("env", []) if "value" in e]
    text = json.dumps(plain)
    assert not CREDENTIAL.search(text), CREDENTIAL.search(text)
