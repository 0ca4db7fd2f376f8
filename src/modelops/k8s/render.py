"""Manifests as YAML, the way `kubectl apply -f -` reads them, with Secret values redacted unless asked."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import yaml

from modelops.k8s.common import Manifest

REDACTED = "<redacted: generated at apply time; --show-secrets prints it>"


def redact(manifest: Manifest) -> Manifest:
    """A copy with every Secret value replaced (keys kept, so the shape can be reviewed)."""
    if manifest.get("kind") != "Secret":
        return manifest
    out = copy.deepcopy(manifest)
    for field in ("stringData", "data"):
        if field in out:
            out[field] = {key: REDACTED for key in out[field]}
    return out


def to_yaml(manifests: Iterable[Manifest], *, show_secrets: bool = False) -> str:
    docs = [m if show_secrets else redact(m) for m in manifests]
    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=120)
