"""The operations behind `mops bundle`: push a directory, ensure it is pushed, pull to a directory, diff."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelops.bundles.cache import cached_index
from modelops.bundles.errors import BundleError
from modelops.bundles.fetch import download_files, fetch_index
from modelops.bundles.index import BundleIndex, IndexDiff, diff_indexes
from modelops.bundles.records import PushStats
from modelops.bundles.refs import BundleRef, looks_like_ref, parse_ref
from modelops.bundles.repository import default_repository_url, normalize_url, open_repository
from modelops.bundles.scan import ScannedBundle, scan


@dataclass(frozen=True)
class PushResult:
    """A pushed bundle: its full ref (``<repository>@sha256:<hex>``), its index, and what the upload did."""

    ref: str
    digest: str
    index: BundleIndex
    stats: PushStats


def push(
    directory: str | Path,
    repository: str | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
    scanned: ScannedBundle | None = None,
) -> PushResult:
    """Index ``directory`` and upload what the repository lacks; the index goes last. Idempotent."""
    repo = open_repository(repository, storage_options=storage_options)
    scanned = scanned or scan(directory)
    stats = repo.push(scanned.index, scanned.sources, source_name=Path(directory).resolve().name)
    ref = str(BundleRef(scanned.digest, repo.url))
    return PushResult(ref=ref, digest=scanned.digest, index=scanned.index, stats=stats)


def ensure_pushed(
    path_or_ref: str, repository: str | None = None, *, storage_options: Mapping[str, Any] | None = None
) -> str:
    """The ref to run from, for a study spec's ``bundle: DIR|REF``.

    - a ref (``sha256:<hex>`` or ``<repo>@sha256:<hex>``) is returned as given, qualified with ``repository`` (or
      $MODELOPS_BUNDLE_REPOSITORY) when it names none; nothing is uploaded;
    - a directory is indexed; if the repository already has that exact digest nothing is uploaded, otherwise the
      missing files and the index are pushed. Returns ``<repository>@sha256:<hex>``.
    """
    text = str(path_or_ref)
    if looks_like_ref(text) and not Path(text).exists():
        parsed = parse_ref(text)
        where = parsed.repository or repository or default_repository_url()
        return str(BundleRef(parsed.digest, normalize_url(where) if where else None))
    if not Path(text).is_dir():
        raise BundleError(
            f"bundle {text!r} is neither a directory nor a bundle reference",
            hint="give the project directory, or a ref printed by `mops bundle push` (sha256:<64 hex digits>)",
        )
    return push(text, repository, storage_options=storage_options).ref


def pull(
    ref: str,
    dest: str | Path,
    *,
    repository: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> BundleIndex:
    """Download bundle ``ref`` into the new directory ``dest``, verified; ``dest`` appears only when complete."""
    parsed = parse_ref(ref)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BundleError(f"{dest} already exists and is not an empty directory", hint="choose a new --dest")
    repo = open_repository(repository or parsed.repository, storage_options=storage_options)
    index, _ = fetch_index(repo, parsed.digest)
    staging = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        download_files(repo, index, staging, read_only=False)
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return index


def resolve_index(
    ref: str,
    *,
    repository: str | None = None,
    cache_dir: Path | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> BundleIndex:
    """The verified index of ``ref``: from the local cache if complete there, else from its repository."""
    local = cached_index(ref, cache_dir=cache_dir)
    if local is not None:
        return local
    parsed = parse_ref(ref)
    repo = open_repository(repository or parsed.repository, storage_options=storage_options)
    return fetch_index(repo, parsed.digest)[0]


def diff(ref: str, directory: str | Path, **kwargs: Any) -> IndexDiff:
    """What changed in ``directory`` since bundle ``ref`` (added, removed, modified paths)."""
    return diff_indexes(resolve_index(ref, **kwargs), scan(directory).index)
