"""Turn a project directory into a bundle index, honouring .gitignore and .modelopsignore (gitignore syntax).

Ignore rules, in increasing precedence: built-in defaults (VCS directories, virtualenvs, bytecode, tool caches),
then every ``.gitignore`` and ``.modelopsignore`` from the root down to the file's directory (a deeper file wins;
in one directory, ``.modelopsignore`` wins over ``.gitignore``; within a file, the last matching pattern wins).
As in git, once a directory is ignored nothing inside it can be re-included.

Symlinks are followed only when they resolve inside the project; a link pointing outside (or a dangling link) that
is not ignored is an error, because workers would otherwise get different bytes than the modeller has.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from modelops.bundles.errors import BundleError, UnsafePathError
from modelops.bundles.hashing import sha256_file
from modelops.bundles.index import BundleIndex, FileEntry

IGNORE_FILES = (".gitignore", ".modelopsignore")
DEFAULT_IGNORES = (
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "__pycache__/",
    "*.py[cod]",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".tox/",
    ".nox/",
    ".ipynb_checkpoints/",
    ".DS_Store",
)


@dataclass(frozen=True)
class ScannedBundle:
    """A project directory's index, and where each indexed file's bytes are on disk."""

    root: Path
    index: BundleIndex
    sources: dict[str, Path]

    @property
    def digest(self) -> str:
        return self.index.digest


@dataclass(frozen=True)
class _Rules:
    base: str  # directory (relative to the root, "" for the root) whose ignore file these patterns come from
    spec: GitIgnoreSpec


def _read_rules(directory: Path, base: str) -> list[_Rules]:
    rules = []
    for name in IGNORE_FILES:
        f = directory / name
        if f.is_file():
            # surrogateescape: a stray non-UTF-8 byte in an ignore file must not stop a push; patterns stay exact.
            lines = f.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
            rules.append(_Rules(base, GitIgnoreSpec.from_lines(lines)))
    return rules


def _ignored(rel: str, is_dir: bool, rules: list[_Rules]) -> bool:
    decision = False
    for r in rules:
        if r.base and not rel.startswith(r.base + "/"):
            continue
        sub = rel[len(r.base) + 1 :] if r.base else rel
        result = r.spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            decision = result.include
    return decision


def _in_loop(path: Path) -> bool:
    """Whether following ``path`` never ends (a -> b -> a): the kernel says ELOOP."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _unreadable(rel: str, exc: BaseException) -> BundleError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return BundleError(f"cannot index {rel}: {reason}", hint="fix or remove it, or list it in .modelopsignore")


def scan(root: str | Path, *, progress: Callable[[str], None] | None = None) -> ScannedBundle:
    """Index ``root``: every file not ignored, with its sha256 and size; raise BundleError on unsafe content."""
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"{root} is not a directory", hint="give the project directory to bundle")
    real_root = root.resolve()
    sources: dict[str, Path] = {}
    entries: list[FileEntry] = []
    base_rules = [_Rules("", GitIgnoreSpec.from_lines(DEFAULT_IGNORES))]

    def inside(target: Path) -> bool:
        return target == real_root or target.is_relative_to(real_root)

    def walk(directory: Path, rel_dir: str, rules: list[_Rules], visiting: frozenset[Path]) -> None:
        try:
            rules = rules + _read_rules(directory, rel_dir)
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise _unreadable(rel_dir or ".", exc) from None
        for entry in children:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                visit(entry, rel, rules, visiting)
            except BundleError:
                raise
            except (OSError, RuntimeError) as exc:  # RuntimeError: Path.resolve's "Symlink loop" before Python 3.13
                raise _unreadable(rel, exc) from None

    def visit(entry: os.DirEntry[str], rel: str, rules: list[_Rules], visiting: frozenset[Path]) -> None:
        """One entry of walk(); an OSError here is reported by walk() naming the path."""
        path = Path(entry.path)
        is_link = entry.is_symlink()
        if is_link and _in_loop(path):
            if _ignored(rel, False, rules):
                return
            raise UnsafePathError(f"{rel} is a symlink loop", hint="remove the link, or list it in .modelopsignore")
        target = path.resolve() if is_link else path
        if is_link and not target.exists():
            if _ignored(rel, False, rules):
                return
            raise UnsafePathError(f"{rel} is a dangling symlink", hint="remove it, or list it in .modelopsignore")
        is_dir = target.is_dir()
        if _ignored(rel, is_dir, rules):
            return
        if is_link and not inside(target):
            raise UnsafePathError(
                f"{rel} is a symlink to {target}, outside the project directory {real_root}",
                hint="copy what it points to into the project, or list it in .modelopsignore",
            )
        if is_dir:
            real = target.resolve()
            if real in visiting:  # a symlink loop: the directory is already on the current path
                return
            walk(target, rel, rules, visiting | {real})
        elif target.is_file():
            sha, size = sha256_file(target)
            entries.append(FileEntry(rel, sha, size))
            sources[rel] = target
            if progress:
                progress(rel)
        # sockets, FIFOs and devices are not content; they are skipped.

    walk(root, "", base_rules, frozenset({real_root}))
    return ScannedBundle(root=root, index=BundleIndex.of(entries), sources=sources)
