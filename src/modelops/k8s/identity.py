"""Workload identity for pods: a federated ServiceAccount and a projected token, no key or SAS anywhere.

On AKS with the OIDC issuer and workload identity enabled, a pod that presents a Kubernetes ServiceAccount token
(audience ``api://AzureADTokenExchange``) can exchange it for an Entra ID token of a user-assigned identity, once
that identity holds a federated credential for ``system:serviceaccount:<namespace>:<name>``. azure-identity's
``WorkloadIdentityCredential`` (first in ``DefaultAzureCredential``'s chain) does the exchange when it finds
AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE; adlfs uses ``DefaultAzureCredential`` for
``az://`` URLs when only AZURE_STORAGE_ACCOUNT_NAME is set and anonymous access is off.

The manifests project the token and set those variables themselves, rather than relying on the workload-identity
webhook's mutation: what `render` prints is then exactly what the pod gets (and what is validated and scanned), and
it works on any cluster whose issuer Entra ID trusts. The pods do not carry the webhook's
``azure.workload.identity/use`` label, so the webhook leaves them alone (no second volume or variables).
None of these values is secret: a client id and a tenant id only name things; the token is short-lived and
rotated by the kubelet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelops.core.naming import GUID_RULE, STORAGE_ACCOUNT_RULE
from modelops.k8s.common import Manifest, metadata

TOKEN_AUDIENCE = "api://AzureADTokenExchange"
TOKEN_VOLUME = "azure-identity-token"
TOKEN_MOUNT = "/var/run/secrets/azure/tokens"
TOKEN_PATH = "azure-identity-token"
# An hour: the shortest the kubelet accepts is 10 minutes; it refreshes at 80% of the lifetime.
TOKEN_SECONDS = 3600
SERVICE_ACCOUNT = "modelops-workload"
AUTHORITY_HOST = "https://login.microsoftonline.com/"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"


def federated_subject(namespace: str, service_account: str = SERVICE_ACCOUNT) -> str:
    """The subject a federated identity credential must name for pods of this ServiceAccount."""
    return f"system:serviceaccount:{namespace}:{service_account}"


@dataclass(frozen=True)
class WorkloadIdentity:
    """Which identity the pods act as and which storage account they reach (plain, non-secret values)."""

    client_id: str
    tenant_id: str
    storage_account: str
    service_account: str = SERVICE_ACCOUNT
    authority_host: str = AUTHORITY_HOST

    def __post_init__(self) -> None:
        for what, value in (("client_id", self.client_id), ("tenant_id", self.tenant_id)):
            if not GUID_RULE.match(value):
                raise ValueError(
                    f"workload identity {what} {value!r} is not a GUID; it is the storage stack's identity_client_id "
                    "/ identity_tenant_id output (`mops storage status`)"
                )
        if not STORAGE_ACCOUNT_RULE.match(self.storage_account):
            raise ValueError(f"storage account {self.storage_account!r} must be 3-24 lowercase letters and digits")

    def service_account_manifest(self, ns: str, lbls: Mapping[str, str]) -> Manifest:
        """The federated ServiceAccount. Its API token is not mounted: the pods get only the projected, audience-
        bound token below, useless against the Kubernetes API."""
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(
                self.service_account,
                ns,
                lbls,
                {CLIENT_ID_ANNOTATION: self.client_id, TENANT_ID_ANNOTATION: self.tenant_id},
            ),
            "automountServiceAccountToken": False,
        }

    def env(self) -> list[dict[str, Any]]:
        """What azure-identity's WorkloadIdentityCredential and adlfs read (no credential among them)."""
        return [
            {"name": "AZURE_CLIENT_ID", "value": self.client_id},
            {"name": "AZURE_TENANT_ID", "value": self.tenant_id},
            {"name": "AZURE_FEDERATED_TOKEN_FILE", "value": f"{TOKEN_MOUNT}/{TOKEN_PATH}"},
            {"name": "AZURE_AUTHORITY_HOST", "value": self.authority_host},
            {"name": "AZURE_STORAGE_ACCOUNT_NAME", "value": self.storage_account},
            # adlfs falls back to anonymous access when AZURE_STORAGE_ANON is true; say false so that it asks
            # DefaultAzureCredential (and so the workload identity) instead.
            {"name": "AZURE_STORAGE_ANON", "value": "false"},
        ]

    def volume(self) -> dict[str, Any]:
        return {
            "name": TOKEN_VOLUME,
            "projected": {
                "defaultMode": 0o440,
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": TOKEN_AUDIENCE,
                            "expirationSeconds": TOKEN_SECONDS,
                            "path": TOKEN_PATH,
                        }
                    }
                ],
            },
        }

    def mount(self) -> dict[str, Any]:
        return {"name": TOKEN_VOLUME, "mountPath": TOKEN_MOUNT, "readOnly": True}

    def manifests(self, ns: str, lbls: Mapping[str, str]) -> list[Manifest]:
        return [self.service_account_manifest(ns, lbls)]

    def volumes(self) -> list[dict[str, Any]]:
        return [self.volume()]

    def mounts(self) -> list[dict[str, Any]]:
        return [self.mount()]

    def subject(self, ns: str) -> str:
        return federated_subject(ns, self.service_account)


