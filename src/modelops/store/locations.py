"""Where runs are kept, resolved without importing the record code (polars): `mops run` checks it before it starts
its workers, and every import on that path delays the first simulation."""

from __future__ import annotations

import os

DEFAULT_RUNS_DIR = ".modelops/runs"
RUNS_DIR_ENV = "MODELOPS_RUNS_DIR"


def runs_dir_url(value: str | None = None) -> str:
    """The runs directory: the argument, else $MODELOPS_RUNS_DIR, else .modelops/runs (local paths made absolute)."""
    url = value or os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR
    if "://" not in url:
        url = os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/")
