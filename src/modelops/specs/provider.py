"""Provider configs: where the cluster comes from. ``~/.modelops/providers/azure.yaml`` for Azure from zero, or a
kubeconfig for a cluster that already exists.

```yaml
provider: azure                      # optional; azure | kubeconfig | aws | gcp (see examples/providers/)
subscription_id: 00000000-0000-0000-0000-000000000000
tenant_id: 11111111-1111-1111-1111-111111111111
location: eastus2
# resource_group: my-rg              # default modelops-{env}-rg-{user}
# username: alice                    # default: the global config's username, else $USER
aks:
  version: 1.33.2                    # pinned major.minor.patch; `mops infra doctor` checks Azure still offers it
  system_pool: {vm_size: Standard_D2s_v5, count: 1}
  workload_pool: {vm_size: Standard_D4s_v5, min: 0, max: 5}
  labels: {team: epi}                # added to the workload pool (which is always modelops.io/role=cpu)
  taints: []                         # e.g. ["dedicated=modelops:NoSchedule"]
acr: {enabled: true, sku: Basic}     # name default modelops{env}acr{user}
storage: {enabled: true, auth: workload_identity}   # or auth: sas (sas_days: 30), the explicit fallback
postgres: {version: "16", sku: Standard_B2ms, tier: Burstable, storage_gb: 32, high_availability: false,
           backup_retention_days: 7, network: {mode: firewall, allowed_cidrs: [20.1.2.3/32]}}   # optional
ssh: {mode: ephemeral}               # | {mode: path, pubkey_path: ~/.ssh/id_ed25519.pub} | {mode: env, pubkey_env: VAR}
auth: {use_azure_cli: true}          # or use_azure_cli: false with
                                     #   service_principal: {client_id: GUID, client_secret_env: ARM_CLIENT_SECRET}
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from modelops.core import naming
from modelops.specs.base import SpecError, SpecModel, parse_spec, read_yaml

# The AKS version new configs are pinned to; `mops infra doctor` checks Azure still offers it in the region.
PINNED_AKS_VERSION = "1.33.2"
VERSION_RULE = re.compile(r"^\d+\.\d+\.\d+$")
LOCATION_RULE = re.compile(r"^[a-z][a-z0-9]+$")
VM_SIZE_RULE = re.compile(r"^Standard_[A-Za-z0-9_]+$")
TAINT_RULE = re.compile(
    r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?(=[A-Za-z0-9_.-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$"
)
ROLE_LABEL = "modelops.io/role"


def _uuid(value: str, what: str) -> str:
    if not naming.GUID_RULE.match(value):
        raise ValueError(f"{what} {value!r} is not a GUID; find it with `az account show --query {what_key(what)}`")
    return value.lower()


def what_key(what: str) -> str:
    return {"subscription_id": "id", "tenant_id": "tenantId"}.get(what, what)


def check_vm_size(value: str) -> str:
    if not VM_SIZE_RULE.match(value):
        raise ValueError(
            f"{value!r} is not an Azure VM size; use a name like Standard_D4s_v5 "
            "(list them with `az vm list-sizes --location <region> -o table`)"
        )
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if len(key) > 253 or not naming.LABEL_KEY_RULE.match(key):
            raise ValueError(f"label key {key!r} is not a Kubernetes label key (e.g. team or example.com/team)")
        if len(value) > 63 or not naming.LABEL_VALUE_RULE.match(value):
            raise ValueError(f"label {key}={value!r}: values are at most 63 letters, digits, '-', '_' or '.'")
    return labels


def check_taints(taints: list[str]) -> list[str]:
    for taint in taints:
        if not TAINT_RULE.match(taint):
            raise ValueError(
                f"taint {taint!r} must look like key=value:Effect with Effect one of NoSchedule, PreferNoSchedule, "
                "NoExecute (e.g. dedicated=modelops:NoSchedule)"
            )
    return taints


class SystemPoolSpec(SpecModel):
    """The always-on pool for Kubernetes' own add-ons."""

    vm_size: str = "Standard_D2s_v5"
    count: int = Field(1, ge=1, le=10)

    _vm = field_validator("vm_size")(classmethod(lambda cls, v: check_vm_size(v)))


