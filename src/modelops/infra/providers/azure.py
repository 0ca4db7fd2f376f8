"""The Azure provider: resource group and AKS (with a GPU pool per GPU worker group of a Runtime document), ACR
and storage, each a stack of its own. The plans are pure; ``AzureCloud`` is what ``mops infra|registry|storage``
(through ``modelops.planes``) ask of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelops.core import naming
from modelops.infra import automation
from modelops.infra.components.cluster import ClusterConfig
from modelops.infra.components.database import ManagedPostgresConfig
from modelops.infra.components.gpu_pool import gpu_pool_shape
from modelops.infra.components.pools import PoolShape
from modelops.infra.components.registry import RegistryConfig
from modelops.infra.components.storage import PURPOSES, StorageConfig
from modelops.infra.plan import StackPlan
from modelops.infra.ssh import SSH_CONFIG_KEY, generate_ephemeral_public_key
from modelops.specs.base import SpecError
from modelops.specs.provider import ROLE_LABEL, AzureProviderSpec
from modelops.specs.runtime import GPU_VM_SIZES, WorkerPool

MAX_GPU_POOLS = 10
Problems = list[tuple[str, str]]


def resource_group(spec: AzureProviderSpec, environment: str, username: str) -> str:
    return spec.resource_group or naming.resource_group_name(environment, username)


def cluster_config(
    spec: AzureProviderSpec,
    environment: str,
    username: str,
    worker_groups: Mapping[str, WorkerPool] | None = None,
    problems: Problems | None = None,
) -> ClusterConfig:
    """The cluster from the provider config, widened by the Runtime's worker groups: CPU groups share the workload
    pool (its bounds grow to the sum of their node counts), each GPU group gets its own tainted pool."""
    problems = problems if problems is not None else []
    groups = dict(worker_groups or {})
    pool = spec.aks.workload_pool
    cpu = [g for g in groups.values() if g.profile == "cpu"]
    min_nodes = max(pool.min, sum(g.min for g in cpu))
    max_nodes = max(pool.max, sum(g.max for g in cpu))
    workload = PoolShape(
        name=naming.node_pool_name("workcpu"),
        vm_size=pool.vm_size,
        min=min_nodes,
        max=max_nodes,
        labels={**spec.aks.labels, ROLE_LABEL: "cpu"},
        taints=tuple(spec.aks.taints),
    )
    gpu_pools = []
    gpu_groups = [(name, g) for name, g in groups.items() if g.profile == "gpu"]
    if len(gpu_groups) > MAX_GPU_POOLS:
        problems.append(("spec.workerGroups", f"at most {MAX_GPU_POOLS} GPU worker groups fit one cluster"))
    for index, (name, group) in enumerate(gpu_groups[:MAX_GPU_POOLS]):
        vm_size = group.gpu_vm_size()
        if vm_size is None:
            model = group.gpu.model if group.gpu else None
            problems.append(
                (
                    f"spec.workerGroups.{name}.gpu.model" if model else f"spec.workerGroups.{name}.vm_size",
                    (f"unknown GPU model {model!r}; " if model else "no GPU model given; ")
                    + f"set vm_size (e.g. Standard_NC4as_T4_v3) or use a model among {', '.join(GPU_VM_SIZES)}",
                )
            )
            continue
        gpu_pools.append(
            gpu_pool_shape(
                name,
                index,
                vm_size=vm_size,
                min_nodes=group.min,
                max_nodes=group.max,
                count=group.gpu.count if group.gpu else 1,
            )
        )
    name = spec.aks.name or naming.aks_cluster_name(environment, username)
    return ClusterConfig(
        resource_group=resource_group(spec, environment, username),
        location=spec.location,
        cluster_name=name,
        dns_prefix=naming.dns_prefix(name),
        kubernetes_version=spec.aks.version,
        system_pool=PoolShape(
            name=naming.node_pool_name("system"),
            vm_size=spec.aks.system_pool.vm_size,
            mode="System",
            count=spec.aks.system_pool.count,
        ),
        workload_pool=workload,
        gpu_pools=tuple(gpu_pools),
        network_plugin=spec.aks.network_plugin,
        tags={"env": environment, "owner": naming.user_slug(username), **spec.tags},
        key_vault_secrets_provider=spec.postgres is not None and spec.postgres.enabled,
    )


def postgres_config(spec: AzureProviderSpec, environment: str) -> ManagedPostgresConfig | None:
    """The managed PostgreSQL server of the infra stack, or None when the config has no enabled ``postgres``."""
    pg = spec.postgres
    if pg is None or not pg.enabled:
        return None
    return ManagedPostgresConfig(
        environment=environment,
        subscription_id=spec.subscription_id,
        version=pg.version,
        sku=pg.sku,
        tier=pg.tier,
        storage_gb=pg.storage_gb,
        high_availability=pg.high_availability,
        backup_retention_days=pg.backup_retention_days,
        geo_redundant_backup=pg.geo_redundant_backup,
        admin_user=pg.admin_user,
        network_mode=pg.network.mode,
        allowed_cidrs=tuple(pg.network.allowed_cidrs),
        delegated_subnet_id=pg.network.delegated_subnet_id,
        private_dns_zone_id=pg.network.private_dns_zone_id,
        tags={"env": environment, **spec.tags},
    )


def registry_config(spec: AzureProviderSpec, environment: str, username: str) -> RegistryConfig | None:
    """The ACR, or None when the config does not enable one."""
    if spec.acr is None or not spec.acr.enabled:
        return None
    name = spec.acr.name or (naming.acr_name(environment, username) if spec.acr.per_user else None)
    return RegistryConfig(
        environment=environment,
        subscription_id=spec.subscription_id,
        sku=spec.acr.sku,
        registry_name=name,
        tags={"env": environment, **spec.tags},
    )


def storage_config(spec: AzureProviderSpec, environment: str) -> StorageConfig:
    containers = {p: p for p in PURPOSES}
    return StorageConfig(
        environment=environment,
        sku=spec.storage.sku,
        sas_days=spec.storage.sas_days,
        auth=spec.storage.auth,
        subscription_id=spec.subscription_id,
        containers=containers,
        tags={"env": environment, **spec.tags},
    )


def azure_stack_config(spec: AzureProviderSpec) -> dict[str, str]:
    """The azure-native provider's stack settings (non-secret; a service principal's secret is added at apply)."""
    config = {"azure-native:subscriptionId": spec.subscription_id, "azure-native:location": spec.location}
    if spec.tenant_id:
        config["azure-native:tenantId"] = spec.tenant_id
    if not spec.auth.use_azure_cli and spec.auth.service_principal:
        config["azure-native:clientId"] = spec.auth.service_principal.client_id
    return config


def _auth(spec: AzureProviderSpec) -> dict[str, str]:
    """Where apply finds a service principal's secret (the name of a variable, never the value)."""
    sp = spec.auth.service_principal
    if spec.auth.use_azure_cli or sp is None:
        return {}
    return {"client_secret_env": sp.client_secret_env}


