"""What repositories report back: a push's statistics and a bundle's listing.

Kept apart from ``repository`` (the protocol and ``open_repository``) because the implementations (``oci``,
``objectstore``) return these, while ``open_repository`` imports the implementations: with the records in
``repository`` the two imported each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PushStats:
    """What a push did: files uploaded, files the repository already had (deduplicated), bytes uploaded."""

    uploaded: int
    reused: int
    bytes_uploaded: int
    index_existed: bool


@dataclass(frozen=True)
class BundleListing:
    """One bundle in a repository, for `mops bundle ls`."""

    digest: str
    files: int
    size: int
    pushed_at: str | None = None
    source: str | None = None
