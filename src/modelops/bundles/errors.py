"""Errors raised by bundles: each says what was wrong and, where it can, how to fix it."""

from __future__ import annotations


class BundleError(RuntimeError):
    """A bundle operation failed. ``hint`` (optional) says how to fix it; the CLI prints it under the error."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class RefError(BundleError, ValueError):
    """A string is not a bundle reference (``sha256:<64 hex>`` or ``<repository>@sha256:<64 hex>``)."""


class UnsafePathError(BundleError):
    """A path would escape the bundle root (absolute, ``..``, or a symlink pointing outside)."""


class IntegrityError(BundleError):
    """Bytes did not match their digest: a tampered or truncated file or index. Nothing was installed."""


class NotFoundError(BundleError):
    """The repository holds no bundle (or no file) with this digest."""


class RepositoryError(BundleError):
    """A repository URL is invalid or the repository could not be reached."""