class WorkloadPoolSpec(SpecModel):
    """The autoscaling pool where Dask workers and runners run (labelled ``modelops.io/role=cpu``)."""

    vm_size: str = "Standard_D4s_v5"
    min: int = Field(0, ge=0, le=1000)
    max: int = Field(5, ge=1, le=1000)

    _vm = field_validator("vm_size")(classmethod(lambda cls, v: check_vm_size(v)))

    @model_validator(mode="after")
    def _bounds(self) -> WorkloadPoolSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max}); the autoscaler needs min <= max")
        return self


class AksSpec(SpecModel):
    name: str | None = None
    managed: bool = True
    version: str = PINNED_AKS_VERSION
    system_pool: SystemPoolSpec = SystemPoolSpec()
    workload_pool: WorkloadPoolSpec = WorkloadPoolSpec()
    labels: dict[str, str] = {}
    taints: list[str] = []
    network_plugin: Literal["azure", "kubenet"] = "azure"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not naming.AKS_CLUSTER_RULE.match(value):
            raise ValueError(
                f"AKS name {value!r} is not valid: 1-63 letters, digits, '-' and '_', starting and ending with a "
                "letter or digit (or remove it to use modelops-{env}-aks-{user})"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not VERSION_RULE.match(str(value)):
            raise ValueError(
                f"AKS version {value!r} must be pinned as major.minor.patch (e.g. {PINNED_AKS_VERSION}): a floating "
                "version upgrades the cluster behind your back. `mops infra doctor` lists what Azure offers"
            )
        return str(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        if ROLE_LABEL in value:
            raise ValueError(f"{ROLE_LABEL} is set by ModelOps (cpu for the workload pool); remove it from labels")
        return check_labels(value)

    @field_validator("taints")
    @classmethod
    def _taints(cls, value: list[str]) -> list[str]:
        return check_taints(value)


class AcrSpec(SpecModel):
    enabled: bool = True
    name: str | None = None
    sku: Literal["Basic", "Standard", "Premium"] = "Basic"
    # Per-user registries (modelops{env}acr{user}) isolate developers; false gives one shared registry with a
    # random suffix (names are global across Azure).
    per_user: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not naming.ACR_RULE.match(value):
            raise ValueError(
                f"registry name {value!r} is not valid: 5-50 lowercase letters and digits, unique across Azure "
                "(or remove it to use modelops{env}acr{user})"
            )
        return value


class StorageSpec(SpecModel):
    enabled: bool = True
    sku: Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS"] = "Standard_LRS"
    # How pods reach the containers. workload_identity: a managed identity through federated ServiceAccounts (no
    # key or SAS anywhere; the account refuses shared-key requests). sas: the explicit fallback, a read/write SAS
    # in a Kubernetes Secret, for clusters without an OIDC issuer.
    auth: Literal["workload_identity", "sas"] = "workload_identity"
    # Lifetime of the read/write SAS token (auth: sas); `mops storage up` again issues a fresh one.
    sas_days: int = Field(30, ge=1, le=365)


class PostgresNetworkSpec(SpecModel):
    """How the Flexible Server is reached. ``firewall``: public endpoint, closed except to ``allowed_cidrs`` (the
    cluster's egress IPs); ``private``: no public endpoint, in a delegated subnet of your VNet with a private DNS
    zone (the subnet's CIDR then goes in the adaptive spec's central_store.egress_cidr)."""

    mode: Literal["firewall", "private"] = "firewall"
    allowed_cidrs: list[str] = []
    delegated_subnet_id: str | None = None
    private_dns_zone_id: str | None = None

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        import ipaddress

        out = []
        for cidr in value:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IPv4 CIDR such as 20.1.2.3/32") from None
            if net.version != 4 or net.prefixlen < 8:
                raise ValueError(
                    f"{cidr!r} opens the server to {net.num_addresses} addresses; give the cluster's egress IPs "
                    "(`az network public-ip show --ids $(az aks show ... --query "
                    "networkProfile.loadBalancerProfile.effectiveOutboundIPs[].id -o tsv) --query ipAddress`)"
                )
            out.append(str(net))
        return out

    @model_validator(mode="after")
    def _mode_fields(self) -> PostgresNetworkSpec:
        if self.mode == "private" and not (self.delegated_subnet_id and self.private_dns_zone_id):
            raise ValueError("mode private needs delegated_subnet_id and private_dns_zone_id (resource ids)")
        if self.mode == "firewall" and (self.delegated_subnet_id or self.private_dns_zone_id):
            raise ValueError("delegated_subnet_id/private_dns_zone_id apply only to mode: private")
        if self.mode == "firewall" and not self.allowed_cidrs:
            raise ValueError(
                "mode firewall with no allowed_cidrs lets nothing in; add the cluster's egress IPs (e.g. "
                "[20.1.2.3/32]) after the first `mops infra up`, or use mode: private"
            )
        return self


class PostgresServerSpec(SpecModel):
    """Azure Database for PostgreSQL Flexible Server for ``central_store: {kind: managed}`` runs."""

    enabled: bool = True
    version: Literal["14", "15", "16"] = "16"
    sku: str = "Standard_B2ms"
    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = "Burstable"
    storage_gb: int = Field(32, ge=32, le=16384)
    high_availability: bool = False
    backup_retention_days: int = Field(7, ge=7, le=35)
    geo_redundant_backup: bool = False
    admin_user: str = "modelops_admin"
    # No default: who may reach the database is a decision, not something to guess.
    network: PostgresNetworkSpec

    @field_validator("sku")
    @classmethod
    def _sku(cls, value: str) -> str:
        if not VM_SIZE_RULE.match(value):
            raise ValueError(f"{value!r} is not a Flexible Server SKU name such as Standard_B2ms or Standard_D2ds_v5")
        return value

    @field_validator("admin_user")
    @classmethod
    def _admin(cls, value: str) -> str:
        reserved = {"azure_superuser", "azure_pg_admin", "admin", "administrator", "root", "guest", "public"}
        if not re.match(r"^[a-z][a-z0-9_]{0,62}$", value) or value in reserved or value.startswith("pg_"):
            raise ValueError(f"admin_user {value!r}: a lowercase identifier, not a name Azure reserves")
        return value

    @model_validator(mode="after")
    def _ha(self) -> PostgresServerSpec:
        if self.high_availability and self.tier == "Burstable":
            raise ValueError("high_availability needs tier GeneralPurpose or MemoryOptimized (Burstable has no HA)")
        return self


class SshSpec(SpecModel):
    """How the AKS Linux profile gets its SSH public key (AKS requires one; nobody needs the private key)."""

    mode: Literal["ephemeral", "path", "env"] = "ephemeral"
    pubkey_path: str | None = None
    pubkey_env: str | None = None

    @model_validator(mode="after")
    def _mode_fields(self) -> SshSpec:
        if self.mode != "path" and self.pubkey_path is not None:
            raise ValueError("pubkey_path applies only to mode: path; remove it or set mode: path")
        if self.mode != "env" and self.pubkey_env is not None:
            raise ValueError("pubkey_env applies only to mode: env; remove it or set mode: env")
        return self

    @property
    def path(self) -> Path:
        return Path(self.pubkey_path or "~/.ssh/id_ed25519.pub").expanduser()

    @property
    def env_var(self) -> str:
        return self.pubkey_env or "MODELOPS_SSH_PUBKEY"


class ServicePrincipalSpec(SpecModel):
    client_id: str
    # The secret itself never goes in YAML: name the environment variable that holds it.
    client_secret_env: str = "ARM_CLIENT_SECRET"

    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "client_secret" in data:
            raise ValueError(
                "client_secret must not be written in the config; export it and name the variable in "
                "client_secret_env (default ARM_CLIENT_SECRET)"
            )
        return data

    _id = field_validator("client_id")(classmethod(lambda cls, v: _uuid(v, "client_id")))


class AuthSpec(SpecModel):
    use_azure_cli: bool = True
    service_principal: ServicePrincipalSpec | None = None

    @model_validator(mode="after")
    def _one_way(self) -> AuthSpec:
        if not self.use_azure_cli and self.service_principal is None:
            raise ValueError("use_azure_cli is false: add service_principal {client_id, client_secret_env}")
        return self


class AzureProviderSpec(SpecModel):
    """Azure from zero: one subscription, one region, per-user resource group, AKS, optional ACR and storage."""

    provider: Literal["azure"] = "azure"
    subscription_id: str
    tenant_id: str | None = None
    location: str
    resource_group: str | None = None
    username: str | None = None
    aks: AksSpec = AksSpec()
    acr: AcrSpec | None = None
    storage: StorageSpec = StorageSpec()
    postgres: PostgresServerSpec | None = None
    ssh: SshSpec = SshSpec()
    auth: AuthSpec = AuthSpec()
    tags: dict[str, str] = {}

    @field_validator("subscription_id")
    @classmethod
    def _sub(cls, value: str) -> str:
        return _uuid(value, "subscription_id")

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        return None if value is None else _uuid(value, "tenant_id")

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if not LOCATION_RULE.match(value):
            raise ValueError(
                f"location {value!r} is not an Azure region name; use the short form like eastus2 or westeurope "
                "(`az account list-locations -o table`)"
            )
        return value

    @field_validator("resource_group")
    @classmethod
    def _rg(cls, value: str | None) -> str | None:
        if value is not None and not naming.RESOURCE_GROUP_RULE.match(value):
            raise ValueError(
                f"resource group {value!r} is not valid: 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending "
                "in '.' (or remove it to use modelops-{env}-rg-{user})"
            )
        return value


class KubeconfigProviderSpec(SpecModel):
    """An existing cluster (AKS, kind, k3d...): no infra stack; the workspace and adaptive planes use this file."""

    provider: Literal["kubeconfig"] = "kubeconfig"
    kubeconfig: str = "~/.kube/config"
    context: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.kubeconfig).expanduser()


# The AWS and GCP provider configs live in their own module (imported here so ``provider:`` can name them).
from modelops.specs.provider_clouds import AwsProviderSpec, GcpProviderSpec  # noqa: E402

ProviderSpec = Annotated[
    AzureProviderSpec | KubeconfigProviderSpec | AwsProviderSpec | GcpProviderSpec, Field(discriminator="provider")
]
AnyProviderSpec = AzureProviderSpec | KubeconfigProviderSpec | AwsProviderSpec | GcpProviderSpec
# ``provider:`` value -> its config model (one line per provider).
PROVIDER_SPECS: dict[str, type[SpecModel]] = {
    "azure": AzureProviderSpec,
    "kubeconfig": KubeconfigProviderSpec,
    "aws": AwsProviderSpec,
    "gcp": GcpProviderSpec,
}


def parse_provider(data: Any, source: str = "provider config") -> AnyProviderSpec:
    """Validate a provider mapping; ``provider:`` picks the kind (azure when absent)."""
    if isinstance(data, dict):
        kind = data.get("provider", "azure")
        if kind not in PROVIDER_SPECS:
            known = ", ".join(PROVIDER_SPECS)
            raise SpecError(source, [("provider", f"unknown provider {kind!r}; use one of {known}")])
        return parse_spec(PROVIDER_SPECS[kind], data, source)  # type: ignore[return-value]
    return parse_spec(AzureProviderSpec, data, source)


def load_provider(path: str | Path) -> AnyProviderSpec:
    """Read and validate a provider config file (SpecError naming each bad field and its fix)."""
    return parse_provider(read_yaml(path), source=str(path))
