"""The execution layer's seam: what a worker does with a group's ``bundle_ref``.

``modelops.services.tasks`` calls ``worker_search_path(bundle_ref)`` (lazily, only for groups naming a bundle) and
puts the returned directories first on the import path before resolving the group's fn_ref. The simulation cache
keys on the bundle digest (``modelops.store.cache.code_identity``), so a changed bundle never reuses old outputs.
"""

from __future__ import annotations

from pathlib import Path

from modelops.bundles.activate import activate
from modelops.bundles.cache import ensure_local


def worker_search_path(bundle_ref: str) -> tuple[Path, ...]:
    """Fetch (once per machine), verify and activate bundle ``bundle_ref``; return its directory for sys.path.

    The repository is the one named in the ref, else $MODELOPS_BUNDLE_REPOSITORY; the cache is
    $MODELOPS_BUNDLE_CACHE (default ~/.cache/modelops/bundles). Activating forgets modules imported from another
    bundle earlier in this process, so a worker switching bundles runs the new code.
    """
    return (activate(ensure_local(bundle_ref)),)
