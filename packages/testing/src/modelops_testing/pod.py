"""Run a container of a rendered manifest as a local process, doing what the kubelet would do.

This is how the pod-equivalent tests prove the manifests: the command, arguments and environment come from the
manifest builders' output, resolved the kubelet's way (env values with ``$(VAR)`` expansion, ``fieldRef``,
``secretKeyRef``/``configMapKeyRef``, ``envFrom``), and the pod's volumes are materialised in local directories
(ConfigMap items at their paths, Secret keys as files, emptyDirs and PVCs as directories). What cannot exist on
one machine is translated explicitly and visibly: cluster DNS names to 127.0.0.1 (``rewrite``), fixed ports to
free ones (``flag_values``), and the image's executables to this environment's (``executables``).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelops.k8s.common import Manifest

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class PodEmulationError(ValueError):
    """The manifest references something the rendered manifests do not contain (a broken reference)."""


def _find(manifests: Sequence[Manifest], kind: str, name: str, namespace: str | None) -> Manifest | None:
    for m in manifests:
        meta = m["metadata"]
        if m["kind"] == kind and meta["name"] == name and meta.get("namespace") in (namespace, None):
            return m
    return None


def _data(obj: Manifest) -> dict[str, bytes]:
    """A Secret's or ConfigMap's keys as bytes (stringData/data as text, binaryData base64)."""
    out: dict[str, bytes] = {}
    if obj["kind"] == "Secret":
        out.update({k: str(v).encode() for k, v in obj.get("stringData", {}).items()})
        out.update({k: base64.b64decode(v) for k, v in obj.get("data", {}).items()})
    else:
        out.update({k: str(v).encode() for k, v in obj.get("data", {}).items()})
        out.update({k: base64.b64decode(v) for k, v in obj.get("binaryData", {}).items()})
    return out


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined variables are replaced, others left as written."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def resolve_env(
    container: Mapping[str, Any], manifests: Sequence[Manifest], *, pod_name: str, namespace: str
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env (which wins)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            if key in source:
                ref = source[key]
                obj = _find(manifests, kind, ref["name"], namespace)
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise PodEmulationError(f"envFrom {kind} {ref['name']} is not among the manifests")
                env.update({k: v.decode() for k, v in _data(obj).items()})
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = _expand(str(item["value"]), env)
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            values = {"metadata.name": pod_name, "metadata.namespace": namespace}
            if path not in values:
                raise PodEmulationError(f"fieldRef {path} is not emulated")
            env[name] = values[path]
            continue
        for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            if key in source:
                ref = source[key]
                obj = _find(manifests, kind, ref["name"], namespace)
                data = _data(obj) if obj is not None else {}
                if ref["key"] not in data:
                    raise PodEmulationError(f"env {name}: {kind} {ref['name']} has no key {ref['key']}")
                env[name] = data[ref["key"]].decode()
    return env


def materialize_volumes(
    pod_spec: Mapping[str, Any], manifests: Sequence[Manifest], root: Path, *, namespace: str, shared: Path
) -> dict[str, Path]:
    """Each volume of the pod as a local directory under ``root``; PVCs under ``shared`` (shared across pods,
    as a claim is). Returns ``{volume name: directory}``."""
    dirs: dict[str, Path] = {}
    for volume in pod_spec.get("volumes", []):
        name = volume["name"]
        if "persistentVolumeClaim" in volume:
            target = shared / volume["persistentVolumeClaim"]["claimName"]
        else:
            target = root / "volumes" / name
        target.mkdir(parents=True, exist_ok=True)
        for kind, key, ref_name in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
            if key not in volume:
                continue
            obj = _find(manifests, kind, volume[key][ref_name], namespace)
            if obj is None:
                raise PodEmulationError(f"volume {name}: {kind} {volume[key][ref_name]} is not among the manifests")
            data = _data(obj)
            items = volume[key].get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    raise PodEmulationError(f"volume {name}: {kind} has no key {item['key']}")
                path = target / item["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data[item["key"]])
        dirs[name] = target
    return dirs


@dataclass(frozen=True)
class LocalProcess:
    """What to start: argv and environment, after translation."""

    argv: list[str]
    env: dict[str, str] = field(repr=False)
    mounts: dict[str, Path]

    def popen(self, log: Path, **kwargs: Any) -> subprocess.Popen:
        handle = log.open("ab")
        return subprocess.Popen(self.argv, env=self.env, stdout=handle, stderr=subprocess.STDOUT, **kwargs)

    def run(self, log: Path, timeout: float) -> int:
        with log.open("ab") as handle:
            return subprocess.run(
                self.argv, env=self.env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode


def container_process(
    manifest: Manifest,
    manifests: Sequence[Manifest],
    root: Path,
    *,
    pod_name: str,
    shared: Path,
    rewrite: Mapping[str, str] | None = None,
    flag_values: Mapping[str, str] | None = None,
    executables: Mapping[str, str] | None = None,
    base_env: Mapping[str, str] | None = None,
    container_index: int = 0,
) -> LocalProcess:
    """The local equivalent of one container of a Deployment/StatefulSet/Job ``manifest``.

    ``rewrite``: substrings replaced in arguments and environment values (cluster DNS -> 127.0.0.1); mount paths
    are rewritten to the materialised volume directories the same way. ``flag_values``: ``{flag: value}`` for the
    argument after a flag (fixed ports -> free ports). ``executables``: the image's programs -> local paths.
    """
    rewrite, flag_values, executables = rewrite or {}, flag_values or {}, executables or {}
    namespace = manifest["metadata"]["namespace"]
    pod = manifest["spec"]["template"]["spec"]
    container = pod["containers"][container_index]
    volumes = materialize_volumes(pod, manifests, root / pod_name, namespace=namespace, shared=shared)
    mounts = {}
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in volumes:
            raise PodEmulationError(f"volumeMount {mount['name']} has no volume in the pod spec")
        mounts[mount["mountPath"]] = volumes[mount["name"]]
    # One pass over every mount path (longest first), and only where a path starts: "/tmp" in HOME=/tmp or
    # "cat /tmp/x" is the mount, the "/tmp" inside "file:///tmp/runs" or an already translated path is not.
    alternatives = "|".join(re.escape(p) for p in sorted(mounts, key=len, reverse=True))
    mount_re = re.compile(rf"(?<![\w/.])({alternatives})(?=/|$|[\s\"';])") if mounts else None

    def translate(text: str) -> str:
        for old, new in rewrite.items():
            text = text.replace(old, new)
        if mount_re is not None:
            text = mount_re.sub(lambda m: str(mounts[m.group(1)]), text)
        return text

    env = resolve_env(container, manifests, pod_name=pod_name, namespace=namespace)
    argv = [_expand(a, env) for a in [*container.get("command", []), *container.get("args", [])]]
    for i, arg in enumerate(argv[:-1]):
        if arg in flag_values:
            argv[i + 1] = flag_values[arg]
    argv = [translate(a) for a in argv]
    argv[0] = executables.get(argv[0], argv[0])
    full_env = dict(base_env if base_env is not None else {"PATH": os.environ.get("PATH", "")})
    full_env.update({k: translate(v) for k, v in env.items()})
    return LocalProcess(argv, full_env, mounts)
