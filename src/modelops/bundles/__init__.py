"""Model bundles: content-addressed snapshots of a modeller's project directory, shipped to workers by digest.

A bundle is an index (path, sha256, size of every file not ignored; canonical JSON) plus the files. Its reference
is ``sha256:<hex of the index bytes>``, optionally prefixed by where it lives: ``<repository>@sha256:<hex>``.

Public API:

- ``scan(dir)``: the index of a directory (honours .gitignore and .modelopsignore);
- ``push(dir, repository)`` / ``ensure_pushed(dir_or_ref, repository)``: upload, only what is missing;
- ``ensure_local(ref)``: on a worker, the verified local directory of a bundle (per-digest lock, safe under kills);
- ``pull(ref, dest)``, ``diff(ref, dir)``, ``open_repository(url)``;
- ``parse_ref(ref)``, ``digest_of(ref)``; ``activate(path)`` puts a bundle on the import path;
- ``worker_search_path(ref)``: the seam modelops.services.tasks calls for a group's bundle_ref.
"""

from modelops.bundles.activate import activate
from modelops.bundles.cache import CACHE_ENV, CachedBundle, default_cache_dir, ensure_local, fetch_to_cache
from modelops.bundles.errors import (
    BundleError,
    IntegrityError,
    NotFoundError,
    RefError,
    RepositoryError,
    UnsafePathError,
)
from modelops.bundles.index import BundleIndex, FileEntry, IndexDiff, diff_indexes
from modelops.bundles.ops import PushResult, diff, ensure_pushed, pull, push, resolve_index
from modelops.bundles.records import BundleListing, PushStats
from modelops.bundles.refs import BundleRef, digest_of, looks_like_ref, parse_ref
from modelops.bundles.repository import REPOSITORY_ENV, Repository, open_repository
from modelops.bundles.scan import ScannedBundle, scan
from modelops.bundles.worker import worker_search_path

__all__ = [
    "CACHE_ENV",
    "REPOSITORY_ENV",
    "BundleError",
    "BundleIndex",
    "BundleListing",
    "BundleRef",
    "CachedBundle",
    "FileEntry",
    "IndexDiff",
    "IntegrityError",
    "NotFoundError",
    "PushResult",
    "PushStats",
    "RefError",
    "Repository",
    "RepositoryError",
    "ScannedBundle",
    "UnsafePathError",
    "activate",
    "default_cache_dir",
    "diff",
    "diff_indexes",
    "digest_of",
    "ensure_local",
    "ensure_pushed",
    "fetch_to_cache",
    "looks_like_ref",
    "open_repository",
    "parse_ref",
    "pull",
    "push",
    "resolve_index",
    "scan",
    "worker_search_path",
]
