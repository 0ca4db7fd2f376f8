"""Backups of a run's in-cluster store: `pg_dump` files in the object store, kept to a count, restored on demand.

The backup CronJob dumps with the PostgreSQL image's own `pg_dump -Fc` (same major version as the server) into an
emptyDir, then the modelops image uploads it here (``upload``) as ``<run id>-<UTC time>.dump`` under the backups
URL and deletes the oldest beyond ``keep``. ``restore`` fetches one (or the newest) and replays it with
`pg_restore --clean --if-exists --single-transaction`: all or nothing, so a failed restore leaves the database as
it was. After a restore, `mops run` with the same run id resumes the study from it (the run records replay into
the algorithm, so trials told after the backup are not lost either).

URLs are fsspec URLs (``az://container/path`` through adlfs: workload identity, SAS or a connection string from
the environment; a local directory works too).
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUFFIX = ".dump"
STAMP = re.compile(r"-(\d{8}T\d{6}Z)\.dump$")
# pg_restore of a study database takes seconds; an hour is a bound, not an expectation.
RESTORE_TIMEOUT = 3600


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says which and why (never a password)."""


def backup_name(run_id: str, now: datetime) -> str:
    return f"{run_id}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}{SUFFIX}"


def default_backups_url(runs_url: str, run_id: str) -> str:
    """Beside the run records: ``az://results/runs`` -> ``az://results/runs-backups/<run id>``."""
    return f"{runs_url.rstrip('/')}-backups/{run_id}"


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url)


def _join(fs: Any, url: str, path: str) -> str:
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple | list) else fs.protocol
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def list_backups(url: str, run_id: str) -> list[str]:
    """The run's backups under ``url``, oldest first (names sort by their UTC time)."""
    fs, root = _fs(url)
    try:
        names = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    ours = sorted(p for p in names if Path(p).name.startswith(f"{run_id}-") and STAMP.search(p))
    return [_join(fs, url, p) for p in ours]


def upload(file: str | Path, url: str, run_id: str, keep: int, now: datetime | None = None) -> tuple[str, list[str]]:
    """Store ``file`` as a new backup, then delete the oldest beyond ``keep``; (its URL, the URLs deleted)."""
    if keep < 1:
        raise BackupError("keep must be at least 1")
    file = Path(file)
    if not file.is_file() or file.stat().st_size == 0:
        raise BackupError(f"the dump {file} is missing or empty; did pg_dump fail?")
    fs, root = _fs(url)
    target = f"{root.rstrip('/')}/{backup_name(run_id, now or datetime.now(UTC))}"
    partial = f"{target}.partial"
    try:
        fs.makedirs(root, exist_ok=True)
        fs.put_file(str(file), partial)
        # A reader never sees half a backup: the name with .dump appears only once the upload is complete.
        fs.mv(partial, target)
    except Exception as exc:
        raise BackupError(f"could not upload the backup to {url}: {type(exc).__name__}: {exc}") from None
    existing = list_backups(url, run_id)
    removed = existing[: max(0, len(existing) - keep)]
    for old in removed:
        fs.rm(_fs(old)[1])
    return _join(fs, url, target), removed


def resolve(ref: str, backups_url: str | None, run_id: str) -> str:
    """A backup URL from ``ref``: a URL as is, ``latest`` (the newest), or a file name under ``backups_url``."""
    if "://" in ref or ref.startswith("/"):
        return ref
    if backups_url is None:
        raise BackupError(f"--from {ref!r} is not a URL; give the backup's URL or --backups URL")
    found = list_backups(backups_url, run_id)
    if ref == "latest":
        if not found:
            raise BackupError(f"no backups of run {run_id} under {backups_url}")
        return found[-1]
    matches = [u for u in found if Path(u).name == ref]
    if not matches:
        names = ", ".join(Path(u).name for u in found[-5:]) or "none"
        raise BackupError(f"no backup {ref!r} under {backups_url} (newest: {names})")
    return matches[0]


def fetch(url: str, dest: Path) -> Path:
    fs, path = _fs(url)
    try:
        fs.get_file(path, str(dest))
    except FileNotFoundError:
        raise BackupError(f"backup {url} not found") from None
    return dest


def pg_restore(file: Path, *, executable: str = "pg_restore", env: dict[str, str] | None = None) -> None:
    """Replay a ``pg_dump -Fc`` file into $PGDATABASE (libpq PG* variables), all or nothing."""
    args = [
        executable,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-acl",
        "--single-transaction",
        "--exit-on-error",
        "-d",
        (env or os.environ).get("PGDATABASE", ""),
        str(file),
    ]
    try:
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=RESTORE_TIMEOUT)
    except FileNotFoundError:
        raise BackupError(f"{executable} not found; install postgresql-client (same major version)") from None
    except subprocess.TimeoutExpired:
        raise BackupError(f"pg_restore did not finish within {RESTORE_TIMEOUT} s") from None
    if proc.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing was changed): {proc.stderr.strip()[-1500:]}")
