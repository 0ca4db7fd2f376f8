"""The backup CronJob of a run's in-cluster store (``central_store.backup``).

Two steps in one pod: an init container from the PostgreSQL image (its `pg_dump` matches the server's major
version) dumps the study database in custom format into an emptyDir, as the runtime role that owns it; then the
modelops image uploads the file to the object store and keeps the newest ``keep`` (`mops adaptive backup-store`,
modelops.store.backups). ``concurrencyPolicy: Forbid``: a slow dump is never overlapped by the next one. The
managed store needs none of this: Azure keeps its own backups (``backup_retention_days``, point-in-time restore).
"""

from __future__ import annotations

from typing import Any

from modelops.k8s.common import IMAGE_DIGEST_SKIP, Manifest, checkov_skips, container, labels, metadata, pod_spec
from modelops.k8s.identity import PodIdentity

DUMP_DIR = "/var/lib/modelops/backup"
DUMP_FILE = f"{DUMP_DIR}/study.dump"


def dump_command(file: str = DUMP_FILE) -> list[str]:
    """pg_dump of $PGDATABASE (libpq PG* variables) in custom format, restorable with pg_restore."""
    return ["pg_dump", "--format=custom", "--no-owner", "--no-acl", "--file", file]


def build_backup_cronjob(
    *,
    name: str,
    ns: str,
    slug: str,
    run_id: str,
    schedule: str,
    keep: int,
    backups_url: str,
    postgres_image: str,
    image: str,
    runtime_secret: str,
    identity: PodIdentity | None = None,
    object_store_secret: str | None = None,
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
) -> Manifest:
    lbls = labels("backup", slug, **{"app.kubernetes.io/component": "central-store-backup"})
    scratch = {"name": "backup", "mountPath": DUMP_DIR}
    dump = container(
        "dump",
        postgres_image,
        command=dump_command(),
        env_from=[{"secretRef": {"name": runtime_secret}}],
        resources={"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        mounts=[scratch],
    )
    env: list[dict[str, Any]] = []
    env_from: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = [scratch]
    volumes: list[dict[str, Any]] = [{"name": "backup", "emptyDir": {"sizeLimit": "20Gi"}}]
    if identity is not None:
        env += identity.env()
        mounts += identity.mounts()
        volumes += identity.volumes()
    elif object_store_secret is not None:
        env_from.append({"secretRef": {"name": object_store_secret}})
    upload = container(
        "upload",
        image,
        command=["mops", "adaptive", "backup-store"],
        args=["--file", DUMP_FILE, "--to", backups_url, "--run-id", run_id, "--keep", str(keep)],
        env=env,
        env_from=env_from,
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        mounts=mounts,
    )
    skips = dict(IMAGE_DIGEST_SKIP)
    skips["CKV_K8S_35"] = (
        "pg_dump takes libpq's PG* variables (and the upload adlfs's AZURE_STORAGE_* in sas mode) from its "
        "environment; they come from Secrets through envFrom, never from a value in this manifest"
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(name, ns, lbls, checkov_skips(skips)),
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": lbls},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 3600,
                    "template": {
                        "metadata": {"labels": lbls},
                        "spec": pod_spec(
                            [upload],
                            init_containers=[dump],
                            volumes=volumes,
                            node_selector=node_selector,
                            tolerations=tolerations or (),
                            restart_policy="OnFailure",
                            service_account=identity.service_account if identity is not None else None,
                        ),
                    },
                },
            },
        },
    }
