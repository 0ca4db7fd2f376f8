"""A bundle repository on any fsspec filesystem: a local directory, Azure Blob (adlfs ``az://``), S3, ...

Layout under the root URL (content-addressed, so identical files are stored once across all bundles):

    files/sha256/<hex>            the bytes of one file
    indexes/sha256/<hex>.json     a bundle index (its sha256 is <hex>)
    meta/sha256/<hex>.json        when it was pushed and from which directory (informational only)

Files are uploaded before the index, so an index that is visible always has all its files behind it. On a local
filesystem each object is written to a temporary name and renamed, so readers never see a partial object; on
object stores a single PUT is already all-or-nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from modelops.bundles.errors import NotFoundError, RepositoryError
from modelops.bundles.hashing import CHUNK
from modelops.bundles.index import BundleIndex
from modelops.bundles.records import BundleListing, PushStats
from modelops.store.urls import url_to_fs


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


class ObjectStoreRepository:
    """Bundles stored by content on an fsspec filesystem rooted at ``url``."""

    def __init__(self, url: str, *, storage_options: Mapping[str, Any] | None = None):
        self.url = url
        try:
            self.fs, self.root = url_to_fs(url, **dict(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise RepositoryError(f"cannot open bundle repository {url!r}: {exc}") from None
        self.root = self.root.rstrip("/")
        self._local = isinstance(self.fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"ObjectStoreRepository({self.url!r})"

    # --- paths ----------------------------------------------------------------------------------------------------

    def _file_path(self, digest: str) -> str:
        return f"{self.root}/files/sha256/{_hex(digest)}"

    def _index_path(self, digest: str) -> str:
        return f"{self.root}/indexes/sha256/{_hex(digest)}.json"

    def _meta_path(self, digest: str) -> str:
        return f"{self.root}/meta/sha256/{_hex(digest)}.json"

    # --- writing --------------------------------------------------------------------------------------------------

    def _put_file(self, local: Path, remote: str) -> None:
        if self._local:
            tmp = f"{remote}.tmp-{uuid.uuid4().hex}"
            os.makedirs(os.path.dirname(remote), exist_ok=True)
            self.fs.put_file(str(local), tmp)
            os.replace(tmp, remote)
        else:
            self.fs.put_file(str(local), remote)

    def _put_bytes(self, data: bytes, remote: str) -> None:
        if self._local:
            tmp = f"{remote}.tmp-{uuid.uuid4().hex}"
            os.makedirs(os.path.dirname(remote), exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, remote)
        else:
            self.fs.pipe_file(remote, data)

    def _exists(self, remote: str) -> bool:
        try:
            return bool(self.fs.exists(remote))
        except Exception as exc:  # each backend has its own network errors (azure.core, botocore, OSError)
            raise RepositoryError(
                f"cannot reach bundle repository {self.url!r} ({type(exc).__name__}: {exc})",
                hint="check the URL and the credentials in the environment (e.g. AZURE_STORAGE_CONNECTION_STRING)",
            ) from None

    def push(self, index: BundleIndex, sources: Mapping[str, Path], *, source_name: str | None = None) -> PushStats:
        digest = index.digest
        if self._exists(self._index_path(digest)):
            return PushStats(uploaded=0, reused=len(index), bytes_uploaded=0, index_existed=True)
        try:
            if self._local:
                self.fs.makedirs(self.root, exist_ok=True)
            else:
                # mkdir creates the container (Azure) or bucket; below that, object stores have no directories.
                with contextlib.suppress(FileExistsError):
                    self.fs.mkdir(self.root, create_parents=True)
        except OSError as exc:
            raise RepositoryError(f"cannot create bundle repository {self.url!r}: {exc}") from None
        uploaded = reused = nbytes = 0
        done: set[str] = set()
        for entry in index:
            if entry.sha256 in done:  # two paths, same bytes: stored once
                reused += 1
                continue
            done.add(entry.sha256)
            remote = self._file_path(entry.digest)
            if self._exists(remote) and self.fs.size(remote) == entry.size:
                reused += 1
                continue
            self._put_file(sources[entry.path], remote)
            uploaded += 1
            nbytes += entry.size
        meta = {"pushed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "source": source_name}
        self._put_bytes(json.dumps(meta, sort_keys=True).encode(), self._meta_path(digest))
        self._put_bytes(index.to_bytes(), self._index_path(digest))  # last: makes the bundle visible
        return PushStats(uploaded=uploaded, reused=reused, bytes_uploaded=nbytes, index_existed=False)

    # --- reading --------------------------------------------------------------------------------------------------

    def has_bundle(self, digest: str) -> bool:
        return self._exists(self._index_path(digest))

    def read_index(self, digest: str) -> bytes:
        try:
            return self.fs.cat_file(self._index_path(digest))
        except FileNotFoundError:
            raise NotFoundError(
                f"bundle {digest} is not in repository {self.url}",
                hint="push it with `mops bundle push DIR --to URL`, or check the repository URL",
            ) from None
        except Exception as exc:
            raise RepositoryError(
                f"cannot read bundle {digest} from {self.url!r} ({type(exc).__name__}: {exc})",
                hint="check the URL and the credentials in the environment (e.g. AZURE_STORAGE_CONNECTION_STRING)",
            ) from None

    def iter_file(self, digest: str) -> Iterator[bytes]:
        try:
            fh = self.fs.open(self._file_path(digest), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"file {digest} is missing from repository {self.url}") from None
        with fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def list_bundles(self) -> list[BundleListing]:
        base = f"{self.root}/indexes/sha256"
        try:
            names = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        listings = []
        for name in names:
            stem = name.rstrip("/").rsplit("/", 1)[-1]
            if not stem.endswith(".json") or ".tmp-" in stem:
                continue
            digest = "sha256:" + stem.removesuffix(".json")
            try:
                index = BundleIndex.from_bytes(self.fs.cat_file(name))
            except Exception:  # a corrupt index is listed without counts rather than hiding the others
                listings.append(BundleListing(digest=digest, files=-1, size=-1))
                continue
            meta: dict[str, Any] = {}
            with contextlib.suppress(FileNotFoundError, ValueError):
                meta = json.loads(self.fs.cat_file(self._meta_path(digest)))
            listings.append(
                BundleListing(
                    digest=digest,
                    files=len(index),
                    size=index.total_size,
                    pushed_at=meta.get("pushed_at"),
                    source=meta.get("source"),
                )
            )
        return sorted(listings, key=lambda b: (b.pushed_at or "", b.digest), reverse=True)
