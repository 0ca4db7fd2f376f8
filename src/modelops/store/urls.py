"""Opening fsspec URLs with a clear error when the filesystem for a URL's scheme is not installed.

fsspec raises a bare ImportError ("Please install gcsfs to access Google Storage") deep inside the first call; runs,
the simulation cache and bundles open their URLs through :func:`url_to_fs` instead, which says which package and
which ModelOps extra provide it:

    >>> scheme_of("gs://bucket/runs"), scheme_of("/tmp/runs")
    ('gs', 'file')
"""

from __future__ import annotations

import importlib
from typing import Any

import fsspec

# URL scheme -> (the fsspec implementation's package, the ModelOps extra that installs it; None: a base dependency).
FILESYSTEMS: dict[str, tuple[str, str | None]] = {
    "s3": ("s3fs", "aws"),
    "s3a": ("s3fs", "aws"),
    "gs": ("gcsfs", "gcp"),
    "gcs": ("gcsfs", "gcp"),
    "az": ("adlfs", None),
    "abfs": ("adlfs", None),
    "abfss": ("adlfs", None),
}


class FilesystemMissing(ValueError):
    """The package implementing a URL's scheme is not installed; the message says what to install."""


def scheme_of(url: str) -> str:
    head, sep, _ = str(url).partition("://")
    return head.lower() if sep else "file"


def check_url(url: str) -> str:
    """``url`` unchanged, or FilesystemMissing naming the package and extra its scheme needs."""
    scheme = scheme_of(url)
    if scheme not in FILESYSTEMS:
        return url
    package, extra = FILESYSTEMS[scheme]
    try:
        importlib.import_module(package)
    except ImportError:
        how = f"pip install 'modelops[{extra}]'" if extra else f"pip install {package}"
        raise FilesystemMissing(
            f"{url}: {scheme}:// URLs need the {package} package, which is not installed; install it with {how}"
        ) from None
    return url


def url_to_fs(url: str, **storage_options: Any) -> tuple[Any, str]:
    """``fsspec.core.url_to_fs`` after :func:`check_url`."""
    return fsspec.core.url_to_fs(check_url(url), **storage_options)
