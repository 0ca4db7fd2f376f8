"""The storage stack's component: a StorageV2 account (HTTPS only, TLS 1.2, no public blob access) with blob
containers for results, the simulation cache and bundles.

Pods reach it in one of two ways (``auth``):
- ``workload_identity`` (the default): a user-assigned identity with Storage Blob Data Contributor on the three
  containers (``components.identity``); no SAS is issued, shared-key authorisation is switched off on the account,
  and nothing secret is exported.
- ``sas`` (explicit fallback, e.g. a cluster without an OIDC issuer): a read/write account SAS limited to blobs,
  kept as a secret output. The account key is never exported in either mode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pulumi

from modelops.core import naming

TYPE = "modelops:infra:Storage"
PURPOSES = ("results", "cache", "bundles")
# read, write, delete, list, add, create: what a worker needs to write results and read/write the cache.
SAS_PERMISSIONS = "rwdlac"


def sas_expiry(now: datetime, days: int) -> str:
    """The SAS expiry as Azure wants it (UTC, seconds precision, 'Z')."""
    return (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StorageConfig:
    environment: str
    sku: str = "Standard_LRS"
    sas_days: int = 30
    auth: str = "workload_identity"
    subscription_id: str | None = None
    containers: Mapping[str, str] = field(default_factory=lambda: {p: p for p in PURPOSES})
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "containers": dict(self.containers), "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StorageConfig:
        return cls(**data)


class ObjectStorage(pulumi.ComponentResource):
    """Outputs: ``account_name``, ``blob_endpoint``, ``{results,cache,bundles}_container``, ``auth_mode``; with
    ``sas``: ``sas_token`` (secret) and ``sas_expiry``; with ``workload_identity``: ``identity_client_id``,
    ``identity_tenant_id``, ``identity_name``, ``identity_resource_group``, ``identity_subscription_id``."""

    def __init__(
        self,
        name: str,
        config: StorageConfig,
        *,
        resource_group_name: pulumi.Input[str],
        location: pulumi.Input[str],
        expiry: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        import pulumi_random
        from pulumi_azure_native import storage

        child = pulumi.ResourceOptions(parent=self)
        suffix = pulumi_random.RandomString(
            f"{name}-suffix", length=8, special=False, upper=False, lower=True, numeric=True, opts=child
        )
        account = storage.StorageAccount(
            f"{name}-account",
            account_name=suffix.result.apply(lambda s: naming.storage_account_name(config.environment, s)),
            resource_group_name=resource_group_name,
            location=location,
            kind="StorageV2",
            sku=storage.SkuArgs(name=config.sku),
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            minimum_tls_version="TLS1_2",
            # With workload identity nothing signs with the account key, so a leaked key or SAS is worth nothing.
            allow_shared_key_access=config.auth != "workload_identity",
            tags={"project": "modelops", "managedBy": "pulumi", **config.tags},
            opts=child,
        )
        self.containers: dict[str, Any] = {}
        for purpose in PURPOSES:
            self.containers[purpose] = storage.BlobContainer(
                f"{name}-{purpose}",
                account_name=account.name,
                resource_group_name=resource_group_name,
                container_name=naming.blob_container_name(config.containers.get(purpose, purpose)),
                public_access="None",
                opts=child,
            )
        self.account_name: pulumi.Output[str] = account.name
        self.blob_endpoint: pulumi.Output[str] = account.primary_endpoints.apply(lambda e: e.blob if e else "")
        outputs: dict[str, Any] = {
            "account_name": self.account_name,
            "blob_endpoint": self.blob_endpoint,
            "auth_mode": config.auth,
        }
        self.identity: Any = None
        if config.auth == "workload_identity":
            from modelops.infra.components.identity import IdentityConfig, WorkspaceIdentity, identity_name

            if not config.subscription_id:
                raise ValueError("workload identity needs the subscription id (for the role definition)")
            self.identity = WorkspaceIdentity(
                f"{name}-workload",
                IdentityConfig(
                    environment=config.environment,
                    subscription_id=config.subscription_id,
                    name=identity_name(config.environment),
                    tags=config.tags,
                ),
                resource_group_name=resource_group_name,
                location=location,
                container_ids={p: c.id for p, c in self.containers.items()},
                opts=child,
            )
            outputs.update(
                {
                    "identity_client_id": self.identity.client_id,
                    "identity_principal_id": self.identity.principal_id,
                    "identity_tenant_id": self.identity.tenant_id,
                    "identity_name": self.identity.identity_name,
                    "identity_resource_group": resource_group_name,
                    "identity_subscription_id": config.subscription_id,
                }
            )
        else:
            sas = storage.list_storage_account_sas_output(
                account_name=account.name,
                resource_group_name=resource_group_name,
                services="b",
                resource_types="co",
                permissions=SAS_PERMISSIONS,
                protocols="https",
                shared_access_expiry_time=expiry,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.sas_token: pulumi.Output[str] = pulumi.Output.secret(sas.account_sas_token)
            outputs.update({"sas_token": self.sas_token, "sas_expiry": expiry})
        for purpose, container in self.containers.items():
            outputs[f"{purpose}_container"] = container.name
        self.outputs = outputs
        self.register_outputs(outputs)
