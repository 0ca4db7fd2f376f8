"""The managed central store (infra stack): Azure Database for PostgreSQL Flexible Server, its Key Vault, and the
store admin identity; and, per run (adaptive stack), the run's runtime password in that vault.

Server: pinned major version, SKU and tier, storage with auto-grow, backups kept ``backup_retention_days`` (geo-
redundant on request), zone-redundant HA on request; TLS required (``require_secure_transport=ON``, TLS 1.2 at
least); reached either through its public endpoint closed by firewall rules to the given CIDRs (no "allow Azure
services" rule), or only privately in a delegated subnet. Password authentication for the admin (generated, kept
in Key Vault and the stack's encrypted state, never exported) and the runtime roles the bootstrap Job creates.

Key Vault: RBAC authorisation (no access policies), soft delete with purge protection. Secrets are written through
Azure Resource Manager, so the deploying user needs no data-plane role. Reading is per secret:
- the *store admin* identity (``modelops-<env>-store-admin``, federated per run for the bootstrap Job's
  ServiceAccount) reads the admin password and each run's runtime password;
- the workspace identity (runners and workers) reads only each run's runtime password, granted by that run's stack.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from modelops.core import naming

TYPE = "modelops:infra:ManagedPostgres"
RUN_TYPE = "modelops:adaptive:ManagedRunSecret"
# Azure's built-in Key Vault Secrets User role: read secret values, nothing else.
KEY_VAULT_SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6"
ADMIN_SECRET = "pg-admin-password"
TLS_SETTINGS = {"require_secure_transport": "ON", "ssl_min_protocol_version": "TLSv1.2"}


def secrets_user_role(subscription_id: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/"
        f"{KEY_VAULT_SECRETS_USER_ROLE_ID}"
    )


def cidr_range(cidr: str) -> tuple[str, str]:
    """A firewall rule's (start, end) addresses for an IPv4 CIDR."""
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address), str(net.broadcast_address)


def server_name(environment: str, suffix: str) -> str:
    """3-63 lowercase letters, digits and '-', unique across Azure (it is the DNS name)."""
    return f"modelops-{naming.check_environment(environment)}-pg-{suffix}"


def vault_name(environment: str, suffix: str) -> str:
    """3-24 letters, digits and '-', starting with a letter, unique across Azure."""
    return f"mops{naming.check_environment(environment)}kv{suffix}"[:24]


@dataclass(frozen=True)
class ManagedPostgresConfig:
    environment: str
    subscription_id: str
    version: str = "16"
    sku: str = "Standard_B2ms"
    tier: str = "Burstable"
    storage_gb: int = 32
    high_availability: bool = False
    backup_retention_days: int = 7
    geo_redundant_backup: bool = False
    admin_user: str = "modelops_admin"
    network_mode: str = "firewall"
    allowed_cidrs: Sequence[str] = ()
    delegated_subnet_id: str | None = None
    private_dns_zone_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "allowed_cidrs": list(self.allowed_cidrs), "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManagedPostgresConfig:
        return cls(**{**data, "allowed_cidrs": tuple(data.get("allowed_cidrs") or ())})


