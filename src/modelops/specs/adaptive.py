"""The adaptive spec (`kind: Adaptive`): one study run on Kubernetes, its runners and its central store.

```yaml
apiVersion: modelops/v1
kind: Adaptive
metadata: {name: sir-calibration}
spec:
  study: sir/study.yaml            # the `mops run` study; relative to this file
  workspace: {namespace: modelops-dev}
  runners: {replicas: 2}           # several `mops run` processes sharing one study (needs the central store)
  central_store: {kind: postgres, storage_class: managed-csi-premium, size: 10Gi}
  results: {url: az://modelops-results/runs}   # default: a PVC in the run's namespace
```

Each run gets its own namespace (``modelops-<run-slug>``), chosen from the run id at `mops adaptive up`, so two runs
of the same spec never touch each other's objects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from modelops.specs.base import SpecError, SpecModel, load_spec, read_yaml
from modelops.specs.workspace import (
    ImagePull,
    Metadata,
    ObjectStoreAccess,
    Placement,
    Resources,
    check_dns_label,
    parse_quantity,
    resources,
)

# Pinned: the in-cluster store's major version decides its on-disk format, so it never floats.
DEFAULT_POSTGRES_IMAGE = "docker.io/library/postgres:16.4-bookworm"


class Pooler(SpecModel):
    """PgBouncer in transaction pooling mode between the runners and the store (k8s/pooler.py says why and what
    it rules out). ``pool_size`` is a hard cap on the store's connections from this run."""

    pool_size: int = Field(10, ge=1, le=500)
    max_client_conn: int = Field(500, ge=10, le=10000)
    image: str = "docker.io/edoburu/pgbouncer:v1.23.1-p3"


