"""Streaming sha256 of files and byte streams (bundles may hold data files larger than memory)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def write_chunks(chunks: Iterable[bytes], dest: Path, *, fsync: bool = True) -> tuple[str, int]:
    """Write ``chunks`` to a new file ``dest`` (which must not exist), hashing as it goes; return (sha256, size).

    The file is fsynced before returning so a completion marker written afterwards never outlives its data.
    """
    h = hashlib.sha256()
    size = 0
    with open(dest, "xb") as fh:
        for chunk in chunks:
            h.update(chunk)
            size += len(chunk)
            fh.write(chunk)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    return h.hexdigest(), size
