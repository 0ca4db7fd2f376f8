"""Checking that client, scheduler and workers run compatible software.

Pickled tasks and results only work when both ends agree on Python, Dask and the packages that define the objects
that travel (ModelOps, its contracts, Arrow). A mismatch otherwise shows up later as an obscure unpickling error on
some worker; we check once, at connect time, and name the packages that differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Packages whose versions must agree between the client and the scheduler (they speak Dask's protocol).
SCHEDULER_PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "toolz")
# ... and between the client and every worker (they also unpickle our tasks and build our results).
WORKER_PACKAGES = (*SCHEDULER_PACKAGES, "modelops", "modelops-contracts", "polars", "pyarrow")


class ClusterVersionError(RuntimeError):
    """Client, scheduler and workers run incompatible versions; the message names each mismatched package."""

    def __init__(self, mismatches: list[Mismatch]):
        self.mismatches = mismatches
        lines = ["the Dask cluster runs different software than this client:"]
        for m in mismatches:
            lines.append(f"  - {m.package}: client {m.client or 'not installed'}, {m.where} {m.remote or 'missing'}")
        lines.append(
            "Run the client, scheduler and workers from the same image or environment (`mops version` shows the "
            "client's versions), or pass check_versions=False to connect anyway."
        )
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Mismatch:
    package: str
    client: str | None
    where: str  # "scheduler" or "worker <address>"
    remote: str | None


def _python(version: str | None) -> str | None:
    # Pickles are compatible within a minor version; patch releases may differ.
    return ".".join(version.split(".")[:2]) if version else version


def _packages(info: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((info or {}).get("packages") or {})


def find_mismatches(versions: Mapping[str, Any]) -> list[Mismatch]:
    """Compare ``Client.get_versions(packages=WORKER_PACKAGES)`` output; one Mismatch per differing package."""
    client = _packages(versions.get("client"))
    found: list[Mismatch] = []

    def compare(where: str, remote: dict[str, Any], packages: tuple[str, ...]) -> None:
        if _python(client.get("python")) != _python(remote.get("python")):
            found.append(Mismatch("python", client.get("python"), where, remote.get("python")))
        for pkg in packages:
            if client.get(pkg) != remote.get(pkg):
                found.append(Mismatch(pkg, client.get(pkg), where, remote.get(pkg)))

    compare("scheduler", _packages(versions.get("scheduler")), SCHEDULER_PACKAGES)
    for address, info in sorted((versions.get("workers") or {}).items()):
        if not isinstance(info, Mapping):  # the worker did not answer
            continue
        compare(f"worker {address}", _packages(info), WORKER_PACKAGES)
    return found
