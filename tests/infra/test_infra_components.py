"""Pulumi components under Pulumi's own unit-test mocks: the resources and inputs that matter."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pulumi
import pytest

from modelops.infra.components import cluster as cluster_mod
from modelops.infra.components.cluster import ClusterConfig, ModelOpsCluster
from modelops.infra.components.gpu_pool import GPU_TAINT, gpu_pool_shape
from modelops.infra.components.pools import PoolShape
from modelops.infra.components.registry import ACR_PULL_ROLE_ID, ContainerRegistry, RegistryConfig
from modelops.infra.components.storage import ObjectStorage, StorageConfig, sas_expiry
from modelops_testing.fake_pulumi import RecordingMocks

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"
SUB = "00000000-0000-0000-0000-000000000000"


class Mocks(RecordingMocks):
    """Echo inputs as outputs, add what Azure computes (ids, login servers, identities), record everything."""

    def resource_id(self, args: pulumi.runtime.MockResourceArgs) -> str:
        return f"/subscriptions/{SUB}/{args.name}"

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        inputs = args.inputs
        if args.typ == "azure-native:containerservice:ManagedCluster":
            return {
                "name": inputs["resourceName"],
                "fqdn": "aks.hcp.eastus2.azmk8s.io",
                "identityProfile": {"kubeletidentity": {"objectId": "kubelet-oid", "clientId": "cid"}},
            }
        if args.typ == "azure-native:resources:ResourceGroup":
            return {"name": inputs["resourceGroupName"]}
        if args.typ == "azure-native:containerregistry:Registry":
            return {"name": inputs["registryName"], "loginServer": f"{inputs['registryName']}.azurecr.io"}
        if args.typ == "azure-native:storage:StorageAccount":
            return {
                "name": inputs["accountName"],
                "primaryEndpoints": {"blob": f"https://{inputs['accountName']}.blob.core.windows.net/"},
            }
        if args.typ == "azure-native:storage:BlobContainer":
            return {"name": inputs["containerName"]}
        if args.typ == "random:index/randomString:RandomString":
            return {"result": "ab12cd34"}
        return {}

    def answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            encoded = base64.b64encode(KUBECONFIG.encode()).decode()
            return {"kubeconfigs": [{"name": "clusterUser", "value": encoded}]}
        if args.token == "azure-native:storage:listStorageAccountSAS":
            return {"accountSasToken": "sv=2024-01-01&ss=b&sig=SECRET"}
        return {}


@pytest.fixture
def mocks(fresh_event_loop: object) -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="modelops-infra", stack="modelops-infra-dev", preview=False)
    return m


def _config(**over: Any) -> ClusterConfig:
    base = dict(
        resource_group="modelops-dev-rg-alice",
        location="eastus2",
        cluster_name="modelops-dev-aks-alice",
        dns_prefix="modelops-dev-aks-alice",
        kubernetes_version="1.33.2",
        system_pool=PoolShape("system", "Standard_D2s_v5", mode="System", count=1),
        workload_pool=PoolShape(
            "workcpu", "Standard_D4s_v5", min=1, max=7, labels={"modelops.io/role": "cpu", "team": "epi"}
        ),
        gpu_pools=(gpu_pool_shape("gpu-calib", 0, vm_size="Standard_NC4as_T4_v3", min_nodes=0, max_nodes=2, count=1),),
        tags={"env": "dev"},
    )
    base.update(over)
    return ClusterConfig(**base)


@pulumi.runtime.test
def test_cluster_resources_and_inputs(mocks: Mocks) -> Any:
    cluster = ModelOpsCluster("cluster", _config(), ssh_public_key="ssh-ed25519 AAAA test")

    def check(values: list[Any]) -> None:
        kubeconfig, kubelet = values
        assert kubeconfig == KUBECONFIG  # decoded from base64
        assert kubelet == "kubelet-oid"

        (rg,) = mocks.of_type("azure-native:resources:ResourceGroup")
        assert rg.inputs["resourceGroupName"] == "modelops-dev-rg-alice"
        (aks,) = mocks.of_type("azure-native:containerservice:ManagedCluster")
        inputs = aks.inputs
        assert inputs["kubernetesVersion"] == "1.33.2"
        assert inputs["identity"] == {"type": "SystemAssigned"}
        assert inputs["enableRBAC"] is True
        system, work, gpu = inputs["agentPoolProfiles"]
        assert system["mode"] == "System" and system["count"] == 1 and "enableAutoScaling" not in system
        assert work["mode"] == "User" and work["enableAutoScaling"] is True
        assert (work["minCount"], work["maxCount"]) == (1, 7)
        assert work["nodeLabels"] == {"modelops.io/role": "cpu", "team": "epi"}
        assert work["orchestratorVersion"] == "1.33.2"
        assert gpu["vmSize"] == "Standard_NC4as_T4_v3" and gpu["nodeTaints"] == [GPU_TAINT]
        assert gpu["nodeLabels"]["modelops.io/role"] == "gpu" and (gpu["minCount"], gpu["maxCount"]) == (0, 2)
        ssh = inputs["linuxProfile"]["ssh"]["publicKeys"][0]["keyData"]
        assert ssh == "ssh-ed25519 AAAA test" and inputs["linuxProfile"]["adminUsername"] == "modelops"
        assert inputs["networkProfile"]["networkPlugin"] == "azure"
        # Workload identity: the OIDC issuer Entra ID trusts, and the feature itself.
        assert inputs["oidcIssuerProfile"] == {"enabled": True}
        assert inputs["securityProfile"] == {"workloadIdentity": {"enabled": True}}
        assert inputs["tags"]["managedBy"] == "pulumi" and inputs["tags"]["env"] == "dev"
        tokens = [c.token for c in mocks.calls]
        assert "azure-native:containerservice:listManagedClusterUserCredentials" in tokens

    return pulumi.Output.all(cluster.kubeconfig, cluster.kubelet_object_id).apply(check)


@pulumi.runtime.test
def test_kubeconfig_output_is_secret(mocks: Mocks) -> Any:
    cluster = ModelOpsCluster("cluster", _config(gpu_pools=()), ssh_public_key="ssh-ed25519 AAAA")

    async def secret() -> bool:
        return await cluster.kubeconfig.is_secret()

    return pulumi.Output.from_input(secret()).apply(lambda is_secret: _assert(is_secret is True))


def _assert(condition: bool) -> None:
    assert condition


def test_resource_group_is_protected_and_retained(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    # Resource options are not visible to Mocks.new_resource, so capture what the component passes to Pulumi.
    seen: list[pulumi.ResourceOptions] = []
    from pulumi_azure_native import resources

    original = resources.ResourceGroup.__init__

    def spy(self: Any, name: str, *args: Any, **kwargs: Any) -> None:
        seen.append(kwargs["opts"])
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(resources.ResourceGroup, "__init__", spy)

    @pulumi.runtime.test
    def build() -> Any:
        c = ModelOpsCluster("cluster", _config(), ssh_public_key="k")
        return c.resource_group

    build()
    assert seen[0].protect is True and seen[0].retain_on_delete is True

    seen.clear()

    @pulumi.runtime.test
    def build_deletable() -> Any:
        c = ModelOpsCluster(
            "cluster2", _config(protect_resource_group=False, retain_resource_group=False), ssh_public_key="k"
        )
        return c.resource_group

    build_deletable()
    assert seen[0].protect is False and seen[0].retain_on_delete is False


@pulumi.runtime.test
def test_registry_grants_acrpull_to_kubelet(mocks: Mocks) -> Any:
    config = RegistryConfig(environment="dev", subscription_id=SUB, sku="Standard", registry_name="modelopsdevacralice")
    reg = ContainerRegistry(
        "registry", config, resource_group_name="modelops-dev-rg-alice", location="eastus2", kubelet_object_id="oid-1"
    )

    def check(values: list[Any]) -> None:
        login, registry_id, requires_auth, _ = values
        assert login == "modelopsdevacralice.azurecr.io"
        assert requires_auth is False
        (acr,) = mocks.of_type("azure-native:containerregistry:Registry")
        assert acr.inputs["adminUserEnabled"] is False
        assert acr.inputs["sku"] == {"name": "Standard"}
        (ra,) = mocks.of_type("azure-native:authorization:RoleAssignment")
        assert ra.inputs["principalId"] == "oid-1"
        assert ra.inputs["principalType"] == "ServicePrincipal"
        assert ra.inputs["scope"] == registry_id
        assert ra.inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{ACR_PULL_ROLE_ID}")
        assert ra.inputs["roleDefinitionId"].startswith(f"/subscriptions/{SUB}/")

    # Waiting on the role assignment's id makes sure it is registered before the check runs.
    return pulumi.Output.all(reg.login_server, reg.registry_id, reg.requires_auth, reg.acr_pull.id).apply(check)


@pulumi.runtime.test
def test_registry_without_cluster_has_no_role_and_random_name(mocks: Mocks) -> Any:
    reg = ContainerRegistry(
        "registry", RegistryConfig(environment="prod", subscription_id=SUB), resource_group_name="rg", location="x"
    )

    def check(values: list[Any]) -> None:
        name, requires_auth = values
        assert name == "modelopsprodacrab12cd34"
        assert requires_auth is True
        assert reg.acr_pull is None
        assert mocks.of_type("azure-native:authorization:RoleAssignment") == []

    return pulumi.Output.all(reg.registry_name, reg.requires_auth).apply(check)


@pulumi.runtime.test
def test_storage_account_containers_and_secret_sas(mocks: Mocks) -> Any:
    config = StorageConfig(environment="dev", auth="sas", containers={"results": "calabaria-results"})
    expiry = sas_expiry(datetime(2026, 1, 1, tzinfo=UTC), 30)
    store = ObjectStorage("storage", config, resource_group_name="rg", location="eastus2", expiry=expiry)

    async def secret() -> bool:
        return await store.sas_token.is_secret()

    def check(values: list[Any]) -> None:
        account, sas, is_secret, endpoint, *_ = values
        assert account == "mopsdevstab12cd34"
        assert sas == "sv=2024-01-01&ss=b&sig=SECRET" and is_secret is True
        assert endpoint == "https://mopsdevstab12cd34.blob.core.windows.net/"
        (acct,) = mocks.of_type("azure-native:storage:StorageAccount")
        assert acct.inputs["enableHttpsTrafficOnly"] is True
        assert acct.inputs["allowBlobPublicAccess"] is False
        assert acct.inputs["minimumTlsVersion"] == "TLS1_2"
        assert acct.inputs["allowSharedKeyAccess"] is True  # the SAS fallback signs with the account key
        assert mocks.of_type("azure-native:managedidentity:UserAssignedIdentity") == []
        names = sorted(c.inputs["containerName"] for c in mocks.of_type("azure-native:storage:BlobContainer"))
        assert names == ["bundles", "cache", "calabaria-results"]
        assert all(c.inputs["publicAccess"] == "None" for c in mocks.of_type("azure-native:storage:BlobContainer"))
        (call,) = [c for c in mocks.calls if c.token == "azure-native:storage:listStorageAccountSAS"]
        assert call.args["services"] == "b" and call.args["protocols"] == "https"
        assert call.args["sharedAccessExpiryTime"] == "2026-01-31T00:00:00Z"
        assert "listKeys" not in " ".join(c.token for c in mocks.calls)  # never the account key

    return pulumi.Output.all(
        store.account_name,
        store.sas_token,
        pulumi.Output.from_input(secret()),
        store.blob_endpoint,
        *(c.name for c in store.containers.values()),
    ).apply(check)


def test_decode_kubeconfig() -> None:
    assert cluster_mod.decode_kubeconfig(base64.b64encode(b"abc").decode()) == "abc"
