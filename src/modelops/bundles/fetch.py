"""Download a bundle into a directory, verifying every byte: the index against the digest, each file against the
index. Used by the worker cache (cache.py) and by `mops bundle pull --dest`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from modelops.bundles.errors import IntegrityError, UnsafePathError
from modelops.bundles.hashing import CHUNK, write_chunks
from modelops.bundles.index import BundleIndex, check_relpath
from modelops.bundles.repository import Repository


def fetch_index(repository: Repository, digest: str) -> tuple[BundleIndex, bytes]:
    """Fetch the index stored under ``digest`` and check its sha256 equals the digest before trusting it."""
    data = repository.read_index(digest)
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise IntegrityError(
            f"the index of bundle {digest} in {repository.url} has digest {actual}: it was tampered with or "
            "corrupted; nothing was installed",
            hint="push the bundle again from the project directory",
        )
    return BundleIndex.from_bytes(data), data


def safe_join(root: Path, relpath: str) -> Path:
    """``root/relpath``, refusing any path that would land outside ``root`` (also through existing symlinks)."""
    check_relpath(relpath)
    dest = root.joinpath(*relpath.split("/"))
    real_root = root.resolve()
    if not dest.parent.resolve().is_relative_to(real_root):
        raise UnsafePathError(f"bundle path {relpath!r} resolves outside {root}")
    return dest


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def download_files(
    repository: Repository,
    index: BundleIndex,
    dest: Path,
    *,
    on_file: Callable[[str, int], None] | None = None,
    read_only: bool = True,
) -> None:
    """Write every file of ``index`` under the existing directory ``dest``, verifying size and sha256 of each.

    Raises IntegrityError at the first file whose bytes do not match (the caller discards ``dest``). Files are made
    read-only unless ``read_only=False`` (a working copy from `mops bundle pull --dest`).
    """
    fetched: dict[str, Path] = {}  # sha256 -> a file already written and verified: copy it, do not re-download
    for entry in index:
        target = safe_join(dest, entry.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        local = fetched.get(entry.sha256)
        source = _read_chunks(local) if local else repository.iter_file(entry.digest)
        sha, size = write_chunks(source, target)
        if sha != entry.sha256 or size != entry.size:
            raise IntegrityError(
                f"file {entry.path!r} of the bundle does not match its index (expected sha256 {entry.sha256} and "
                f"{entry.size} bytes, got {sha} and {size} bytes) in {repository.url}: tampered or corrupted; "
                "nothing was installed",
                hint="push the bundle again from the project directory",
            )
        if read_only:  # cached bundles are shared by every task on the machine; make accidental edits fail loudly
            os.chmod(target, 0o444)
        fetched[entry.sha256] = target
        if on_file:
            on_file(entry.path, size)
