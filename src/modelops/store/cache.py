"""A content-addressed cache of simulation outputs, over any fsspec file system.

A simulation is deterministic in (code, fn_ref, params, seed), so its outputs are stored under a key derived from
exactly those: :func:`code_identity` (the bundle digest, or a digest of the model's source), the fn_ref, the
parameter set's id and the seed. A study that is re-run, resumed, or extended never simulates the same thing twice.

Each entry is one file: an uncompressed ZIP holding ``manifest.json`` (the key, and the size and SHA-256 of every
output) and one Arrow IPC stream per output. ZIP makes entries inspectable with any tool; the manifest makes them
self-verifying. Writes are atomic (temporary file + rename on local disks; a single-object put on object stores,
which never exposes a partial object), and a read verifies sizes and digests, so a truncated or corrupted entry is
removed and reported as a miss, never returned.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import sys
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import fsspec

from modelops.store.urls import url_to_fs

CACHE_FORMAT = "modelops-simcache-v1"
_MANIFEST = "manifest.json"
_MAX_PACKAGE_FILES = 5000


class CorruptEntryError(ValueError):
    """Bytes that should be a packed outputs file are truncated, altered, or belong to another key."""


# --- the packed-outputs format (shared with the raw outputs a worker writes per replicate) -------------------------


def pack_outputs(outputs: Mapping[str, bytes], *, meta: Mapping[str, Any] | None = None) -> bytes:
    """Pack ``{name: Arrow IPC bytes}`` (plus JSON-able ``meta``) into one self-verifying ZIP file."""
    manifest = {
        "format": CACHE_FORMAT,
        "meta": dict(meta or {}),
        "outputs": {
            name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in outputs.items()
        },
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(_MANIFEST, json.dumps(manifest, sort_keys=True))
        for name, data in outputs.items():
            zf.writestr(f"{name}.arrows", bytes(data))
    return buf.getvalue()


def unpack_outputs(data: bytes) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The outputs and meta of a packed file; CorruptEntryError when anything does not verify."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            manifest = json.loads(zf.read(_MANIFEST))
            if manifest.get("format") != CACHE_FORMAT:
                raise CorruptEntryError(f"unknown format {manifest.get('format')!r}")
            outputs: dict[str, bytes] = {}
            for name, info in manifest["outputs"].items():
                payload = zf.read(f"{name}.arrows")  # zipfile checks the member's CRC-32 here
                if len(payload) != info["size"] or hashlib.sha256(payload).hexdigest() != info["sha256"]:
                    raise CorruptEntryError(f"output {name!r} does not match its recorded size and SHA-256")
                outputs[name] = payload
            return outputs, dict(manifest.get("meta") or {})
    except CorruptEntryError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError) as exc:
        raise CorruptEntryError(f"{type(exc).__name__}: {exc}") from exc


# --- atomic writes over fsspec ---------------------------------------------------------------------------------


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def atomic_write(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write ``data`` at ``path`` so no reader ever sees a partial file.

    Local disks: write a unique temporary file in the same directory, fsync, then os.replace (atomic on POSIX).
    Object stores (Azure Blob, S3, GCS): a single put, which the store commits atomically.
    """
    if _is_local(fs):
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    else:
        fs.pipe_file(path, data)


# --- the cache ---------------------------------------------------------------------------------------------------


