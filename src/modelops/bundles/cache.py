"""The worker-side bundle cache: ``ensure_local(ref) -> Path``, safe under concurrency and kills.

Layout under the cache directory ($MODELOPS_BUNDLE_CACHE, default ~/.cache/modelops/bundles):

    sha256/<hex>/                  the extracted bundle (files read-only)
    sha256/<hex>.complete          completion marker, written LAST; holds the verified index bytes
    sha256/<hex>.lock              per-digest lock (fcntl, released by the kernel if its holder dies)
    sha256/<hex>.partial-<pid>-*   a download in progress

A bundle directory is used only if its marker exists. Under the per-digest lock, a downloader removes leftovers of
killed downloads (partial directories, an extracted tree without marker), downloads into a partial directory,
verifies the index against the digest and every file against the index, fsyncs, renames the partial directory into
place and only then writes the marker. So concurrent workers download once, and a worker killed at any moment
leaves nothing a later worker could mistake for a whole bundle.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from modelops.bundles.errors import BundleError, NotFoundError, RepositoryError
from modelops.bundles.fetch import download_files, fetch_index
from modelops.bundles.index import BundleIndex
from modelops.bundles.refs import parse_ref
from modelops.bundles.repository import REPOSITORY_ENV, Repository, default_repository_url, open_repository

CACHE_ENV = "MODELOPS_BUNDLE_CACHE"
DEFAULT_LOCK_TIMEOUT = 3600.0  # a download of a large data bundle may legitimately take long

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$MODELOPS_BUNDLE_CACHE, else $XDG_CACHE_HOME/modelops/bundles, else ~/.cache/modelops/bundles."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelops" / "bundles"


@dataclass(frozen=True)
class CachedBundle:
    """A bundle present in the cache: where, its digest, and whether this call downloaded it."""

    path: Path
    digest: str
    downloaded: bool


def _paths(cache_dir: Path, hex_: str) -> tuple[Path, Path, Path]:
    base = cache_dir / "sha256"
    return base / hex_, base / f"{hex_}.complete", base / f"{hex_}.lock"


def _remove_tree(path: Path) -> None:
    # Cached files are read-only; the directories holding them are not, so rmtree can unlink them on POSIX.
    shutil.rmtree(path, ignore_errors=True)


def cached_index(ref: str, *, cache_dir: Path | None = None) -> BundleIndex | None:
    """The index of a bundle already complete in the cache, or None (no network)."""
    hex_ = parse_ref(ref).hex
    _, marker, _ = _paths(cache_dir or default_cache_dir(), hex_)
    try:
        return BundleIndex.from_bytes(marker.read_bytes())
    except FileNotFoundError:
        return None


def fetch_to_cache(
    ref: str,
    *,
    repository: str | None = None,
    cache_dir: Path | None = None,
    storage_options: Mapping[str, Any] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> CachedBundle:
    """Make the bundle ``ref`` complete and verified in the cache; say whether this call downloaded it."""
    parsed = parse_ref(ref)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final, marker, lock_path = _paths(cache_dir, parsed.hex)
    if marker.is_file() and final.is_dir():  # the fast path: no lock, no network
        return CachedBundle(final, parsed.digest, downloaded=False)

    # Where to look, in order: the explicit argument (how this worker reaches the repository), the repository named
    # in the ref (where it was pushed), then $MODELOPS_BUNDLE_REPOSITORY. Content addressing makes any of them safe:
    # whatever we fetch is verified against the digest, so a missing or unreachable one just means "try the next".
    candidates = list(dict.fromkeys(u for u in (repository, parsed.repository, default_repository_url()) if u))
    if not candidates:
        raise RepositoryError(
            f"bundle {parsed.digest} is not in the cache {cache_dir} and no repository is known to fetch it from",
            hint=f"name the repository in the ref (<repository>@sha256:...), with --from / repository=, or in "
            f"${REPOSITORY_ENV}",
        )

    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=lock_timeout):
            if marker.is_file() and final.is_dir():  # another worker finished it while we waited
                return CachedBundle(final, parsed.digest, downloaded=False)
            # We hold the lock, so any partial directory or unmarked tree is a leftover of a killed download.
            for stale in final.parent.glob(f"{parsed.hex}.partial-*"):
                _remove_tree(stale)
            marker.unlink(missing_ok=True)
            if final.exists():
                _remove_tree(final)

            repo, index, index_bytes = _find(parsed.digest, candidates, storage_options)
            staging = final.parent / f"{parsed.hex}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            staging.mkdir()
            try:
                download_files(repo, index, staging)
                os.rename(staging, final)
            except BaseException:
                _remove_tree(staging)
                raise
            _write_marker(marker, index_bytes)
            log.info("bundle %s: %d files fetched from %s into %s", parsed.digest, len(index), repo.url, final)
            return CachedBundle(final, parsed.digest, downloaded=True)
    except Timeout:
        raise BundleError(
            f"waited {lock_timeout:.0f} s for another process downloading bundle {parsed.digest} into {cache_dir}",
            hint=f"check for a stuck process holding {lock_path}",
        ) from None


def _find(
    digest: str, candidates: list[str], storage_options: Mapping[str, Any] | None
) -> tuple[Repository, BundleIndex, bytes]:
    """The first repository holding ``digest``, with the verified index. Tampering is never skipped over."""
    failures: list[BundleError] = []
    for url in candidates:
        try:
            repo = open_repository(url, storage_options=storage_options)
            index, index_bytes = fetch_index(repo, digest)
            return repo, index, index_bytes
        except (NotFoundError, RepositoryError) as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    tried = "; ".join(f.message for f in failures)
    raise NotFoundError(
        f"bundle {digest} was found in none of {len(failures)} repositories: {tried}", hint=failures[-1].hint
    )


def _write_marker(marker: Path, index_bytes: bytes) -> None:
    tmp = marker.with_name(marker.name + f".tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(index_bytes)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, marker)
    # Persist the renames (partial -> final, tmp -> marker) before anyone relies on them.
    fd = os.open(marker.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_local(ref: str, *, repository: str | None = None, cache_dir: Path | None = None) -> Path:
    """The local directory of bundle ``ref``, downloading and verifying it first if needed.

    ``repository`` (an fsspec URL or directory, or ``oci://host[:port]/name``) defaults to the repository named in
    the ref, then to $MODELOPS_BUNDLE_REPOSITORY. ``cache_dir`` defaults to $MODELOPS_BUNDLE_CACHE or
    ~/.cache/modelops/bundles. Safe to call from many processes at once.
    """
    return fetch_to_cache(ref, repository=repository, cache_dir=cache_dir).path
