"""The registry stack's component: an Azure Container Registry (admin user off) and, when the cluster exists, an
AcrPull role assignment for the AKS kubelet identity so nodes pull images without credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from modelops.core import naming

TYPE = "modelops:infra:Registry"
# Azure's built-in AcrPull role definition (the same GUID in every tenant).
ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


def acr_pull_role_definition_id(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL_ROLE_ID}"


@dataclass(frozen=True)
class RegistryConfig:
    """``registry_name`` fixed (per-user or explicit), or None for a random suffix kept in the stack's state."""

    environment: str
    subscription_id: str
    sku: str = "Basic"
    registry_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegistryConfig:
        return cls(**data)


class ContainerRegistry(pulumi.ComponentResource):
    """ACR in ``resource_group_name``. Outputs: ``login_server``, ``registry_name``, ``registry_id``,
    ``requires_auth`` (False once AcrPull is granted to the cluster)."""

    def __init__(
        self,
        name: str,
        config: RegistryConfig,
        *,
        resource_group_name: pulumi.Input[str],
        location: pulumi.Input[str],
        kubelet_object_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        from pulumi_azure_native import authorization, containerregistry

        child = pulumi.ResourceOptions(parent=self)
        if config.registry_name:
            registry_name: pulumi.Input[str] = config.registry_name
        else:
            import pulumi_random

            suffix = pulumi_random.RandomString(
                f"{name}-suffix", length=8, special=False, upper=False, lower=True, numeric=True, opts=child
            )
            registry_name = suffix.result.apply(lambda s: naming.acr_name(config.environment, s))
        acr = containerregistry.Registry(
            f"{name}-acr",
            registry_name=registry_name,
            resource_group_name=resource_group_name,
            location=location,
            sku=containerregistry.SkuArgs(name=config.sku),
            admin_user_enabled=False,
            tags={"project": "modelops", "managedBy": "pulumi", **config.tags},
            opts=child,
        )
        self.acr_pull: Any = None
        if kubelet_object_id is not None:
            self.acr_pull = authorization.RoleAssignment(
                f"{name}-acrpull",
                principal_id=kubelet_object_id,
                principal_type="ServicePrincipal",
                role_definition_id=acr_pull_role_definition_id(config.subscription_id),
                scope=acr.id,
                opts=child,
            )
        self.login_server: pulumi.Output[str] = acr.login_server
        self.registry_name: pulumi.Output[str] = acr.name
        self.registry_id: pulumi.Output[str] = acr.id
        self.requires_auth: pulumi.Output[bool] = pulumi.Output.from_input(kubelet_object_id is None)
        self.register_outputs(
            {
                "login_server": self.login_server,
                "registry_name": self.registry_name,
                "registry_id": self.registry_id,
                "requires_auth": self.requires_auth,
            }
        )