class SimulationCache:
    """Simulation outputs keyed by (code identity, fn_ref, param_id, seed), at an fsspec URL.

    ``SimulationCache("/tmp/simcache")`` or ``SimulationCache("az://container/cache", {"connection_string": ...})``.
    Safe for many concurrent writers: entries are immutable and written atomically; two writers of one key write the
    same bytes.
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = url
        self.fs, root = url_to_fs(url, **(storage_options or {}))
        self.root = root.rstrip("/")
        if _is_local(self.fs):
            Path(self.root).mkdir(parents=True, exist_ok=True)
        self.corrupt_entries = 0  # how many corrupt entries this instance found and removed

    @staticmethod
    def key(code_identity: str, fn_ref: str, param_id: str, seed: int) -> str:
        """The entry key: SHA-256 over the four parts, so any change in code, function, params or seed misses."""
        text = f"{CACHE_FORMAT}|{code_identity}|{fn_ref}|{param_id}|{int(seed)}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, key: str) -> str:
        # Two-level fan-out keeps directory listings (and blob prefixes) small at millions of entries.
        return f"{self.root}/{key[:2]}/{key}.zip"

    def get(self, key: str) -> dict[str, bytes] | None:
        """The verified outputs stored under ``key``, or None (missing, or corrupt: then the entry is removed)."""
        path = self.path(key)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        try:
            outputs, meta = unpack_outputs(data)
            if meta.get("key") != key:
                raise CorruptEntryError(f"entry holds key {meta.get('key')!r}")
        except CorruptEntryError:
            self.corrupt_entries += 1
            with contextlib.suppress(FileNotFoundError, OSError):
                self.fs.rm_file(path)
            return None
        return outputs

    def put(self, key: str, outputs: Mapping[str, bytes]) -> None:
        """Store ``outputs`` under ``key`` atomically."""
        atomic_write(self.fs, self.path(key), pack_outputs(outputs, meta={"key": key}))

    def __contains__(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def __repr__(self) -> str:
        return f"SimulationCache({self.url!r})"


# --- code identity -----------------------------------------------------------------------------------------------


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    # Scanning every installed distribution takes ~0.2 s: once per process.
    return metadata.packages_distributions()


def _distribution_versions(top_level: str) -> list[str]:
    try:
        dists = _packages_distributions().get(top_level, [])
    except Exception:  # broken metadata of an unrelated distribution must not break caching
        dists = []
    versions = []
    for dist in sorted(set(dists)):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{dist}=={metadata.version(dist)}")
    return versions


def _is_installed_path(path: Path) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.parts)


def code_identity(fn_ref: str, bundle_ref: str | None, search_path: Sequence[str | Path] = ()) -> str:
    """What the outputs of ``fn_ref`` depend on, as a short string for cache keys.

    - with a bundle: the bundle's content digest (the hex after ``sha256:``);
    - project code (not installed): a SHA-256 over every ``.py`` file of the function's top-level package, or, for
      a single-file module, of the ``.py`` files in its directory; editing the model or a helper it imports
      invalidates its entries;
    - installed code: the function's module source plus the versions of the distributions providing it.
    """
    if bundle_ref is not None:
        _, sep, digest = bundle_ref.partition("sha256:")
        if not sep or not digest:
            raise ValueError(
                f"bundle_ref {bundle_ref!r} is not content-addressed; expected a reference ending in "
                "'sha256:<hex digest>' (as `mops bundle push` prints)"
            )
        return f"bundle:sha256:{digest}"

    from modelops.core.fnref import add_search_path, import_module, parse

    module_name, _ = parse(fn_ref)
    add_search_path(search_path)
    module = import_module(module_name, fn_ref)
    h = hashlib.sha256(b"modelops:code:v1\0")
    module_file = Path(module.__file__) if getattr(module, "__file__", None) else None
    top_level = module_name.split(".")[0]
    top_paths = list(getattr(sys.modules.get(top_level), "__path__", []) or [])
    home = Path(top_paths[0]) if top_paths else (module_file.parent if module_file else None)
    installed = home is not None and _is_installed_path(home)
    files: list[Path] = [module_file] if module_file else []
    if home is not None and not installed:
        # Project code: the whole top-level package, or the modules next to a single-file model, since the model
        # imports its helpers from there. Installed code is identified by its distribution's version instead.
        found = home.rglob("*.py") if top_paths else home.glob("*.py")
        files.extend(sorted(found)[:_MAX_PACKAGE_FILES])
    anchor = home.parent if top_paths and home is not None else (home or Path("."))
    for path in sorted(set(files)):
        # Paths relative to the project, so the same code checked out elsewhere has the same identity.
        label = path.relative_to(anchor) if path.is_relative_to(anchor) else Path(path.name)
        with contextlib.suppress(OSError):
            h.update(label.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    if installed or home is None:
        for version in _distribution_versions(top_level):
            h.update(version.encode() + b"\0")
    return f"src:{h.hexdigest()[:32]}"
