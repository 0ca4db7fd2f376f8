"""Manifests for a run on the managed store (Azure Database for PostgreSQL Flexible Server).

No password is in any manifest or Kubernetes Secret. Two passwords exist, both in Key Vault: the server admin's
(made by the infra stack) and the run's runtime role's (made by the run's stack, or by hand for `render`). Pods read
them through the Secrets Store CSI driver, authenticated by workload identity:

- the bootstrap Job runs as ServiceAccount ``modelops-store-admin``, federated with the *store admin* identity (Key
  Vault Secrets User on the admin secret and this run's runtime secret only), and mounts both;
- the runners run as ``modelops-workload`` (the workspace identity, Secrets User on this run's runtime secret only)
  and mount only the runtime password, which their command hands to libpq as PGPASSWORD.

So neither the Dask workers (which run user code, as the workspace identity) nor the runners can read the admin
password. TLS: PGSSLMODE=verify-full with PGSSLROOTCERT=system (libpq 16+ checks the server against the system
CAs; Azure's certificates chain to public roots), or ``require`` if the spec says so. A NetworkPolicy opens
egress to the server's port only (to its subnet's CIDR with private access).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.k8s import network
from modelops.k8s.common import IMAGE_DIGEST_SKIP, Manifest, checkov_skips, container, labels, metadata, pod_spec
from modelops.k8s.identity import WorkloadIdentity
from modelops.specs.adaptive import ManagedStore

CSI_DRIVER = "secrets-store.csi.k8s.io"
SPC_API = "secrets-store.csi.x-k8s.io/v1"
SECRETS_MOUNT = "/mnt/modelops/postgres"
ADMIN_FILE = "admin-password"
RUNTIME_FILE = "runtime-password"
ADMIN_KV_SECRET = "pg-admin-password"
STORE_ADMIN_SA = "modelops-store-admin"


class ManagedStoreError(ValueError):
    """A managed-store run lacks something it needs (host, vault, identity); the message names it."""


def runtime_kv_secret(slug: str) -> str:
    """The Key Vault secret holding one run's runtime password (1-127 of letters, digits and '-')."""
    return f"pg-runtime-{slug}"[:127]


def _sql_name(slug: str) -> str:
    return slug.replace("-", "_")[:50]


@dataclass(frozen=True)
class ManagedStoreTarget:
    """Where one run's store is: server, names, vault, and the store admin identity (all plain, non-secret)."""

    host: str
    port: int
    admin_user: str
    database: str
    user: str
    schema: str
    key_vault: str
    admin_client_id: str
    sslmode: str
    egress_cidr: str
    slug: str

    @classmethod
    def resolve(
        cls,
        store: ManagedStore,
        slug: str,
        *,
        host: str | None = None,
        admin_user: str | None = None,
        key_vault: str | None = None,
        admin_client_id: str | None = None,
    ) -> ManagedStoreTarget:
        """The spec's values, else the infra stack's (``host`` etc.); ManagedStoreError naming what is missing."""
        values = {
            "host": store.host or host,
            "admin_user": store.admin_user or admin_user,
            "key_vault": store.key_vault or key_vault,
            "admin_client_id": store.admin_client_id or admin_client_id,
        }
        missing = [k for k, v in values.items() if not v]
        if missing:
            raise ManagedStoreError(
                f"central_store kind managed needs {', '.join(missing)}: bring up the infra stack with "
                "`postgres:` in the provider config (`mops infra up`), which provides them, or, to render without "
                "Pulumi, set central_store.host/admin_user/key_vault/admin_client_id (`mops infra status`: "
                "postgres_fqdn, postgres_admin_user, key_vault_name, store_admin_client_id)"
            )
        name = f"optuna_{_sql_name(slug)}"
        return cls(
            host=str(values["host"]),
            port=store.port,
            admin_user=str(values["admin_user"]),
            database=store.database or name,
            user=store.user or name,
            schema=store.schema_name,
            key_vault=str(values["key_vault"]),
            admin_client_id=str(values["admin_client_id"]),
            sslmode=store.sslmode,
            egress_cidr=store.egress_cidr,
            slug=slug,
        )

    @property
    def runtime_secret(self) -> str:
        return runtime_kv_secret(self.slug)

    def libpq_env(self, user: str) -> list[dict[str, str]]:
        env = [
            {"name": "PGHOST", "value": self.host},
            {"name": "PGPORT", "value": str(self.port)},
            {"name": "PGUSER", "value": user},
            {"name": "PGSSLMODE", "value": self.sslmode},
            {"name": "PGCONNECT_TIMEOUT", "value": "15"},
        ]
        if self.sslmode == "verify-full":
            env.append({"name": "PGSSLROOTCERT", "value": "system"})
        return env


