"""The infra stack's component: resource group (protected, retained) and AKS with a system pool, an autoscaling
workload pool labelled ``modelops.io/role=cpu``, optional GPU pools, a pinned version and a Linux profile; the
kubeconfig comes from the user-credentials call, base64-decoded, as a secret output."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from modelops.infra.components.pools import PoolShape, agent_pool_profile

TYPE = "modelops:infra:Cluster"
ADMIN_USERNAME = "modelops"


@dataclass(frozen=True)
class ClusterConfig:
    """Everything the cluster needs, resolved by the provider's compile (names from ``naming``)."""

    resource_group: str
    location: str
    cluster_name: str
    dns_prefix: str
    kubernetes_version: str
    system_pool: PoolShape
    workload_pool: PoolShape
    gpu_pools: tuple[PoolShape, ...] = ()
    network_plugin: str = "azure"
    tags: Mapping[str, str] = field(default_factory=dict)
    # `mops infra down` lifts protection; --delete-rg also drops retain-on-delete.
    protect_resource_group: bool = True
    retain_resource_group: bool = True
    # The Secrets Store CSI driver with the Key Vault provider (the managed store's passwords reach pods this way).
    key_vault_secrets_provider: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_group": self.resource_group,
            "location": self.location,
            "cluster_name": self.cluster_name,
            "dns_prefix": self.dns_prefix,
            "kubernetes_version": self.kubernetes_version,
            "system_pool": self.system_pool.to_dict(),
            "workload_pool": self.workload_pool.to_dict(),
            "gpu_pools": [p.to_dict() for p in self.gpu_pools],
            "network_plugin": self.network_plugin,
            "tags": dict(self.tags),
            "protect_resource_group": self.protect_resource_group,
            "retain_resource_group": self.retain_resource_group,
            "key_vault_secrets_provider": self.key_vault_secrets_provider,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterConfig:
        return cls(
            **{
                **data,
                "system_pool": PoolShape.from_dict(data["system_pool"]),
                "workload_pool": PoolShape.from_dict(data["workload_pool"]),
                "gpu_pools": tuple(PoolShape.from_dict(p) for p in data.get("gpu_pools", ())),
                "tags": dict(data.get("tags") or {}),
            }
        )


def decode_kubeconfig(value: str) -> str:
    """AKS returns kubeconfigs base64-encoded; downstream providers need the YAML text."""
    return base64.b64decode(value).decode("utf-8")


def _kubelet_object_id(profile: Any) -> str | None:
    """The kubelet identity's object id from ``identity_profile`` (typed object or plain dict)."""
    if not profile:
        return None
    entry = profile.get("kubeletidentity") if isinstance(profile, Mapping) else None
    if entry is None:
        return None
    if isinstance(entry, Mapping):
        return entry.get("object_id") or entry.get("objectId")
    return getattr(entry, "object_id", None)


class ModelOpsCluster(pulumi.ComponentResource):
    """Resource group + AKS. Outputs: ``kubeconfig`` (secret), ``cluster_name``, ``resource_group``, ``location``,
    ``kubelet_object_id`` (for AcrPull), ``cluster_id``, ``fqdn``, ``oidc_issuer_url`` (workload identity)."""

    def __init__(
        self,
        name: str,
        config: ClusterConfig,
        ssh_public_key: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        from pulumi_azure_native import containerservice, resources

        tags = {"project": "modelops", "managedBy": "pulumi", **config.tags}
        rg = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=config.resource_group,
            location=config.location,
            tags=tags,
            # The group may hold things ModelOps did not create; never delete it by accident.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=config.protect_resource_group,
                retain_on_delete=config.retain_resource_group,
            ),
        )
        pools = [config.system_pool, config.workload_pool, *config.gpu_pools]
        aks = containerservice.ManagedCluster(
            f"{name}-aks",
            resource_name_=config.cluster_name,
            resource_group_name=rg.name,
            location=config.location,
            dns_prefix=config.dns_prefix,
            kubernetes_version=config.kubernetes_version,
            enable_rbac=True,
            identity=containerservice.ManagedClusterIdentityArgs(type="SystemAssigned"),
            agent_pool_profiles=[agent_pool_profile(p, config.kubernetes_version) for p in pools],
            linux_profile=containerservice.ContainerServiceLinuxProfileArgs(
                admin_username=ADMIN_USERNAME,
                ssh=containerservice.ContainerServiceSshConfigurationArgs(
                    public_keys=[containerservice.ContainerServiceSshPublicKeyArgs(key_data=ssh_public_key)]
                ),
            ),
            # Workload identity: the cluster issues OIDC tokens Entra ID can trust, so pods act as managed
            # identities through federated ServiceAccounts instead of holding keys or SAS tokens.
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
            ),
            addon_profiles=(
                {
                    "azureKeyvaultSecretsProvider": containerservice.ManagedClusterAddonProfileArgs(
                        enabled=True, config={"enableSecretRotation": "true", "rotationPollInterval": "2m"}
                    )
                }
                if config.key_vault_secrets_provider
                else None
            ),
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin=config.network_plugin,
                load_balancer_sku="standard",
                outbound_type="loadBalancer",
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        creds = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=rg.name,
            resource_name=aks.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            creds.kubeconfigs.apply(lambda items: decode_kubeconfig(items[0].value))
        )
        self.cluster_name: pulumi.Output[str] = aks.name
        self.resource_group: pulumi.Output[str] = rg.name
        self.location: pulumi.Output[str] = pulumi.Output.from_input(config.location)
        self.kubelet_object_id: pulumi.Output[str | None] = aks.identity_profile.apply(_kubelet_object_id)
        self.cluster_id: pulumi.Output[str] = aks.id
        self.fqdn: pulumi.Output[str] = aks.fqdn
        self.oidc_issuer_url: pulumi.Output[str | None] = aks.oidc_issuer_profile.apply(
            lambda p: (p.get("issuer_url") if isinstance(p, Mapping) else getattr(p, "issuer_url", None)) if p else None
        )
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "cluster_name": self.cluster_name,
                "resource_group": self.resource_group,
                "location": self.location,
                "kubelet_object_id": self.kubelet_object_id,
                "cluster_id": self.cluster_id,
                "fqdn": self.fqdn,
                "oidc_issuer_url": self.oidc_issuer_url,
            }
        )


def resource_group_urn(stack: str, project: str, component_name: str = "modelops") -> str:
    """The URN of the cluster component's resource group (used to target it alone, e.g. before deleting it)."""
    return f"urn:pulumi:{stack}::{project}::{TYPE}$azure-native:resources:ResourceGroup::{component_name}-rg"
