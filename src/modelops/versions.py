"""Versions of the packages a run depends on, for `mops version` and run manifests."""

from __future__ import annotations

import platform
from importlib import metadata

# Distribution names, in the order they are shown.
CORE_DISTRIBUTIONS = ("modelops", "modelops-contracts", "calabaria", "dask", "distributed", "optuna", "pulumi")


def distribution_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def core_versions() -> dict[str, str | None]:
    """Python and the core distributions; a missing one maps to None."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({name: distribution_version(name) for name in CORE_DISTRIBUTIONS})
    return versions