# What a cloud storage stack may hand to pods as plain environment: where its buckets are, and the region or project.
# Anything else in its ``env`` output is refused, so a credential can never reach a manifest's plain env this way.
CLOUD_STORE_ENV = frozenset(
    {"MODELOPS_RESULTS_URL", "MODELOPS_CACHE_URL", "MODELOPS_BUNDLES_URL", "AWS_REGION", "GOOGLE_CLOUD_PROJECT"}
)


@dataclass(frozen=True)
class CloudPodIdentity:
    """How pods on EKS or GKE reach the storage stack's buckets: as their namespace's ``default`` ServiceAccount.

    On EKS the storage stack associates that ServiceAccount with the buckets' role (EKS Pod Identity: the cluster's
    agent hands the pods short-lived credentials); on GKE the namespace itself is the IAM principal (Workload Identity
    Federation for GKE: the metadata server does). Either way no ServiceAccount, token volume or credential goes into
    the manifests: the pods only need to know where the buckets are (``env``), and run as ``default``.
    """

    scheme: str  # the buckets' URL scheme (s3, gs), for messages
    env_vars: Mapping[str, str]
    service_account: str | None = None  # None: the namespace's default, the one the stack's association names

    def __post_init__(self) -> None:
        unknown = sorted(set(self.env_vars) - CLOUD_STORE_ENV)
        if unknown:
            raise IdentityConfigError(
                f"the storage stack's env output has {', '.join(unknown)}, which pods do not get as plain values "
                f"(allowed: {', '.join(sorted(CLOUD_STORE_ENV))}); run `mops storage up` with this version"
            )

    def manifests(self, ns: str, lbls: Mapping[str, str]) -> list[Manifest]:
        return []

    def env(self) -> list[dict[str, Any]]:
        return [{"name": k, "value": str(v)} for k, v in sorted(self.env_vars.items())]

    def volumes(self) -> list[dict[str, Any]]:
        return []

    def mounts(self) -> list[dict[str, Any]]:
        return []


PodIdentity = WorkloadIdentity | CloudPodIdentity
"""Who the plane's pods act as towards the object store: Azure workload identity, or EKS/GKE pod identity."""


class IdentityConfigError(ValueError):
    """Workload identity was asked for, but what it needs is missing; the message names it."""


def cloud_pod_identity(access: Any, scheme: str, env: Mapping[str, str]) -> CloudPodIdentity:
    """The pods' identity on AWS or GCP, from the storage stack's ``env`` output. ``access`` (the spec's
    ``object_store`` block) configures Azure access only, so any field set in it is a mistake worth naming."""
    azure_only = [f"object_store.{k}" for k in ("auth", "client_id", "tenant_id", "storage_account")
                  if getattr(access, k, None)]  # fmt: skip
    if azure_only:
        raise IdentityConfigError(
            f"{', '.join(azure_only)} configure Azure storage access, but the storage stack's buckets are "
            f"{scheme}:// URLs, which pods reach by pod identity: remove them from the spec"
        )
    return CloudPodIdentity(scheme, dict(env))


def resolve_identity(access: Any, binding: Any | None = None) -> WorkloadIdentity | None:
    """The workload identity the pods use, or None for the SAS fallback.

    ``access`` is a spec's ``object_store`` block (``ObjectStoreAccess``); ``binding`` the storage stack's
    ``StorageBinding`` when there is one. The spec's ``auth`` wins; unset, the storage stack's mode decides, and
    without a stack, workload identity when the spec names a client id. Values come from the spec, else the stack.
    """
    mode = access.auth or (binding.mode if binding is not None else None)
    if mode is None:
        mode = "workload_identity" if access.client_id else "sas"
    if mode == "sas":
        return None
    if binding is not None and binding.mode == "sas" and not access.client_id:
        raise IdentityConfigError(
            "object_store.auth is workload_identity, but the storage stack is in sas mode (no identity); set "
            "storage.auth: workload_identity in the provider config and run `mops storage up`, or use auth: sas"
        )
    values = {
        "client_id": access.client_id or (binding.identity_client_id if binding is not None else None),
        "tenant_id": access.tenant_id or (binding.identity_tenant_id if binding is not None else None),
        "storage_account": access.storage_account or (binding.account_name if binding is not None else None),
    }
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise IdentityConfigError(
            f"workload identity needs object_store.{', object_store.'.join(missing)}: bring up the storage stack "
            "(`mops storage up`, which provides them) or write them in the spec (`mops storage status` shows "
            "identity_client_id, identity_tenant_id and account_name; none is a secret)"
        )
    return WorkloadIdentity(**values)