def secret_config_for(stack: StackPlan) -> dict[str, Any]:
    """The secret stack settings a planned stack needs at apply time (a service principal's secret, from env)."""
    name = stack.config.get("client_secret_env")
    if not name:
        return {}
    import os

    from pulumi import automation as auto

    if not os.environ.get(name):
        raise automation.AzureLoginMissing(
            f"service principal auth: ${name} is not set", hint=f"export {name}=<the client secret>"
        )
    return {"azure-native:clientSecret": auto.ConfigValue(value=os.environ[name], secret=True)}


def infra_stack(
    spec: AzureProviderSpec,
    environment: str,
    username: str,
    worker_groups: Mapping[str, WorkerPool] | None = None,
    problems: Problems | None = None,
) -> StackPlan:
    cluster = cluster_config(spec, environment, username, worker_groups, problems)
    config: dict[str, Any] = {"cluster": cluster.to_dict(), "ssh": spec.ssh.model_dump(exclude_none=True)}
    postgres = postgres_config(spec, environment)
    if postgres is not None:
        config["postgres"] = postgres.to_dict()
    return StackPlan(
        component="infra",
        stack=naming.stack_name("infra", environment),
        project=naming.project_name("infra"),
        config={**config, **_auth(spec)},
        stack_config=azure_stack_config(spec),
    )


