"""Bundle references: ``sha256:<hex>`` names a bundle by the digest of its index; ``<repository>@sha256:<hex>``
also says where to fetch it from (a local directory, an fsspec URL, or ``oci://host[:port]/name``).

The digest alone identifies the bundle; the repository part is only a hint of where to find it, so two refs with
the same digest are the same code and data wherever they were pushed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelops.bundles.errors import RefError

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class BundleRef:
    """A parsed reference: the bundle's digest (``sha256:<hex>``) and, optionally, the repository holding it."""

    digest: str
    repository: str | None = None

    @property
    def hex(self) -> str:
        """The 64 hex digits of the digest (used as directory and object names)."""
        return self.digest.split(":", 1)[1]

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest}" if self.repository else self.digest


def is_digest(text: str) -> bool:
    """True if ``text`` is exactly ``sha256:`` followed by 64 lowercase hex digits."""
    return _DIGEST.fullmatch(text) is not None


def parse_ref(ref: str) -> BundleRef:
    """Parse ``sha256:<hex>`` or ``<repository>@sha256:<hex>``; raise RefError explaining the expected form."""
    if not isinstance(ref, str) or not ref.strip():
        raise RefError("empty bundle reference", hint="give `sha256:<64 hex digits>` as printed by `mops bundle push`")
    text = ref.strip()
    # The digest is always last; split on the LAST '@' so repository URLs with user@host still parse.
    repository, sep, digest = text.rpartition("@")
    if not sep:
        repository, digest = "", text
    if not is_digest(digest):
        raise RefError(
            f"{ref!r} is not a bundle reference",
            hint="expected `sha256:<64 lowercase hex digits>` or `<repository>@sha256:<hex>`, "
            "as printed by `mops bundle push`",
        )
    if sep and not repository:
        raise RefError(f"{ref!r} has an empty repository before '@'", hint="drop the '@' or name the repository")
    return BundleRef(digest=digest, repository=repository or None)


def digest_of(ref: str) -> str:
    """The ``sha256:<hex>`` digest of a reference, without any repository part (what cache keys should use)."""
    return parse_ref(ref).digest


def looks_like_ref(text: str) -> bool:
    """True if ``text`` parses as a bundle reference (used to tell a ref from a directory path)."""
    try:
        parse_ref(text)
    except RefError:
        return False
    return True
