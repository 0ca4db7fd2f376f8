"""Checks against the Azure CLI: who is logged in, and which AKS versions a region offers. Used by ``mops infra
doctor`` and before ``up`` (Pulumi's azure-native provider authenticates through the same ``az`` login)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from modelops.infra.automation import AzureLoginMissing, InfraError
from modelops.specs.provider import AzureProviderSpec

AZ_ENV = "MODELOPS_AZ"  # path of the az executable, when it is not on PATH
INSTALL_HINT = "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli), then run `az login`"


@dataclass(frozen=True)
class AzureAccount:
    subscription_id: str
    tenant_id: str
    user: str


def _az() -> str:
    path = os.environ.get(AZ_ENV) or shutil.which("az")
    if not path:
        raise AzureLoginMissing("the Azure CLI (az) was not found", hint=INSTALL_HINT)
    return path


def _run(args: list[str], timeout: float = 60) -> Any:
    try:
        result = subprocess.run([_az(), *args, "--output", "json"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AzureLoginMissing(f"the Azure CLI did not run: {exc}", hint=INSTALL_HINT) from None
    if result.returncode != 0:
        raise _failure(args, result.stderr)
    return json.loads(result.stdout or "null")


def _failure(args: list[str], stderr: str) -> InfraError:
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
    if "az login" in stderr or "not logged in" in stderr.lower() or "AADSTS" in stderr:
        return AzureLoginMissing(f"not logged in to Azure ({text})", hint="run `az login` (and `az account set ...`)")
    return InfraError(f"`az {' '.join(args)}` failed: {text}")


def current_account() -> AzureAccount:
    """The logged-in account (``az account show``); AzureLoginMissing with what to run when there is none."""
    data = _run(["account", "show"])
    return AzureAccount(
        subscription_id=str(data.get("id", "")).lower(),
        tenant_id=str(data.get("tenantId", "")).lower(),
        user=str((data.get("user") or {}).get("name", "")),
    )


def check_login(spec: AzureProviderSpec) -> AzureAccount | None:
    """Fail clearly unless Pulumi will be able to authenticate as the spec says: the az login (matching the spec's
    subscription) or a service principal whose secret is in the named environment variable."""
    if not spec.auth.use_azure_cli:
        sp = spec.auth.service_principal
        assert sp is not None  # the spec guarantees it
        if not os.environ.get(sp.client_secret_env):
            raise AzureLoginMissing(
                f"service principal auth: ${sp.client_secret_env} is not set",
                hint=f"export {sp.client_secret_env}=<the client secret of {sp.client_id}>",
            )
        return None
    account = current_account()
    if account.subscription_id != spec.subscription_id:
        raise AzureLoginMissing(
            f"az is logged in to subscription {account.subscription_id}, but the config says {spec.subscription_id}",
            hint=f"run `az account set --subscription {spec.subscription_id}`",
        )
    return account


def aks_versions(location: str) -> list[str]:
    """The AKS Kubernetes versions (major.minor.patch) offered in ``location``, newest first."""
    data = _run(["aks", "get-versions", "--location", location])
    versions: set[str] = set()
    for entry in (data or {}).get("values", []) or []:  # current format: minors with patch versions
        versions.update((entry.get("patchVersions") or {}).keys())
    for entry in (data or {}).get("orchestrators", []) or []:  # older az releases
        if entry.get("orchestratorVersion"):
            versions.add(entry["orchestratorVersion"])
    return sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")), reverse=True)
