"""The managed store under Pulumi's mocks: Flexible Server (version, SKU, storage, HA, backups, firewall or private
access, TLS required), its Key Vault (RBAC, purge protection), the admin password only in the vault and the state,
the store admin identity scoped to one secret; and a run's runtime secret readable by exactly two identities."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from modelops.infra.components.database import (
    ADMIN_SECRET,
    KEY_VAULT_SECRETS_USER_ROLE_ID,
    ManagedPostgres,
    ManagedPostgresConfig,
    ManagedRunSecret,
    RunSecretTarget,
    cidr_range,
)
from modelops_testing.fake_pulumi import RecordingMocks

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine protocol marks a secret value
SUB = "00000000-0000-0000-0000-000000000000"
TENANT = "11111111-1111-1111-1111-111111111111"


class Mocks(RecordingMocks):
    def resource_id(self, args: pulumi.runtime.MockResourceArgs) -> str:
        return f"/subscriptions/{SUB}/resourceGroups/rg/{args.typ.split(':')[-1]}/{args.name}"

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        i = args.inputs
        if args.typ == "azure-native:dbforpostgresql:Server":
            return {
                "name": i["serverName"],
                "fullyQualifiedDomainName": f"{i['serverName']}.postgres.database.azure.com",
            }
        if args.typ == "azure-native:resources:ResourceGroup":
            return {"name": i["resourceGroupName"]}
        if args.typ == "azure-native:keyvault:Vault":
            return {"name": i["vaultName"]}
        if args.typ == "azure-native:keyvault:Secret":
            return {"name": i["secretName"]}
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            return {"name": i["resourceName"], "clientId": "admin-client", "principalId": "admin-principal"}
        if args.typ == "random:index/randomString:RandomString":
            return {"result": "ab12cd34"}
        if args.typ == "random:index/randomPassword:RandomPassword":
            return {"result": f"generated-{args.name}"}
        return {}

    def answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {"tenantId": TENANT, "objectId": "me", "clientId": "cli", "subscriptionId": SUB}
        return {}


@pytest.fixture
def mocks(fresh_event_loop: object) -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="modelops-infra", stack="modelops-infra-dev", preview=False)
    return m


def _wait(pg: ManagedPostgres) -> pulumi.Output:
    parts = [pg.server.id, pg.admin_secret.id, pg.admin_read.id, *(r.id for r in pg.settings + pg.firewall_rules)]
    return pulumi.Output.all(*parts, *pg.outputs.values())


@pulumi.runtime.test
def test_flexible_server_tls_firewall_ha_backups(mocks: Mocks) -> Any:
    config = ManagedPostgresConfig(
        environment="dev",
        subscription_id=SUB,
        version="16",
        sku="Standard_D2ds_v5",
        tier="GeneralPurpose",
        storage_gb=128,
        high_availability=True,
        backup_retention_days=14,
        geo_redundant_backup=True,
        allowed_cidrs=("20.1.2.3/32", "20.9.8.0/30"),
    )
    pg = ManagedPostgres("pg", config, resource_group_name="rg", location="eastus2")

    def check(_: Any) -> None:
        (server,) = mocks.of_type("azure-native:dbforpostgresql:Server")
        s = server.inputs
        assert s["serverName"] == "modelops-dev-pg-ab12cd34" and s["version"] == "16"
        assert s["sku"] == {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"}
        assert s["storage"] == {"storageSizeGB": 128, "autoGrow": "Enabled"}
        assert s["highAvailability"]["mode"] == "ZoneRedundant"
        assert s["backup"] == {"backupRetentionDays": 14, "geoRedundantBackup": "Enabled"}
        assert s["network"] == {"publicNetworkAccess": "Enabled"}
        auth = s["authConfig"]
        assert (auth["passwordAuth"], auth["activeDirectoryAuth"]) == ("Enabled", "Disabled")
        assert s["administratorLogin"] == "modelops_admin"
        # Marked secret: encrypted in the state, hidden in previews.
        assert s["administratorLoginPassword"]["value"] == "generated-pg-admin-password"
        assert SECRET_SIG in s["administratorLoginPassword"]
        settings = {c.inputs["configurationName"]: c.inputs["value"] for c in mocks.of_type(
            "azure-native:dbforpostgresql:Configuration")}  # fmt: skip
        assert settings == {"require_secure_transport": "ON", "ssl_min_protocol_version": "TLSv1.2"}
        rules = sorted(
            (r.inputs["startIpAddress"], r.inputs["endIpAddress"])
            for r in mocks.of_type("azure-native:dbforpostgresql:FirewallRule")
        )
        # Exactly the given CIDRs: no 0.0.0.0 "allow Azure services" rule, nothing wider.
        assert rules == [("20.1.2.3", "20.1.2.3"), ("20.9.8.0", "20.9.8.3")]
        (vault,) = mocks.of_type("azure-native:keyvault:Vault")
        props = vault.inputs["properties"]
        assert props["enableRbacAuthorization"] is True and props["enablePurgeProtection"] is True
        assert props["tenantId"] == TENANT and "accessPolicies" not in props
        (secret,) = mocks.of_type("azure-native:keyvault:Secret")
        assert secret.inputs["secretName"] == ADMIN_SECRET
        assert secret.inputs["properties"]["value"] == {"value": "generated-pg-admin-password"}
        assert SECRET_SIG in secret.inputs["properties"]
        (role,) = mocks.of_type("azure-native:authorization:RoleAssignment")
        assert role.inputs["principalId"] == "admin-principal"
        assert role.inputs["roleDefinitionId"].endswith(KEY_VAULT_SECRETS_USER_ROLE_ID)
        assert role.inputs["scope"].endswith(f"/secrets/{ADMIN_SECRET}")  # one secret, not the vault
        # No output carries the password.
        assert not any("generated-" in str(v) for v in _[len(_) - len(pg.outputs) :])

    return _wait(pg).apply(check)


@pulumi.runtime.test
def test_private_access_has_no_public_endpoint_and_no_firewall(mocks: Mocks) -> Any:
    config = ManagedPostgresConfig(
        environment="dev",
        subscription_id=SUB,
        network_mode="private",
        delegated_subnet_id="/subscriptions/x/subnets/pg",
        private_dns_zone_id="/subscriptions/x/privateDnsZones/pg.postgres.database.azure.com",
        allowed_cidrs=("20.1.2.3/32",),
    )
    pg = ManagedPostgres("pg", config, resource_group_name="rg", location="eastus2")

    def check(_: Any) -> None:
        (server,) = mocks.of_type("azure-native:dbforpostgresql:Server")
        assert server.inputs["network"] == {
            "publicNetworkAccess": "Disabled",
            "delegatedSubnetResourceId": "/subscriptions/x/subnets/pg",
            "privateDnsZoneArmResourceId": "/subscriptions/x/privateDnsZones/pg.postgres.database.azure.com",
        }
        assert server.inputs["highAvailability"]["mode"] == "Disabled"
        assert mocks.of_type("azure-native:dbforpostgresql:FirewallRule") == []

    return _wait(pg).apply(check)


@pulumi.runtime.test
def test_run_secret_is_readable_by_the_two_identities_only(mocks: Mocks) -> Any:
    target = RunSecretTarget(
        SUB, "rg", "mopsdevkvab12cd34", f"/subscriptions/{SUB}/vaults/kv", ("ws-principal", "admin-principal")
    )
    run = ManagedRunSecret("run-pg", target, secret_name="pg-runtime-exp-001")

    def check(_: Any) -> None:
        (secret,) = mocks.of_type("azure-native:keyvault:Secret")
        assert secret.inputs["secretName"] == "pg-runtime-exp-001"
        assert secret.inputs["vaultName"] == "mopsdevkvab12cd34"
        assert SECRET_SIG in secret.inputs["properties"]
        roles = mocks.of_type("azure-native:authorization:RoleAssignment")
        assert sorted(r.inputs["principalId"] for r in roles) == ["admin-principal", "ws-principal"]
        assert {r.inputs["scope"] for r in roles} == {f"/subscriptions/{SUB}/vaults/kv/secrets/pg-runtime-exp-001"}
        (provider,) = mocks.of_type("pulumi:providers:azure-native")
        assert provider.inputs["subscriptionId"] == SUB

    return pulumi.Output.all(run.secret_name, *(r.id for r in run.readers)).apply(check)


def test_cidr_range() -> None:
    assert cidr_range("10.1.0.0/16") == ("10.1.0.0", "10.1.255.255")


def test_provider_compiles_the_server_into_the_infra_stack_with_the_csi_addon() -> None:
    from modelops.infra.components.cluster import ClusterConfig
    from modelops.infra.components.database import ManagedPostgresConfig
    from modelops.infra.providers.azure import infra_stack
    from modelops.specs.base import SpecError
    from modelops.specs.provider import parse_provider

    base = {"subscription_id": SUB, "location": "eastus2"}
    plan = infra_stack(parse_provider(base), "dev", "alice")
    assert "postgres" not in plan.config
    assert ClusterConfig.from_dict(plan.config["cluster"]).key_vault_secrets_provider is False
    spec = parse_provider(
        {**base, "postgres": {"network": {"allowed_cidrs": ["20.1.2.3"]}, "backup_retention_days": 21}}
    )
    plan = infra_stack(spec, "dev", "alice")
    pg = ManagedPostgresConfig.from_dict(plan.config["postgres"])
    assert pg.allowed_cidrs == ("20.1.2.3/32",) and pg.backup_retention_days == 21
    assert ClusterConfig.from_dict(plan.config["cluster"]).key_vault_secrets_provider is True
    for bad, field in (
        ({"network": {}}, "firewall with no allowed_cidrs"),
        ({"network": {"allowed_cidrs": ["0.0.0.0/0"]}}, "opens the server"),
        ({"network": {"mode": "private"}}, "delegated_subnet_id"),
        ({"network": {"allowed_cidrs": ["20.1.2.3/32"]}, "high_availability": True}, "Burstable"),
        ({}, "network"),
    ):
        with pytest.raises(SpecError, match=field):
            parse_provider({**base, "postgres": bad})


def test_infra_program_adds_the_server_and_the_csi_addon(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    from modelops.infra import programs
    from modelops.infra.providers.azure import infra_stack
    from modelops.specs.provider import parse_provider

    monkeypatch.setenv("MODELOPS_SSH_PUBKEY", "ssh-ed25519 AAAA test")
    spec = parse_provider(
        {
            "subscription_id": SUB,
            "location": "eastus2",
            "ssh": {"mode": "env"},
            "postgres": {"network": {"allowed_cidrs": ["20.1.2.3/32"]}},
        }
    )
    plan = infra_stack(spec, "dev", "alice")
    kubeconfig = base64.b64encode(b"apiVersion: v1\n").decode()
    original = mocks.answer

    def answer(args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return {"kubeconfigs": [{"name": "u", "value": kubeconfig}]}
        return original(args)

    mocks.answer = answer  # type: ignore[method-assign]

    @pulumi.runtime.test
    def run() -> None:
        programs.infra_program(plan)()

    run()
    (aks,) = mocks.of_type("azure-native:containerservice:ManagedCluster")
    addon = aks.inputs["addonProfiles"]["azureKeyvaultSecretsProvider"]
    assert addon["enabled"] is True and addon["config"]["enableSecretRotation"] == "true"
    (server,) = mocks.of_type("azure-native:dbforpostgresql:Server")
    assert server.inputs["resourceGroupName"] == "modelops-dev-rg-alice"
    assert len(mocks.of_type("azure-native:dbforpostgresql:FirewallRule")) == 1