def _spc(name: str, ns: str, lbls: dict[str, str], target: ManagedStoreTarget, client_id: str, tenant_id: str,
         objects: dict[str, str]) -> Manifest:  # fmt: skip
    # The provider's `objects` parameter is YAML text: one entry per Key Vault secret, aliased to a file name.
    entries = "".join(
        f"    - |\n      objectName: {kv}\n      objectType: secret\n      objectAlias: {alias}\n"
        for alias, kv in objects.items()
    )
    return {
        "apiVersion": SPC_API,
        "kind": "SecretProviderClass",
        "metadata": metadata(name, ns, lbls),
        "spec": {
            "provider": "azure",
            "parameters": {
                "usePodIdentity": "false",
                "useVMManagedIdentity": "false",
                "clientID": client_id,
                "keyvaultName": target.key_vault,
                "tenantId": tenant_id,
                "objects": "array:\n" + entries,
            },
        },
    }


def csi_volume(spc_name: str) -> dict[str, Any]:
    return {
        "name": "pg-secrets",
        "csi": {"driver": CSI_DRIVER, "readOnly": True, "volumeAttributes": {"secretProviderClass": spc_name}},
    }


def csi_mount() -> dict[str, Any]:
    return {"name": "pg-secrets", "mountPath": SECRETS_MOUNT, "readOnly": True}


def runner_command(args: list[str]) -> tuple[list[str], list[str]]:
    """(command, args) that hand the mounted runtime password to libpq and exec `mops run` with ``args``.

    libpq has no "password file" variable for a bare password, and the password must not sit in the manifest, so
    a shell reads the file into PGPASSWORD for the `mops run` process only."""
    script = f'PGPASSWORD="$(cat {SECRETS_MOUNT}/{RUNTIME_FILE})" exec mops run "$@"'
    return ["sh", "-c", script, "mops-run"], list(args)


def build_managed_store(
    target: ManagedStoreTarget,
    ns: str,
    identity: WorkloadIdentity,
    image: str,
    *,
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
) -> tuple[list[Manifest], Manifest]:
    """(the run's store objects: admin ServiceAccount, two SecretProviderClasses, egress policy; the bootstrap Job)."""
    lbls = labels("managed-store", target.slug, **{"app.kubernetes.io/component": "central-store"})
    admin_identity = WorkloadIdentity(
        target.admin_client_id, identity.tenant_id, identity.storage_account, service_account=STORE_ADMIN_SA
    )
    bootstrap_spc, runtime_spc = f"pg-{target.slug}-bootstrap", f"pg-{target.slug}-runtime"
    out: list[Manifest] = [
        admin_identity.service_account_manifest(ns, lbls),
        _spc(bootstrap_spc, ns, lbls, target, target.admin_client_id, identity.tenant_id,
             {ADMIN_FILE: ADMIN_KV_SECRET, RUNTIME_FILE: target.runtime_secret}),
        _spc(runtime_spc, ns, lbls, target, identity.client_id, identity.tenant_id,
             {RUNTIME_FILE: target.runtime_secret}),
        network.egress_to_cidr(ns, "allow-egress-to-postgres", target.egress_cidr, target.port),
    ]  # fmt: skip
    job_lbls = {**lbls, "app.kubernetes.io/component": "central-store-bootstrap"}
    args = [
        "adaptive",
        "bootstrap-store",
        "--database",
        target.database,
        "--user",
        target.user,
        "--schema",
        target.schema,
        "--admin-password-file",
        f"{SECRETS_MOUNT}/{ADMIN_FILE}",
        "--runtime-password-file",
        f"{SECRETS_MOUNT}/{RUNTIME_FILE}",
    ]
    c = container(
        "bootstrap",
        image,
        command=["mops"],
        args=args,
        env=target.libpq_env(target.admin_user),
        resources={"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        # The CSI driver fetches the secrets with the pod's ServiceAccount token itself (a TokenRequest): the
        # container needs neither the token nor any Azure variable.
        mounts=[csi_mount()],
    )
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(f"pg-{target.slug}-bootstrap", ns, job_lbls, checkov_skips(IMAGE_DIGEST_SKIP)),
        "spec": {
            "backoffLimit": 10,
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": job_lbls},
                "spec": pod_spec(
                    [c],
                    volumes=[csi_volume(bootstrap_spc)],
                    node_selector=node_selector,
                    tolerations=tolerations or (),
                    restart_policy="OnFailure",
                    service_account=STORE_ADMIN_SA,
                ),
            },
        },
    }
    return out, job


def runtime_spc_name(target: ManagedStoreTarget) -> str:
    return f"pg-{target.slug}-runtime"