class Backup(SpecModel):
    """pg_dump of the in-cluster store to the object store on a cron ``schedule`` (UTC), keeping the newest
    ``keep``; ``url`` defaults to ``<results url>-backups/<run id>``. Restore: `mops adaptive restore`."""

    schedule: str = "0 */6 * * *"
    keep: int = Field(7, ge=1, le=365)
    url: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(re.match(r"^[\d*/,\-]+$", f) for f in fields):
            raise ValueError(f"schedule {value!r} is not a 5-field cron expression such as '0 */6 * * *'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"{value!r} is not an object-store URL; use az://container/prefix")
        return value


def _pooler(value: Any) -> Any:
    # `pooler: true` is the short form of `pooler: {}`; false means none.
    if value is True:
        return {}
    if value is False:
        return None
    return value


class CentralStore(Placement):
    """The in-cluster PostgreSQL that several runners share (Optuna's RDB storage)."""

    kind: Literal["postgres"] = "postgres"
    image: str = DEFAULT_POSTGRES_IMAGE
    storage_class: str = "managed-csi-premium"
    size: str = "10Gi"
    database: str = "optuna"
    user: str = "optuna"
    resources: Resources = Field(default_factory=lambda: resources("250m", "512Mi", "1", "1Gi"))
    pooler: Pooler | None = None
    backup: Backup | None = None

    _pool = field_validator("pooler", mode="before")(classmethod(lambda cls, v: _pooler(v)))

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if parse_quantity(value) < 2**30:
            raise ValueError(f"size {value!r} is below 1Gi; give the database at least 1Gi (e.g. 10Gi)")
        return value

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str) -> str:
        return check_dns_label(value, "storage_class")

    @field_validator("database", "user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        # These go into SQL as identifiers; a plain lowercase name needs no quoting and cannot inject.
        if not value.replace("_", "a").isalnum() or not value[0].isalpha() or not value.islower() or len(value) > 63:
            raise ValueError(f"{value!r} must be a lowercase SQL identifier (letters, digits, '_'; a letter first)")
        if value in ("postgres", "template0", "template1"):
            raise ValueError(f"{value!r} is reserved by PostgreSQL; choose another name")
        return value


class ManagedStore(SpecModel):
    """Azure Database for PostgreSQL Flexible Server, provisioned by the infra stack (provider config ``postgres:``).

    Each run gets its own database and runtime role on the shared server (``optuna_<run>`` unless ``database`` /
    ``user`` are given), made by an idempotent bootstrap Job that logs in as the server's admin; the runners log in
    as the runtime role, which owns only the study's schema. Passwords live in Key Vault and reach pods through the
    Secrets Store CSI driver (never a Kubernetes Secret). ``host``, ``admin_user``, ``key_vault`` default to the
    infra stack's outputs; set them to `render` without Pulumi.
    """

    kind: Literal["managed"]
    host: str | None = None
    port: int = Field(5432, ge=1, le=65535)
    database: str | None = None
    user: str | None = None
    schema_name: str = Field("optuna", alias="schema")
    admin_user: str | None = None
    key_vault: str | None = None
    # The store admin identity's client id (the bootstrap Job reads the admin password as it); not a secret.
    admin_client_id: str | None = None
    # verify-full checks the server's certificate against the system CAs (libpq's sslrootcert=system): Azure's
    # certificates chain to public roots. require encrypts without checking who answers; never less.
    sslmode: Literal["verify-full", "require"] = "verify-full"
    # NetworkPolicy egress to the server on its port: the delegated subnet's CIDR with private access. With public
    # access (firewall) the server has no stable address a NetworkPolicy can name, so the default allows the port
    # to any address (the server's firewall admits only the cluster's egress IPs).
    egress_cidr: str = "0.0.0.0/0"
    pooler: Pooler | None = None

    _pool = field_validator("pooler", mode="before")(classmethod(lambda cls, v: _pooler(v)))

    @field_validator("database", "user", "admin_user", "schema_name")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.replace("_", "a").isalnum() or not value[0].isalpha() or not value.islower() or len(value) > 63:
            raise ValueError(f"{value!r} must be a lowercase SQL identifier (letters, digits, '_'; a letter first)")
        if value in ("postgres", "template0", "template1", "public", "azure_maintenance", "azure_sys"):
            raise ValueError(f"{value!r} is reserved on Azure PostgreSQL; choose another name")
        return value

    @field_validator("egress_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        import ipaddress

        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"egress_cidr {value!r} is not a CIDR such as 10.10.2.0/24") from None

    @field_validator("key_vault")
    @classmethod
    def _vault(cls, value: str | None) -> str | None:
        import re

        if value is not None and not re.match(r"^[a-zA-Z][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]$", value):
            raise ValueError(f"key_vault {value!r} is not a Key Vault name (3-24 letters, digits and '-')")
        return value


class Runners(Placement):
    replicas: int = Field(1, ge=1, le=64)
    resources: Resources = Field(default_factory=lambda: resources("1", "2Gi", "2", "4Gi"))


class WorkspaceRef(SpecModel):
    namespace: str = Field(description="The namespace of the workspace whose Dask scheduler the runners use.")
    scheduler_address: str | None = Field(
        None, description="Override the scheduler address (default tcp://dask-scheduler.<namespace>:8786)."
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_dns_label(value, "workspace.namespace")


class Results(SpecModel):
    """Where run records go: an object-store URL (az://container/prefix), else a PVC in the run's namespace."""

    url: str | None = None
    storage_class: str = "managed-csi"
    size: str = "5Gi"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"{value!r} is not an object-store URL; use az://container/prefix or omit it for a PVC")
        return value


class AdaptiveBody(SpecModel):
    study: str = Field(description="Path of the study YAML (`mops run` spec), relative to this file.")
    study_mount: str = Field(
        "/etc/modelops/study",
        description=(
            "Where the runner pods see the study's directory. The runner puts the study's model.project on the "
            "workers' sys.path as this path, so set it to where the image holds the same project (e.g. "
            "/app/examples/sir for the examples baked into the modelops image) for the workers to import the model."
        ),
    )
    image: str | None = None
    image_pull: ImagePull = Field(default_factory=ImagePull)
    workspace: WorkspaceRef
    runners: Runners = Field(default_factory=Runners)
    central_store: Annotated[CentralStore | ManagedStore, Field(discriminator="kind")] | None = None
    results: Results = Field(default_factory=Results)
    object_store: ObjectStoreAccess = Field(default_factory=ObjectStoreAccess)

    @model_validator(mode="before")
    @classmethod
    def _store_kind(cls, data: Any) -> Any:
        # `central_store: {}` has always meant the in-cluster PostgreSQL.
        if isinstance(data, dict) and isinstance(data.get("central_store"), dict):
            store = data["central_store"]
            if "kind" not in store:
                data = {**data, "central_store": {"kind": "postgres", **store}}
        return data

    @model_validator(mode="after")
    def _replicas_need_store(self) -> AdaptiveBody:
        if self.runners.replicas > 1 and self.central_store is None:
            raise ValueError(
                f"runners.replicas is {self.runners.replicas} but there is no central_store: runners can only share "
                "a study through PostgreSQL; add `central_store: {kind: postgres}` or set runners.replicas: 1"
            )
        return self

    @model_validator(mode="after")
    def _managed_needs_identity(self) -> AdaptiveBody:
        # Key Vault is read through the workload identity: the SAS mode has no identity to read it with.
        if isinstance(self.central_store, ManagedStore) and self.object_store.auth == "sas":
            raise ValueError(
                "central_store kind managed reads its passwords from Key Vault through the workload identity; "
                "object_store.auth: sas has none. Use object_store.auth: workload_identity (the default)"
            )
        return self

    @field_validator("study_mount")
    @classmethod
    def _mount(cls, value: str) -> str:
        path = value.rstrip("/")
        if not path.startswith("/") or path in ("", "/tmp", "/app", "/etc") or path.startswith("/tmp/"):
            raise ValueError(
                f"study_mount {value!r} must be an absolute directory of its own (not /, /tmp or a parent of the "
                "image's code), e.g. /etc/modelops/study or /app/examples/sir"
            )
        return path


class AdaptiveSpec(SpecModel):
    api_version: Literal["modelops/v1"] = Field(alias="apiVersion")
    kind: Literal["Adaptive"]
    metadata: Metadata
    spec: AdaptiveBody

    @property
    def image(self) -> str:
        from modelops.core.images import default_image

        return self.spec.image or default_image()


def load_adaptive_spec(path: str | Path) -> AdaptiveSpec:
    """Read and validate an adaptive YAML file (SpecError naming each bad field)."""
    return load_spec(AdaptiveSpec, path)


def study_path(spec_path: str | Path, spec: AdaptiveSpec) -> Path:
    """The study file the spec points at, resolved against the adaptive spec's directory."""
    path = Path(spec.spec.study)
    return path if path.is_absolute() else Path(spec_path).resolve().parent / path


def check_study_storage(spec: AdaptiveSpec, study_file: Path) -> dict[str, Any]:
    """Read the study YAML and check its storage fits the plan; returns the parsed study document.

    With a central store, the study must say ``storage: {kind: postgres}`` without a DSN so `mops run` takes the
    PG* variables the runner pod gets from the Secret; a DSN in the file would bypass (and leak) them.
    """
    doc = read_yaml(study_file)
    if not isinstance(doc, dict):
        raise SpecError(str(study_file), [("", "expected a study document (a mapping)")])
    storage = doc.get("storage") or {}
    kind = storage.get("kind", "journal") if isinstance(storage, dict) else None
    if spec.spec.central_store is not None and (kind != "postgres" or storage.get("dsn")):
        raise SpecError(
            str(study_file),
            [("storage", "with a central_store the study must use `storage: {kind: postgres}` with no dsn")],
        )
    if spec.spec.central_store is None and kind == "postgres" and not storage.get("dsn"):
        raise SpecError(
            str(study_file),
            [("storage", "kind postgres without a dsn needs the adaptive spec's central_store; add one")],
        )
    return doc