def registry_stack(spec: AzureProviderSpec, environment: str, username: str, organization: str | None) -> StackPlan:
    config = registry_config(spec, environment, username)
    if config is None:
        raise SpecError("provider config", [("acr.enabled", "no registry is configured; add acr: {enabled: true}")])
    return StackPlan(
        component="registry",
        stack=naming.stack_name("registry", environment),
        project=naming.project_name("registry"),
        config={"registry": config.to_dict(), **_auth(spec)},
        stack_config=azure_stack_config(spec),
        reads={"infra": naming.stack_reference("infra", environment, organization=organization)},
    )


def storage_stack(spec: AzureProviderSpec, environment: str, organization: str | None) -> StackPlan:
    return StackPlan(
        component="storage",
        stack=naming.stack_name("storage", environment),
        project=naming.project_name("storage"),
        config={"storage": storage_config(spec, environment).to_dict(), **_auth(spec)},
        stack_config=azure_stack_config(spec),
        reads={"infra": naming.stack_reference("infra", environment, organization=organization)},
    )


def ensure_ephemeral_key(ctx: automation.PulumiContext, ssh_mode: str) -> bool:
    """Store an ephemeral SSH public key in the infra stack's secret config, once. True if one was created.

    Reusing the same key matters: a new key on every ``up`` would make AKS replace its Linux profile."""
    if ssh_mode != "ephemeral":
        return False
    if automation.get_config(ctx, "infra", SSH_CONFIG_KEY):
        return False
    automation.set_config(ctx, "infra", SSH_CONFIG_KEY, generate_ephemeral_public_key(), secret=True)
    return True


def service_principal_secret(spec: AzureProviderSpec) -> dict[str, Any]:
    """The service principal's secret as a secret stack setting (from its environment variable), if used."""
    return secret_config_for(StackPlan(component="", stack="", project="", config=_auth(spec)))


@dataclass(frozen=True)
class AzureCloud:
    """CloudProvider for ``provider: azure``: the cloud CLI's view of the functions above."""

    spec: AzureProviderSpec
    name: str = "azure"

    def infra_stack(
        self,
        environment: str,
        username: str,
        worker_groups: Mapping[str, WorkerPool] | None = None,
        problems: Problems | None = None,
    ) -> StackPlan:
        return infra_stack(self.spec, environment, username, worker_groups, problems)

    @property
    def registry_enabled(self) -> bool:
        return self.spec.acr is not None and self.spec.acr.enabled

    def registry_stack(self, environment: str, username: str, organization: str | None) -> StackPlan:
        return registry_stack(self.spec, environment, username, organization)

    def storage_stack(self, environment: str, username: str, organization: str | None) -> StackPlan:
        return storage_stack(self.spec, environment, organization)

    def check_login(self) -> str | None:
        from modelops.infra.azure_cli import check_login

        account = check_login(self.spec)
        return f"{account.user} on subscription {account.subscription_id}" if account else "service principal"

    def prepare(
        self, ctx: automation.PulumiContext, stack: StackPlan, note: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        if stack.component == "infra" and ensure_ephemeral_key(ctx, self.spec.ssh.mode) and note:
            note("generated an ephemeral SSH public key (private key discarded), kept in the stack")
        return service_principal_secret(self.spec)

    def describe(self, stack: StackPlan) -> str:
        if stack.component == "infra":
            c = stack.config["cluster"]
            return (
                f"bringing up {c['cluster_name']} (AKS {c['kubernetes_version']}) in {c['resource_group']} / "
                f"{self.spec.location}"
            )
        return f"bringing up the {stack.component} stack in {self.spec.location}"

    def after_up(self, stack: StackPlan, outputs: Mapping[str, Any]) -> str | None:
        if stack.component == "registry":
            return f"push with: az acr login --name {outputs.get('registry_name', '?')}"
        return None

    def doctor(self, config: Any) -> list[Any]:
        return []  # the Azure checks (login, AKS version, SSH key) run in modelops.infra.doctor
