"""`mops adaptive list`, `mops workspace scale` and `port-forward` through the real app, against a stubbed
Kubernetes API (no cluster runs here) and a stand-in kubectl that records its arguments."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from modelops.k8s import cluster

from .test_k8s_cli import KUBECONFIG, Env, StubApi, env, stub_api  # noqa: F401 (fixtures)


class OpsApi(StubApi):
    def __init__(self) -> None:
        super().__init__()
        self.scaled: list[tuple[str, str, dict]] = []
        self.core.list_namespace = self._namespaces
        self.apps.read_namespaced_deployment_scale = self._read_scale
        self.apps.patch_namespaced_deployment_scale = self._patch_scale

    def _namespaces(self, label_selector: str) -> Any:
        assert label_selector == "modelops.io/plane=adaptive"
        ns = SimpleNamespace(
            metadata=SimpleNamespace(
                name="modelops-exp-7",
                labels={"app.kubernetes.io/instance": "exp-7", "modelops.io/run-id": "exp-7"},
            )
        )
        return SimpleNamespace(items=[ns])

    def _read_scale(self, name: str, ns: str) -> Any:
        from kubernetes.client.exceptions import ApiException

        if name != "dask-worker-default":
            raise ApiException(status=404, reason="Not Found")
        return SimpleNamespace(spec=SimpleNamespace(replicas=4))

    def _patch_scale(self, name: str, ns: str, body: dict) -> Any:
        self.scaled.append((name, ns, body))
        return SimpleNamespace()


@pytest.fixture
def ops_api(monkeypatch: pytest.MonkeyPatch) -> OpsApi:
    api = OpsApi()
    monkeypatch.setattr(cluster, "clients", lambda kubeconfig: cluster.Clients(api.core, api.apps, api.batch))
    return api


def test_k8s_cli_adaptive_list_shows_the_runs(env: Env, ops_api: OpsApi) -> None:  # noqa: F811
    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    result = env.mops("adaptive", "list", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["run_id"] == "exp-7" and row["namespace"] == "modelops-exp-7"
    assert (row["state"], row["active"], row["failed"]) == ("running", 2, 0)
    table = env.mops("adaptive", "list")
    assert table.exit_code == 0 and "exp-7" in table.stdout and "running" in table.stdout


def test_k8s_cli_workspace_scale(env: Env, ops_api: OpsApi) -> None:  # noqa: F811
    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    ok = env.mops("workspace", "scale", "default", "7")
    assert ok.exit_code == 0, ok.output
    assert ops_api.scaled == [("dask-worker-default", "modelops-dev", {"spec": {"replicas": 7}})]
    assert "4 -> 7" in ok.stdout
    missing = env.mops("workspace", "scale", "gpu", "1")
    assert missing.exit_code == 1 and "no worker group 'gpu'" in missing.output
    bad = env.mops("workspace", "scale", "Bad_Name", "1")
    assert bad.exit_code == 1 and "DNS label" in bad.output


def test_k8s_cli_workspace_port_forward_runs_kubectl(env: Env, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    record = tmp_path / "kubectl.json"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'config': open(os.environ['KUBECONFIG']).read(), "
        f"'mode': oct(os.stat(os.environ['KUBECONFIG']).st_mode & 0o777)}}, open({str(record)!r}, 'w'))\n"
    )
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = env.mops("workspace", "port-forward", "--scheduler-port", "18786")
    assert result.exit_code == 0, result.output
    seen = json.loads(record.read_text())
    assert seen["argv"] == ["port-forward", "-n", "modelops-dev", "svc/dask-scheduler", "18786:8786", "8787:8787"]
    assert seen["config"] == KUBECONFIG and seen["mode"] == "0o600"
    monkeypatch.setenv("PATH", "/nonexistent")
    missing = env.mops("workspace", "port-forward")
    assert missing.exit_code == 1 and "kubectl is not installed" in missing.output


def test_k8s_cli_adaptive_up_on_the_managed_store_wires_the_stacks(env: Env, monkeypatch) -> None:  # noqa: F811
    """`up` of a managed-store run with workload identity: the server, vault and identities come from the infra and
    storage stacks' outputs into the run's program (the program itself is tested under Pulumi's mocks)."""
    from modelops.infra.components import adaptive as adaptive_component

    sub, tenant = "00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111"
    env.fake.add_stack(
        "modelops-infra-dev",
        {
            "kubeconfig": KUBECONFIG,
            "resource_group": "modelops-dev-rg-alice",
            "oidc_issuer_url": "https://issuer.example/",
            "postgres_fqdn": "modelops-dev-pg-x.postgres.database.azure.com",
            "postgres_admin_user": "modelops_admin",
            "key_vault_name": "mopsdevkvx",
            "key_vault_id": "/subscriptions/s/vaults/mopsdevkvx",
            "store_admin_client_id": "33333333-3333-3333-3333-333333333333",
            "store_admin_principal_id": "admin-principal",
            "store_admin_identity_name": "modelops-dev-store-admin",
        },
        secret=["kubeconfig"],
    )
    env.fake.add_stack(
        "modelops-storage-dev",
        {
            "account_name": "mopsdevstx",
            "blob_endpoint": "https://mopsdevstx.blob.core.windows.net/",
            "results_container": "results",
            "cache_container": "cache",
            "bundles_container": "bundles",
            "auth_mode": "workload_identity",
            "identity_client_id": "22222222-2222-2222-2222-222222222222",
            "identity_principal_id": "ws-principal",
            "identity_tenant_id": tenant,
            "identity_name": "modelops-dev-workload",
            "identity_resource_group": "modelops-dev-rg-alice",
            "identity_subscription_id": sub,
            "oidc_issuer_url": "https://issuer.example/",
        },
    )
    seen: dict[str, Any] = {}
    real = adaptive_component.adaptive_program

    def record(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(adaptive_component, "adaptive_program", record)
    spec = env.adaptive_spec(central_store={"kind": "managed"}, runners={"replicas": 3})
    env.fake.set_outputs("modelops-adaptive-dev-exp-9", {"run_namespace": "modelops-exp-9", "runner_name": "r"})
    result = env.mops("adaptive", "up", str(spec), "--run-id", "exp-9")
    assert result.exit_code == 0, result.output
    target = seen["managed"]
    assert target.host == "modelops-dev-pg-x.postgres.database.azure.com" and target.database == "optuna_exp_9"
    assert target.admin_client_id.startswith("3333") and target.key_vault == "mopsdevkvx"
    assert seen["run_secret"].reader_principal_ids == ("ws-principal", "admin-principal")
    assert seen["admin_federation"].identity_name == "modelops-dev-store-admin"
    assert seen["federation"].identity_name == "modelops-dev-workload"
    assert seen["identity"].client_id.startswith("2222") and seen["results_env"] is None  # no SAS anywhere
