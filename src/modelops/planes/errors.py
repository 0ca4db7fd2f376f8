"""The one error a plane raises for an expected failure of its own (not the layer below's)."""

from __future__ import annotations


class PlaneError(Exception):
    """A plane refused or could not do what was asked, in a way the user can fix: ``message`` and a ``hint``.

    The CLI's error boundary prints it like any other failure (exit 1, kind ``error``)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
