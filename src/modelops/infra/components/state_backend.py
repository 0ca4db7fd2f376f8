"""`mops infra bootstrap`'s component: the shared Pulumi state backend. A resource group of its own (never a
workload group), a storage account (HTTPS only, no public access, blob versioning so a bad write can be undone) with
one container per environment, and a CanNotDelete lock on the group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from modelops.core import naming

TYPE = "modelops:infra:StateBackend"


@dataclass(frozen=True)
class StateBackendConfig:
    environment: str
    location: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def resource_group(self) -> str:
        return naming.state_resource_group_name(self.environment)

    @property
    def container(self) -> str:
        return naming.state_container_name(self.environment)


def backend_url(container: str, account: str) -> str:
    """The URL Pulumi's azblob backend takes."""
    return f"azblob://{container}?storage_account={account}"


class StateBackend(pulumi.ComponentResource):
    """Outputs: ``backend_url``, ``resource_group``, ``account_name``, ``container``."""

    def __init__(self, name: str, config: StateBackendConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        import pulumi_random
        from pulumi_azure_native import authorization, resources, storage

        child = pulumi.ResourceOptions(parent=self)
        tags = {"project": "modelops", "managedBy": "pulumi", "purpose": "pulumi-state", **config.tags}
        rg = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=config.resource_group,
            location=config.location,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        suffix = pulumi_random.RandomString(
            f"{name}-suffix", length=8, special=False, upper=False, lower=True, numeric=True, opts=child
        )
        account = storage.StorageAccount(
            f"{name}-account",
            account_name=suffix.result.apply(lambda s: naming.state_storage_account_name(config.environment, s)),
            resource_group_name=rg.name,
            location=config.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_ZRS"),
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            minimum_tls_version="TLS1_2",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.versioning = storage.BlobServiceProperties(
            f"{name}-versioning",
            account_name=account.name,
            resource_group_name=rg.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            opts=child,
        )
        container = storage.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=rg.name,
            container_name=config.container,
            public_access="None",
            opts=child,
        )
        self.lock = authorization.ManagementLockAtResourceGroupLevel(
            f"{name}-lock",
            resource_group_name=rg.name,
            lock_name="modelops-state-do-not-delete",
            level="CanNotDelete",
            notes="Holds the Pulumi state of every ModelOps stack; deleting it orphans all infrastructure.",
            opts=child,
        )
        self.backend_url = pulumi.Output.all(container.name, account.name).apply(lambda v: backend_url(v[0], v[1]))
        self.resource_group = rg.name
        self.account_name = account.name
        self.container = container.name
        self.register_outputs(
            {
                "backend_url": self.backend_url,
                "resource_group": self.resource_group,
                "account_name": self.account_name,
                "container": self.container,
            }
        )
