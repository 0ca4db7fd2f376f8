"""The bundle index: one entry (path, sha256, size) per file, sorted by path, serialized as canonical JSON.

The index IS the bundle's identity: its reference is ``sha256:`` + the sha256 of these exact bytes. The JSON is
canonical (sorted keys, no whitespace, ASCII only) so the same tree always gives the same bytes, on any machine.
Parsing is strict because indexes come from remote repositories: every path is checked to stay inside the bundle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from modelops.bundles.errors import IntegrityError, UnsafePathError

FORMAT = "modelops.bundle/v1"
_HEX = frozenset("0123456789abcdef")


def check_relpath(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path inside a bundle; raise UnsafePathError otherwise.

    Rejected: empty, absolute, backslashes or NUL, empty components (``a//b``, trailing ``/``), ``.`` and ``..``.
    """
    problem = None
    if not isinstance(path, str) or not path:
        problem = "is empty"
    elif path.startswith("/"):
        problem = "is absolute"
    elif "\\" in path or "\x00" in path:
        problem = "contains a backslash or NUL"
    else:
        parts = path.split("/")
        if any(p == "" for p in parts):
            problem = "has an empty component"
        elif any(p in (".", "..") for p in parts):
            problem = "has a '.' or '..' component"
    if problem:
        raise UnsafePathError(
            f"bundle path {path!r} {problem}; a bundle may only hold relative paths inside its root",
            hint="this index was not made by `mops bundle push`, or was tampered with",
        )
    return path


def _check_sha256(value: object, path: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise IntegrityError(f"index entry {path!r}: sha256 must be 64 lowercase hex digits, got {value!r}")
    return value


@dataclass(frozen=True, order=True)
class FileEntry:
    """One file of a bundle: its relative POSIX path, the sha256 of its bytes (hex) and its size in bytes."""

    path: str
    sha256: str
    size: int

    @property
    def digest(self) -> str:
        """``sha256:<hex>``: the content address of the file's bytes."""
        return f"sha256:{self.sha256}"


@dataclass(frozen=True)
class BundleIndex:
    """The files of a bundle, sorted by path, unique, every path safe."""

    files: tuple[FileEntry, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.files, key=lambda f: f.path))
        object.__setattr__(self, "files", ordered)
        seen: set[str] = set()
        for entry in ordered:
            check_relpath(entry.path)
            if entry.path in seen:
                raise IntegrityError(f"index lists {entry.path!r} twice")
            seen.add(entry.path)
        # A path cannot be both a file and a directory of another entry ("a" and "a/b").
        for entry in ordered:
            parts = entry.path.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in seen:
                    raise IntegrityError(f"index lists {'/'.join(parts[:i])!r} both as a file and as a directory")

    @classmethod
    def of(cls, files: Iterable[FileEntry]) -> BundleIndex:
        return cls(tuple(files))

    def __iter__(self) -> Iterator[FileEntry]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    def to_bytes(self) -> bytes:
        """Canonical JSON: the bytes whose sha256 is the bundle digest."""
        doc = {"format": FORMAT, "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files]}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    @property
    def digest(self) -> str:
        """``sha256:<hex of the canonical index bytes>``: the bundle's reference."""
        return "sha256:" + hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> BundleIndex:
        """Parse index bytes strictly; raise IntegrityError/UnsafePathError naming the problem."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"bundle index is not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), list):
            raise IntegrityError(f"bundle index is not a {FORMAT} document")
        entries = []
        for item in doc["files"]:
            if not isinstance(item, dict) or set(item) != {"path", "sha256", "size"}:
                raise IntegrityError(f"bundle index entry {item!r} must have exactly path, sha256 and size")
            path = check_relpath(item["path"])
            size = item["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise IntegrityError(f"index entry {path!r}: size must be a non-negative integer, got {size!r}")
            entries.append(FileEntry(path, _check_sha256(item["sha256"], path), size))
        return cls(tuple(entries))


@dataclass(frozen=True)
class IndexDiff:
    """What changed from ``old`` to ``new``: paths added, removed, and modified (same path, other bytes)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    modified: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.modified)


def diff_indexes(old: BundleIndex, new: BundleIndex) -> IndexDiff:
    """Compare two indexes path by path."""
    a, b = old.by_path(), new.by_path()
    return IndexDiff(
        added=tuple(sorted(b.keys() - a.keys())),
        removed=tuple(sorted(a.keys() - b.keys())),
        modified=tuple(sorted(p for p in a.keys() & b.keys() if a[p].sha256 != b[p].sha256)),
    )
