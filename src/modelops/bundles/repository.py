"""Where bundles live: the Repository protocol and ``open_repository(url)``.

A repository stores file contents by digest (so a file shared by many bundles is stored once) and indexes by
digest. Two kinds:

- an object store over fsspec: a local directory, ``file://``, ``az://container/prefix`` (Azure Blob), or any
  fsspec URL (``ObjectStoreRepository``);
- an OCI registry: ``oci://host[:port]/name`` (``OciRepository``); loopback hosts and ``oci+http://`` use plain
  HTTP, everything else HTTPS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from modelops.bundles.errors import RepositoryError
from modelops.bundles.index import BundleIndex
from modelops.bundles.records import BundleListing, PushStats

REPOSITORY_ENV = "MODELOPS_BUNDLE_REPOSITORY"


@runtime_checkable
class Repository(Protocol):
    """A place bundles are pushed to and pulled from. ``url`` is what refs name it by."""

    url: str

    def has_bundle(self, digest: str) -> bool:
        """True if the bundle's index, and so (pushed first) all its files, are in the repository."""
        ...

    def read_index(self, digest: str) -> bytes:
        """The raw index bytes stored under ``digest`` (unverified: callers check them against the digest)."""
        ...

    def iter_file(self, digest: str) -> Iterator[bytes]:
        """The bytes of the file stored under ``digest``, in chunks (unverified)."""
        ...

    def push(self, index: BundleIndex, sources: Mapping[str, Path], *, source_name: str | None = None) -> PushStats:
        """Upload the files the repository lacks, then the index (last, so a visible index means a whole bundle)."""
        ...

    def list_bundles(self) -> list[BundleListing]:
        """Every bundle in the repository, newest first where the repository knows push times."""
        ...


def default_repository_url() -> str | None:
    """The repository named by $MODELOPS_BUNDLE_REPOSITORY, if set."""
    value = os.environ.get(REPOSITORY_ENV, "").strip()
    return value or None


def require_repository_url(url: str | None) -> str:
    """``url`` or $MODELOPS_BUNDLE_REPOSITORY; a RepositoryError saying how to name one when neither is set."""
    url = url or default_repository_url()
    if not url:
        raise RepositoryError(
            "no bundle repository given",
            hint=f"pass --to/--from URL (a directory, az://container/path, oci://host/name) or set {REPOSITORY_ENV}",
        )
    return url


def is_oci_url(url: str) -> bool:
    return url.startswith(("oci://", "oci+http://", "oci+https://"))


def normalize_url(url: str) -> str:
    """Make a repository URL stable enough to embed in a ref: local paths become absolute."""
    if is_oci_url(url) or "://" in url:
        return url.rstrip("/")
    return str(Path(url).expanduser().resolve())


def open_repository(url: str | None = None, *, storage_options: Mapping[str, Any] | None = None) -> Repository:
    """Open the repository at ``url`` (default: $MODELOPS_BUNDLE_REPOSITORY).

    ``storage_options`` go to fsspec (for example adlfs' ``connection_string``); without them adlfs reads the usual
    AZURE_STORAGE_* variables.
    """
    url = normalize_url(require_repository_url(url))
    if is_oci_url(url):
        try:
            from modelops.bundles.oci import OciRepository
        except ModuleNotFoundError as exc:  # oras comes with the cloud extra
            raise RepositoryError(
                f"bundle repository {url} is an OCI registry, which needs the cloud extra ({exc.name} is missing): "
                "pip install 'modelops[cloud]' (in a checkout: uv sync --extra cloud)"
            ) from None
        return OciRepository(url)
    from modelops.bundles.objectstore import ObjectStoreRepository

    return ObjectStoreRepository(url, storage_options=storage_options)
