"""Workload identity under Pulumi's mocks: the AKS issuer, the identity and its role assignments, the federation of
each plane's ServiceAccount, and the storage stack's outputs (ids, never a SAS)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from modelops.infra.components.identity import (
    BLOB_DATA_CONTRIBUTOR_ROLE_ID,
    TOKEN_AUDIENCE,
    FederatedServiceAccount,
    Federation,
    IdentityConfig,
    WorkspaceIdentity,
    identity_name,
)
from modelops.infra.components.storage import ObjectStorage, StorageConfig
from modelops_testing.fake_pulumi import RecordingMocks

SUB = "00000000-0000-0000-0000-000000000000"
TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
ISSUER = "https://eastus2.oic.prod-aks.azure.com/tenant/issuer/"


class Mocks(RecordingMocks):
    def resource_id(self, args: pulumi.runtime.MockResourceArgs) -> str:
        return f"/subscriptions/{SUB}/resourceGroups/rg/{args.typ.split(':')[-1]}/{args.name}"

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            return {
                "name": args.inputs["resourceName"],
                "clientId": CLIENT,
                "principalId": "identity-principal",
                "tenantId": TENANT,
            }
        if args.typ == "azure-native:storage:StorageAccount":
            return {"name": args.inputs["accountName"], "primaryEndpoints": {"blob": "https://a.blob/"}}
        if args.typ == "azure-native:storage:BlobContainer":
            return {"name": args.inputs["containerName"]}
        if args.typ == "random:index/randomString:RandomString":
            return {"result": "ab12cd34"}
        return {}


@pytest.fixture
def mocks(fresh_event_loop: object) -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="modelops-storage", stack="modelops-storage-dev", preview=False)
    return m


@pulumi.runtime.test
def test_identity_holds_blob_data_contributor_on_each_container_only(mocks: Mocks) -> Any:
    containers = {p: f"/subscriptions/{SUB}/resourceGroups/rg/.../containers/{p}" for p in ("results", "cache")}
    ident = WorkspaceIdentity(
        "wi",
        IdentityConfig(environment="dev", subscription_id=SUB, name=identity_name("dev")),
        resource_group_name="rg",
        location="eastus2",
        container_ids=containers,
    )

    def check(values: list[Any]) -> None:
        client, tenant, *_ = values
        assert (client, tenant) == (CLIENT, TENANT)
        (identity,) = mocks.of_type("azure-native:managedidentity:UserAssignedIdentity")
        assert identity.inputs["resourceName"] == "modelops-dev-workload"
        roles = mocks.of_type("azure-native:authorization:RoleAssignment")
        assert sorted(r.inputs["scope"] for r in roles) == sorted(containers.values())  # containers, not account
        for role in roles:
            assert role.inputs["principalId"] == "identity-principal"
            assert role.inputs["principalType"] == "ServicePrincipal"
            assert role.inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{BLOB_DATA_CONTRIBUTOR_ROLE_ID}")
            assert role.inputs["roleDefinitionId"].startswith(f"/subscriptions/{SUB}/")

    roles = (r.id for r in ident.role_assignments.values())
    return pulumi.Output.all(ident.client_id, ident.tenant_id, *roles).apply(check)


@pulumi.runtime.test
def test_federation_trusts_exactly_one_service_account_from_the_cluster_issuer(mocks: Mocks) -> Any:
    federation = Federation(SUB, "modelops-dev-rg-alice", "modelops-dev-workload", ISSUER)
    fed = FederatedServiceAccount("run-federated", federation, namespace="modelops-exp-001", service_account="sa")

    def check(subject: str) -> None:
        assert subject == "system:serviceaccount:modelops-exp-001:sa"
        (cred,) = mocks.of_type("azure-native:managedidentity:FederatedIdentityCredential")
        assert cred.inputs["issuer"] == ISSUER
        assert cred.inputs["audiences"] == [TOKEN_AUDIENCE]
        assert cred.inputs["resourceName"] == "modelops-dev-workload"
        assert cred.inputs["resourceGroupName"] == "modelops-dev-rg-alice"
        assert cred.inputs["federatedIdentityCredentialResourceName"] == "modelops-exp-001-sa"
        (provider,) = mocks.of_type("pulumi:providers:azure-native")
        assert provider.inputs["subscriptionId"] == SUB
        assert cred.provider and "run-federated-azure" in cred.provider

    return fed.subject.apply(check)


@pulumi.runtime.test
def test_storage_in_workload_identity_mode_exports_ids_and_no_secret(mocks: Mocks) -> Any:
    config = StorageConfig(environment="dev", subscription_id=SUB)
    assert config.auth == "workload_identity"  # the default: SAS only when asked for
    store = ObjectStorage(
        "storage", config, resource_group_name="rg", location="eastus2", expiry="2030-01-01T00:00:00Z"
    )

    def check(values: list[Any]) -> None:
        client, tenant, name, *_ = values
        assert (client, tenant, name) == (CLIENT, TENANT, "modelops-dev-workload")
        assert "sas_token" not in store.outputs and "sas_expiry" not in store.outputs
        assert store.outputs["auth_mode"] == "workload_identity"
        assert store.outputs["identity_subscription_id"] == SUB
        (account,) = mocks.of_type("azure-native:storage:StorageAccount")
        assert account.inputs["allowSharedKeyAccess"] is False
        assert mocks.calls == []  # neither listStorageAccountSAS nor listKeys
        roles = mocks.of_type("azure-native:authorization:RoleAssignment")
        container_ids = {
            f"/subscriptions/{SUB}/resourceGroups/rg/BlobContainer/storage-{p}" for p in ("results", "cache", "bundles")
        }
        assert {r.inputs["scope"] for r in roles} == container_ids

    return pulumi.Output.all(
        store.outputs["identity_client_id"],
        store.outputs["identity_tenant_id"],
        store.outputs["identity_name"],
        *(r.id for r in store.identity.role_assignments.values()),
    ).apply(check)


def test_federation_from_outputs_needs_every_key_and_the_mode() -> None:
    outputs = {
        "auth_mode": "workload_identity",
        "identity_subscription_id": SUB,
        "identity_resource_group": "rg",
        "identity_name": "modelops-dev-workload",
        "oidc_issuer_url": ISSUER,
    }
    assert Federation.from_outputs(outputs) == Federation(SUB, "rg", "modelops-dev-workload", ISSUER)
    assert Federation.from_outputs({**outputs, "auth_mode": "sas"}) is None
    assert Federation.from_outputs({**outputs, "oidc_issuer_url": ""}) is None


def test_azure_provider_compiles_workload_identity_by_default_and_sas_on_request() -> None:
    from modelops.infra.providers.azure import storage_config
    from modelops.specs.provider import parse_provider

    default = parse_provider({"subscription_id": SUB, "location": "eastus2"})
    assert storage_config(default, "dev").auth == "workload_identity"
    assert storage_config(default, "dev").subscription_id == SUB
    sas = parse_provider({"subscription_id": SUB, "location": "eastus2", "storage": {"auth": "sas"}})
    assert storage_config(sas, "dev").auth == "sas"
