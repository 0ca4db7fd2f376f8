"""Pieces every manifest shares: labels, the restricted security profile, writable scratch space, skips.

Manifests are plain dicts (what `kubectl apply -f` reads), built by pure functions: no cluster, no Pulumi. Pulumi
components and `mops ... render` consume the same dicts, so what is validated and scanned is what is applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Manifest = dict[str, Any]

PART_OF = "modelops"
# Any UID above 10000 keeps clear of host system users (checkov CKV_K8S_40); the image creates this user too.
RUN_AS_UID = 10001
TMP_MOUNT = "/tmp"


def labels(component: str, instance: str, **extra: str) -> dict[str, str]:
    """The recommended app.kubernetes.io labels; ``selector_labels`` is the stable subset used in selectors."""
    return {**selector_labels(component, instance), "app.kubernetes.io/part-of": PART_OF, **extra}


def selector_labels(component: str, instance: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": instance}


def metadata(
    name: str, namespace: str | None, lbls: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(lbls)}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def checkov_skips(skips: Mapping[str, str]) -> dict[str, str]:
    """checkov skip annotations, ``{check id: written reason}`` -> ``checkov.io/skip<N>: ID=reason``."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(skips.items()), 1)}


# Skips shared by every workload, each with the reason it does not apply here.
IMAGE_DIGEST_SKIP = {
    "CKV_K8S_43": "images are pinned by version tag (the modelops release or a pinned postgres); the digest is only "
    "known after `make push`, and the tag is never reused",
}


def pod_security_context() -> dict[str, Any]:
    """Pod-level part of the restricted profile: non-root with a high UID, default seccomp, group-owned volumes."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_UID,
        "runAsGroup": RUN_AS_UID,
        "fsGroup": RUN_AS_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """An emptyDir for /tmp (the root filesystem is read-only): (volume, volumeMount)."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}, {"name": "tmp", "mountPath": TMP_MOUNT}


# Python, matplotlib and Dask write caches and spill files under HOME or /tmp; point everything at the emptyDir.
SCRATCH_ENV = (
    {"name": "HOME", "value": TMP_MOUNT},
    {"name": "MPLCONFIGDIR", "value": f"{TMP_MOUNT}/matplotlib"},
    {"name": "XDG_CACHE_HOME", "value": f"{TMP_MOUNT}/cache"},
    {"name": "PYTHONUNBUFFERED", "value": "1"},
)


def container(
    name: str,
    image: str,
    *,
    command: Sequence[str],
    args: Sequence[str] = (),
    env: Sequence[Mapping[str, Any]] = (),
    env_from: Sequence[Mapping[str, Any]] = (),
    resources: Mapping[str, Any],
    ports: Sequence[Mapping[str, Any]] = (),
    probes: Mapping[str, Any] | None = None,
    mounts: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A container with the restricted security context, /tmp mounted, and requests and limits."""
    c: dict[str, Any] = {
        "name": name,
        "image": image,
        # Always: tags are pinned, but a pull on start means a re-pushed fix is picked up and a node's cache
        # cannot hand an image to a pod without the registry's check (checkov CKV_K8S_15).
        "imagePullPolicy": "Always",
        "command": list(command),
        "args": list(args),
        "env": [dict(e) for e in (*SCRATCH_ENV, *env)],
        "resources": dict(resources),
        "securityContext": container_security_context(),
        "volumeMounts": [tmp_volume()[1], *[dict(m) for m in mounts]],
    }
    if env_from:
        c["envFrom"] = [dict(e) for e in env_from]
    if ports:
        c["ports"] = [dict(p) for p in ports]
    if probes:
        c.update(probes)
    return c


def pod_spec(
    containers: Sequence[Mapping[str, Any]],
    *,
    volumes: Sequence[Mapping[str, Any]] = (),
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] = (),
    image_pull_secrets: Sequence[str] = (),
    restart_policy: str | None = None,
    init_containers: Sequence[Mapping[str, Any]] = (),
    service_account: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        # No workload here talks to the Kubernetes API; a mounted token would only be something to steal.
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [dict(c) for c in containers],
        "volumes": [tmp_volume()[0], *[dict(v) for v in volumes]],
    }
    if service_account:
        # A federated ServiceAccount (workload identity); its API token stays unmounted all the same.
        spec["serviceAccountName"] = service_account
    if init_containers:
        spec["initContainers"] = [dict(c) for c in init_containers]
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = [dict(t) for t in tolerations]
    if image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in image_pull_secrets]
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return spec


def namespace(name: str, lbls: Mapping[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name, None, lbls)}


def secret(
    name: str, ns: str, lbls: Mapping[str, str], string_data: Mapping[str, Any], *, type_: str = "Opaque"
) -> Manifest:
    """A Secret; values may be plain strings (render) or Pulumi Outputs (apply), kept in stringData."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(name, ns, lbls),
        "type": type_,
        "stringData": dict(string_data),
    }


def tcp_probes(port: int | str, *, initial_delay: int = 5, period: int = 10) -> dict[str, Any]:
    probe = {"tcpSocket": {"port": port}, "initialDelaySeconds": initial_delay, "periodSeconds": period}
    return {"readinessProbe": dict(probe), "livenessProbe": {**probe, "failureThreshold": 6}}
