"""Workload identity: no long-lived key reaches a pod.

``WorkspaceIdentity`` (storage stack): one user-assigned managed identity per workspace (environment), holding
Storage Blob Data Contributor on exactly the results, cache and bundles containers (not the account: it cannot
touch anything else the account may hold, and it cannot list or rotate keys).

``FederatedServiceAccount`` (workspace and adaptive stacks): a federated identity credential on that identity for
one Kubernetes ServiceAccount (``system:serviceaccount:<namespace>:<name>``), trusting the AKS OIDC issuer. Each
plane federates its own namespace when it comes up and drops it when it goes, so a run's namespace can act as the
identity only while the run exists. Azure allows 20 federated credentials per identity: the workspace plus at most
19 runs at a time.

The pods' side (the ServiceAccount, the projected token, the variables azure-identity reads) is
``modelops.k8s.identity``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from modelops.core import naming

TYPE = "modelops:infra:WorkspaceIdentity"
FEDERATION_TYPE = "modelops:infra:FederatedServiceAccount"
# Azure's built-in Storage Blob Data Contributor role (the same GUID in every tenant): read, write and delete blobs
# and containers' contents; no account keys, no management plane.
BLOB_DATA_CONTRIBUTOR_ROLE_ID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
MAX_FEDERATED_CREDENTIALS = 20


def role_definition_id(subscription_id: str, role_id: str = BLOB_DATA_CONTRIBUTOR_ROLE_ID) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"


def identity_name(environment: str) -> str:
    """The workspace identity's name (3-128 of letters, digits, '-' and '_'; unique in its resource group)."""
    return f"modelops-{naming.check_environment(environment)}-workload"


def federated_credential_name(namespace: str, service_account: str) -> str:
    """A federated credential's name: 3-120 of letters, digits, '-' and '_', starting with a letter or digit."""
    return f"{namespace}-{service_account}"[:120]


@dataclass(frozen=True)
class IdentityConfig:
    environment: str
    subscription_id: str
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdentityConfig:
        return cls(**data)


@dataclass(frozen=True)
class Federation:
    """Where a plane's stack federates its ServiceAccount: the storage stack's identity and the cluster's issuer
    (plain values read from the storage stack's outputs)."""

    subscription_id: str
    resource_group: str
    identity_name: str
    oidc_issuer_url: str

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Federation | None:
        values = {k: getattr(v, "value", v) for k, v in outputs.items()}
        keys = ("identity_subscription_id", "identity_resource_group", "identity_name", "oidc_issuer_url")
        if values.get("auth_mode") != "workload_identity" or any(not values.get(k) for k in keys):
            return None
        return cls(*(str(values[k]) for k in keys))


class WorkspaceIdentity(pulumi.ComponentResource):
    """Outputs: ``client_id``, ``principal_id``, ``tenant_id``, ``identity_name``, ``identity_id``."""

    def __init__(
        self,
        name: str,
        config: IdentityConfig,
        *,
        resource_group_name: pulumi.Input[str],
        location: pulumi.Input[str],
        container_ids: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        from pulumi_azure_native import authorization, managedidentity

        child = pulumi.ResourceOptions(parent=self)
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=config.name,
            resource_group_name=resource_group_name,
            location=location,
            tags={"project": "modelops", "managedBy": "pulumi", **config.tags},
            opts=child,
        )
        self.role_assignments: dict[str, Any] = {}
        for purpose, container_id in sorted(container_ids.items()):
            self.role_assignments[purpose] = authorization.RoleAssignment(
                f"{name}-blob-{purpose}",
                principal_id=identity.principal_id,
                # Without the type, Azure may look the new principal up before it has replicated and fail.
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(config.subscription_id),
                scope=container_id,
                opts=child,
            )
        self.client_id: pulumi.Output[str] = identity.client_id
        self.principal_id: pulumi.Output[str] = identity.principal_id
        self.tenant_id: pulumi.Output[str] = identity.tenant_id
        self.identity_name: pulumi.Output[str] = identity.name
        self.identity_id: pulumi.Output[str] = identity.id
        self.register_outputs(
            {
                "client_id": self.client_id,
                "principal_id": self.principal_id,
                "tenant_id": self.tenant_id,
                "identity_name": self.identity_name,
                "identity_id": self.identity_id,
            }
        )


class FederatedServiceAccount(pulumi.ComponentResource):
    """Trust one ServiceAccount's tokens for the workspace identity. Output: ``subject``."""

    def __init__(
        self,
        name: str,
        federation: Federation,
        *,
        namespace: str,
        service_account: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(FEDERATION_TYPE, name, None, opts)
        import pulumi_azure_native as azure_native
        from pulumi_azure_native import managedidentity

        # The Kubernetes planes' stacks carry no Azure settings: an explicit provider names the subscription, and
        # authenticates as the Azure CLI login (or ARM_* variables) like the infra stacks.
        provider = azure_native.Provider(
            f"{name}-azure", subscription_id=federation.subscription_id, opts=pulumi.ResourceOptions(parent=self)
        )
        subject = f"system:serviceaccount:{namespace}:{service_account}"
        self.credential = managedidentity.FederatedIdentityCredential(
            f"{name}-credential",
            federated_identity_credential_resource_name=federated_credential_name(namespace, service_account),
            resource_group_name=federation.resource_group,
            resource_name_=federation.identity_name,
            issuer=federation.oidc_issuer_url,
            subject=subject,
            audiences=[TOKEN_AUDIENCE],
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.subject: pulumi.Output[str] = self.credential.subject
        self.register_outputs({"subject": self.subject})
