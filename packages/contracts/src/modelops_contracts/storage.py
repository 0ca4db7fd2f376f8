"""Algorithm storage URLs: the ``storage=`` a runtime hands an AdaptiveAlgorithm, spelled in one place.

- ``journal:///abs/path/optuna.journal``: a journal file on a local disk with working file locks;
- ``sqlite:///path/to/study.db``: an SQLite database file;
- ``postgresql+psycopg://user@host:port/db``: PostgreSQL through psycopg 3 (SQLAlchemy's URL form; a password, if
  any, is better left to libpq's PGPASSWORD than put in the URL).

The runtime builds these (modelops.runner.study), the algorithms read them (calabaria.algorithms).
"""

from __future__ import annotations

import os

JOURNAL_PREFIX = "journal://"
SQLITE_PREFIX = "sqlite:///"
POSTGRES_DRIVER_SCHEME = "postgresql+psycopg"


def journal_url(path: str | os.PathLike[str]) -> str:
    """The URL of a journal file (its absolute path)."""
    return f"{JOURNAL_PREFIX}{os.path.abspath(path)}"


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The URL of an SQLite database file (the path as given: relative to the current directory if relative)."""
    return f"{SQLITE_PREFIX}{os.fspath(path)}"


def postgres_url(dsn: str) -> str:
    """A PostgreSQL DSN (``postgresql://`` or ``postgres://``) with the psycopg driver, unless it names a driver."""
    scheme, rest = dsn.split("://", 1)
    return f"{POSTGRES_DRIVER_SCHEME}://{rest}" if "+" not in scheme else dsn


def postgres_url_from_parts(user: str, host: str, port: str | int, database: str) -> str:
    """A PostgreSQL URL without a password (libpq reads it from PGPASSWORD or ~/.pgpass)."""
    return f"{POSTGRES_DRIVER_SCHEME}://{user}@{host}:{port}/{database}"


def local_file(url: str) -> str | None:
    """The file a journal or SQLite URL names, or None for any other storage."""
    if url.startswith(JOURNAL_PREFIX):
        return url[len(JOURNAL_PREFIX) :]
    if url.startswith(SQLITE_PREFIX):
        return url[len(SQLITE_PREFIX) :]
    return None
