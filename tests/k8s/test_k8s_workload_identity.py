"""Workload identity on the pods' side: a federated ServiceAccount, a projected token, the variables azure-identity
reads, and nothing secret. `mops adaptive render` of a workload-identity spec holds no SAS, key or password."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops.k8s.identity import (
    TOKEN_AUDIENCE,
    IdentityConfigError,
    WorkloadIdentity,
    federated_subject,
    resolve_identity,
)
from modelops.k8s.workspace import K8sConfigError, build_workspace
from modelops.specs.workspace import ObjectStoreAccess
from modelops_testing.real_services import REPO_ROOT

CLIENT = "22222222-2222-2222-2222-222222222222"
TENANT = "11111111-1111-1111-1111-111111111111"
# What a credential looks like in a manifest: a SAS signature, an account key, a connection string, a password.
CREDENTIAL = re.compile(r"sig=|SharedAccessSignature|AccountKey|ACCOUNT_KEY|SAS_TOKEN|CONNECTION_STRING|password", re.I)


def _identity_pods(manifests: list[dict]) -> list[dict]:
    return [
        m["spec"]["template"]["spec"]
        for m in manifests
        if m["kind"] in ("Deployment", "Job")
        and m["spec"]["template"]["spec"].get("serviceAccountName") == "modelops-workload"
    ]


def test_k8s_identity_pods_get_a_projected_token_and_no_secret(pick) -> None:
    manifests = pick.identity_workspace_manifests()
    (sa,) = [m for m in pick.by_kind(manifests, "ServiceAccount") if m["metadata"]["name"] == "modelops-workload"]
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"] == CLIENT
    assert sa["automountServiceAccountToken"] is False
    assert pick.by_kind(manifests, "Secret") == []  # GHCR aside, nothing: no SAS Secret
    workers = [m for m in pick.by_kind(manifests, "Deployment") if "worker" in m["metadata"]["name"]]
    assert workers and len(_identity_pods(manifests)) == len(workers)  # workers act as the identity; not the scheduler
    for pod in _identity_pods(manifests):
        assert pod["serviceAccountName"] == "modelops-workload"
        assert pod["automountServiceAccountToken"] is False  # the API token stays out
        (vol,) = [v for v in pod["volumes"] if v["name"] == "azure-identity-token"]
        (src,) = vol["projected"]["sources"]
        assert src["serviceAccountToken"]["audience"] == TOKEN_AUDIENCE
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["AZURE_CLIENT_ID"] == CLIENT and env["AZURE_TENANT_ID"] == TENANT
        assert env["AZURE_FEDERATED_TOKEN_FILE"] == "/var/run/secrets/azure/tokens/azure-identity-token"
        assert env["AZURE_STORAGE_ANON"] == "false" and "AZURE_STORAGE_SAS_TOKEN" not in env
        assert "envFrom" not in c
        assert {"name": "azure-identity-token", "mountPath": "/var/run/secrets/azure/tokens", "readOnly": True} in (
            c["volumeMounts"]
        )
    # The webhook is not asked to mutate the pods (it would add a second token volume).
    for m in pick.by_kind(manifests, "Deployment"):
        assert "azure.workload.identity/use" not in m["spec"]["template"]["metadata"]["labels"]


def test_k8s_identity_runner_in_the_runs_namespace(study_dir: Path, pick) -> None:
    manifests = pick.adaptive_variants(study_dir / "study.yaml")["identity"]
    (sa,) = pick.by_kind(manifests, "ServiceAccount")
    assert sa["metadata"]["namespace"] == "modelops-wi-run"
    (runner,) = [m for m in pick.by_kind(manifests, "Job") if m["metadata"]["name"].startswith("runner-")]
    pod = runner["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "modelops-workload"
    # PG* still comes from the run's Secret; no object-store Secret exists.
    refs = [e["secretRef"]["name"] for e in pod["containers"][0]["envFrom"]]
    assert refs == ["postgres-wi-run-runtime"]
    assert federated_subject("modelops-wi-run") == "system:serviceaccount:modelops-wi-run:modelops-workload"


def test_k8s_identity_and_a_sas_together_are_refused(pick) -> None:
    ident = WorkloadIdentity(CLIENT, TENANT, "acct1")
    with pytest.raises(K8sConfigError, match="workload identity needs no SAS"):
        build_workspace(pick.full_workspace(), "ns", identity=ident, storage_env={"AZURE_STORAGE_SAS_TOKEN": "x"})


def test_k8s_resolve_identity_from_spec_or_binding() -> None:
    from modelops.infra.bindings import StorageBinding

    assert resolve_identity(ObjectStoreAccess()) is None  # nothing said: the SAS fallback (AZURE_STORAGE_*)
    spec = ObjectStoreAccess(client_id=CLIENT, tenant_id=TENANT, storage_account="acct1")
    assert resolve_identity(spec) == WorkloadIdentity(CLIENT, TENANT, "acct1")
    with pytest.raises(IdentityConfigError, match=r"object_store\.tenant_id"):
        resolve_identity(ObjectStoreAccess(auth="workload_identity", client_id=CLIENT, storage_account="acct1"))
    outputs = {
        "account_name": "acct2",
        "blob_endpoint": "https://acct2.blob.core.windows.net/",
        "results_container": "results",
        "cache_container": "cache",
        "bundles_container": "bundles",
        "auth_mode": "workload_identity",
        "identity_client_id": CLIENT,
        "identity_tenant_id": TENANT,
    }
    binding = StorageBinding.from_outputs(outputs)
    assert binding.secret_env() == {}
    assert resolve_identity(ObjectStoreAccess(), binding) == WorkloadIdentity(CLIENT, TENANT, "acct2")
    assert resolve_identity(ObjectStoreAccess(auth="sas"), binding) is None
    old = StorageBinding.from_outputs({**outputs, "auth_mode": None, "sas_token": "sv=1&sig=x"})
    assert old.mode == "sas" and resolve_identity(ObjectStoreAccess(), old) is None


def test_k8s_adlfs_takes_the_workload_identity_from_the_pod_env(tmp_path: Path, pick, monkeypatch) -> None:
    """The runner's own variables make adlfs ask DefaultAzureCredential, whose first usable credential is the
    WorkloadIdentityCredential reading the projected token file (no key, SAS or secret involved)."""
    import adlfs
    from azure.identity import WorkloadIdentityCredential

    (runner,) = [m for m in pick.identity_workspace_manifests() if m["metadata"]["name"] == "dask-worker-default"]
    env = {e["name"]: e["value"] for e in runner["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig")
    env["AZURE_FEDERATED_TOKEN_FILE"] = str(token)  # where the kubelet would project it
    for var in list(__import__("os").environ):
        if var.startswith(("AZURE_", "MSI_", "IDENTITY_")):
            monkeypatch.delenv(var)
    for key, value in env.items():
        if key.startswith("AZURE_"):
            monkeypatch.setenv(key, value)
    fs = adlfs.AzureBlobFileSystem(skip_instance_cache=True)
    assert fs.account_name == "mopsdevstab12cd34"
    assert fs.sas_token is None and fs.account_key is None and fs.connection_string is None
    chain = fs.sync_credential.credentials
    workload = [c for c in chain if isinstance(c, WorkloadIdentityCredential)]
    assert workload, [type(c).__name__ for c in chain]


def test_k8s_cli_render_with_workload_identity_has_no_sas_key_or_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SAS and a connection string in the caller's shell must not leak into an identity render.
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2024-01-01&sig=SHOULDNOTAPPEAR")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=SHOULDNOTAPPEAR")
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    shutil.copytree(REPO_ROOT / "examples" / "sir", tmp_path / "sir", ignore=shutil.ignore_patterns("__pycache__"))
    access = {"auth": "workload_identity", "client_id": CLIENT, "tenant_id": TENANT, "storage_account": "acct1"}
    doc = {
        "apiVersion": "modelops/v1",
        "kind": "Adaptive",
        "metadata": {"name": "sir"},
        "spec": {
            "study": "sir/study.yaml",
            "workspace": {"namespace": "modelops-dev"},
            "image_pull": {"kind": "none"},
            "results": {"url": "az://results/runs"},
            "object_store": access,
        },
    }
    spec = tmp_path / "adaptive.yaml"
    spec.write_text(yaml.safe_dump(doc))
    runner = CliRunner()
    for extra in ([], ["--show-secrets"]):
        result = runner.invoke(app, ["adaptive", "render", str(spec), "--run-id", "exp-001", *extra])
        assert result.exit_code == 0, result.output
        assert not CREDENTIAL.search(result.stdout), CREDENTIAL.search(result.stdout)
        assert "SHOULDNOTAPPEAR" not in result.stdout
        kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
        assert "Secret" not in kinds and "ServiceAccount" in kinds
    ws = tmp_path / "workspace.yaml"
    ws_doc = {"apiVersion": "modelops/v1", "kind": "Workspace", "metadata": {"name": "dev"}}
    ws_doc["spec"] = {"image_pull": {"kind": "none"}, "object_store": access}
    ws.write_text(yaml.safe_dump(ws_doc))
    result = runner.invoke(app, ["workspace", "render", str(ws), "--show-secrets"])
    assert result.exit_code == 0, result.output
    assert not CREDENTIAL.search(result.stdout) and "SHOULDNOTAPPEAR" not in result.stdout