class ManagedPostgres(pulumi.ComponentResource):
    """Outputs: ``postgres_fqdn``, ``postgres_admin_user``, ``postgres_server_name``, ``key_vault_name``,
    ``key_vault_id``, ``store_admin_client_id``, ``store_admin_principal_id`` (no password)."""

    def __init__(
        self,
        name: str,
        config: ManagedPostgresConfig,
        *,
        resource_group_name: pulumi.Input[str],
        location: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        import pulumi_random as random
        from pulumi_azure_native import authorization, dbforpostgresql, keyvault, managedidentity

        child = pulumi.ResourceOptions(parent=self)
        tags = {"project": "modelops", "managedBy": "pulumi", **config.tags}
        suffix = random.RandomString(
            f"{name}-suffix", length=8, special=False, upper=False, lower=True, numeric=True, opts=child
        )
        # Letters and digits only: the value goes through libpq and shell variables unescaped.
        password = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=suffix.result.apply(lambda s: vault_name(config.environment, s)),
            resource_group_name=resource_group_name,
            location=location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=client.tenant_id,
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                enable_purge_protection=True,
            ),
            tags=tags,
            opts=child,
        )
        self.admin_secret = keyvault.Secret(
            f"{name}-admin-secret",
            vault_name=vault.name,
            resource_group_name=resource_group_name,
            secret_name=ADMIN_SECRET,
            # The whole properties object is secret, so the engine encrypts it in the state and hides it in diffs.
            properties=pulumi.Output.secret(password.result).apply(lambda v: {"value": v}),
            opts=child,
        )

        private = config.network_mode == "private"
        network = dbforpostgresql.NetworkArgs(
            public_network_access="Disabled" if private else "Enabled",
            delegated_subnet_resource_id=config.delegated_subnet_id if private else None,
            private_dns_zone_arm_resource_id=config.private_dns_zone_id if private else None,
        )
        self.server = dbforpostgresql.Server(
            f"{name}-server",
            server_name=suffix.result.apply(lambda s: server_name(config.environment, s)),
            resource_group_name=resource_group_name,
            location=location,
            version=config.version,
            sku=dbforpostgresql.SkuArgs(name=config.sku, tier=config.tier),
            storage=dbforpostgresql.StorageArgs(storage_size_gb=config.storage_gb, auto_grow="Enabled"),
            backup=dbforpostgresql.BackupArgs(
                backup_retention_days=config.backup_retention_days,
                geo_redundant_backup="Enabled" if config.geo_redundant_backup else "Disabled",
            ),
            high_availability=dbforpostgresql.HighAvailabilityArgs(
                mode="ZoneRedundant" if config.high_availability else "Disabled"
            ),
            network=network,
            auth_config=dbforpostgresql.AuthConfigArgs(password_auth="Enabled", active_directory_auth="Disabled"),
            administrator_login=config.admin_user,
            administrator_login_password=pulumi.Output.secret(password.result),
            create_mode="Create",
            tags=tags,
            # Losing the server loses every study on it: `pulumi destroy` must be told twice.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.settings = [
            dbforpostgresql.Configuration(
                f"{name}-{key.replace('_', '-')}",
                configuration_name=key,
                server_name=self.server.name,
                resource_group_name=resource_group_name,
                value=value,
                source="user-override",
                opts=child,
            )
            for key, value in TLS_SETTINGS.items()
        ]
        self.firewall_rules = []
        if not private:
            for index, cidr in enumerate(config.allowed_cidrs):
                start, end = cidr_range(cidr)
                self.firewall_rules.append(
                    dbforpostgresql.FirewallRule(
                        f"{name}-allow-{index}",
                        firewall_rule_name=f"modelops-{index}",
                        server_name=self.server.name,
                        resource_group_name=resource_group_name,
                        start_ip_address=start,
                        end_ip_address=end,
                        opts=child,
                    )
                )

        admin_identity = managedidentity.UserAssignedIdentity(
            f"{name}-store-admin",
            resource_name_=f"modelops-{config.environment}-store-admin",
            resource_group_name=resource_group_name,
            location=location,
            tags=tags,
            opts=child,
        )
        self.admin_read = authorization.RoleAssignment(
            f"{name}-store-admin-reads-admin-secret",
            principal_id=admin_identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=secrets_user_role(config.subscription_id),
            # Scoped to the one secret, not the vault.
            scope=pulumi.Output.concat(vault.id, "/secrets/", ADMIN_SECRET),
            opts=child,
        )
        self.outputs: dict[str, Any] = {
            "postgres_fqdn": self.server.fully_qualified_domain_name,
            "postgres_admin_user": config.admin_user,
            "postgres_server_name": self.server.name,
            "key_vault_name": vault.name,
            "key_vault_id": vault.id,
            "store_admin_client_id": admin_identity.client_id,
            "store_admin_principal_id": admin_identity.principal_id,
            "store_admin_identity_name": admin_identity.name,
        }
        self.register_outputs(self.outputs)


@dataclass(frozen=True)
class RunSecretTarget:
    """Where one run's runtime password goes and who may read it (plain values from the infra/storage stacks)."""

    subscription_id: str
    resource_group: str
    key_vault_name: str
    key_vault_id: str
    reader_principal_ids: tuple[str, ...]


class ManagedRunSecret(pulumi.ComponentResource):
    """A run's runtime password: generated once, stored in Key Vault as ``pg-runtime-<slug>``, readable by the
    workspace identity (runners) and the store admin identity (bootstrap) only. Output: ``secret_name``."""

    def __init__(
        self,
        name: str,
        target: RunSecretTarget,
        *,
        secret_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(RUN_TYPE, name, None, opts)
        import pulumi_azure_native as azure_native
        import pulumi_random as random
        from pulumi_azure_native import authorization, keyvault

        provider = azure_native.Provider(
            f"{name}-azure", subscription_id=target.subscription_id, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        password = random.RandomPassword(
            f"{name}-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        secret = keyvault.Secret(
            f"{name}-secret",
            vault_name=target.key_vault_name,
            resource_group_name=target.resource_group,
            secret_name=secret_name,
            properties=pulumi.Output.secret(password.result).apply(lambda v: {"value": v}),
            opts=child,
        )
        self.readers = [
            authorization.RoleAssignment(
                f"{name}-reader-{index}",
                principal_id=principal,
                principal_type="ServicePrincipal",
                role_definition_id=secrets_user_role(target.subscription_id),
                scope=f"{target.key_vault_id}/secrets/{secret_name}",
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[secret]),
            )
            for index, principal in enumerate(target.reader_principal_ids)
        ]
        self.secret_name: pulumi.Output[str] = secret.id.apply(lambda _: secret_name)
        self.register_outputs({"secret_name": self.secret_name})
