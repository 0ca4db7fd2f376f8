"""Secrets out of everything ModelOps writes or prints: one place that knows what a secret looks like.

Used at the boundaries where text leaves the process: the run records (:class:`~modelops.store.results.RunStore`
JSON files, the trial journal's error texts, the copy of the spec), and the CLI's error boundary (every error
message, including ones raised by the science package). What is redacted:

- the password of any URL (``scheme://user:password@host``): DSNs, SQLAlchemy storage URLs;
- ``key=value`` secrets in query strings and connection strings (``password=``, ``AccountKey=``, ``sig=``,
  ``SharedAccessSignature=``, ``token=``, ``secret=``...), as Azure and libpq write them;
- the value of every environment variable whose name says it holds a secret (``*_PASSWORD``, ``*_TOKEN``,
  ``*_KEY``, ``*_SECRET``, ``PGPASSWORD``, ``*_CONNECTION_STRING``), wherever it appears verbatim (or URL-quoted).
  Values shorter than :data:`MIN_SECRET_CHARS` are left alone: redacting every "1" would make records unreadable,
  and a secret that short protects nothing.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MARKER = "***"
MIN_SECRET_CHARS = 6
SECRET_ENV_NAME = re.compile(
    r"(?i)(^PGPASSWORD$|PASSWORD$|PASSWD$|_TOKEN$|_KEY$|_SECRET$|SECRET_ACCESS_KEY$|CONNECTION_STRING$|_SAS$|_DSN$)"
)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/@\s'\"]*):(?P<pw>[^@\s'\"]*)@")
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|accountkey|sharedaccesssignature|sig|secret|client_secret|token|"
    r"access_token|sastoken|sas_token)\s*=\s*)(?P<value>[^&;\s'\"]+)"
)
SPEC_NOTE = (
    "# modelops: secrets in this copy of the spec were replaced by ***; nothing else was changed.\n"
    "# To reuse it (or `mops run <this file> --resume <run-id>`), supply them from the environment: a storage.dsn\n"
    "# password with PGPASSWORD (or ~/.pgpass); a dsn whose password is *** takes it from there.\n"
)


def secret_env_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of secret-named environment variables (long enough to be worth redacting), longest first."""
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if SECRET_ENV_NAME.search(k) and len(v) >= MIN_SECRET_CHARS}
    return tuple(sorted(found, key=len, reverse=True))


@functools.lru_cache(maxsize=8)
def _literal_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for v in values:
        forms |= {v, quote(v, safe=""), quote_plus(v, safe="")}
    forms = {f for f in forms if len(f) >= MIN_SECRET_CHARS}
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret it holds replaced by ``***`` (see the module docstring for what counts)."""
    if not text:
        return text
    pattern = _literal_pattern(secret_env_values(environ))
    if pattern is not None:
        text = pattern.sub(MARKER, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MARKER}@" if m.group("pw") else m.group(0), text)
    return _KEY_VALUE.sub(lambda m: f"{m.group('key')}{MARKER}", text)


def redact_data(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of JSON-like ``value`` (mappings, lists, strings) with every string passed through :func:`redact_text`."""
    if isinstance(value, str):
        return redact_text(value, environ)
    if isinstance(value, Mapping):
        return {redact_data(k, environ): redact_data(v, environ) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, environ) for v in value]
    return value


def redact_spec(text: str, environ: Mapping[str, str] | None = None) -> str:
    """The spec as written, secrets replaced, with a note at the top saying how to supply them (only if any were)."""
    clean = redact_text(text, environ)
    return clean if clean == text else SPEC_NOTE + clean


def password_is_marker(dsn: str) -> bool:
    """Whether a DSN's password is the redaction marker (a spec copied from a run directory)."""
    match = _URL_PASSWORD.search(dsn)
    return bool(match and match.group("pw") == MARKER)


def strip_marker_password(dsn: str) -> str:
    """``scheme://user:***@host`` -> ``scheme://user@host``: libpq then takes the password from PGPASSWORD/.pgpass."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}@" if m.group("pw") == MARKER else m.group(0), dsn)
