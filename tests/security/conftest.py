"""A private PostgreSQL that requires a password (the machine's shared server trusts every local connection, so a
test on it could not tell whether a password was sent at all), and the hostile corpus's helpers on sys.path."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelops_testing.real_services import free_port, services_required

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HOSTILE = str(Path(__file__).resolve().parents[1] / "hostile")
if HOSTILE not in sys.path:
    sys.path.insert(0, HOSTILE)


@dataclass(frozen=True)
class PasswordPostgres:
    port: int
    user: str
    password: str
    database: str = "postgres"

    def dsn(self, password: str | None = None) -> str:
        secret = self.password if password is None else password
        auth = f"{self.user}:{secret}" if secret else self.user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{self.database}"


def _as_postgres(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # initdb and postgres refuse to run as root; the machine has a postgres user for its own server.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def password_postgres() -> Iterator[PasswordPostgres]:
    """A PostgreSQL 15 on a free loopback port with scram-sha-256 for every connection (no trust)."""
    if not (PG_BIN / "initdb").exists() or (os.geteuid() == 0 and shutil.which("runuser") is None):
        reason = f"no PostgreSQL binaries in {PG_BIN} (or no runuser to start them as postgres)"
        if services_required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="mops-pgpw-"))
    password = "Pw-" + secrets.token_hex(12)
    (folder / "pw").write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(folder / "pw", "postgres", "postgres")
    port = free_port()
    data = folder / "data"
    init = _as_postgres(
        str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={folder / 'pw'}"
    )
    assert init.returncode == 0, init.stderr
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    start = _as_postgres(
        str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "-t", "60", "start"
    )
    assert start.returncode == 0, start.stderr + (folder / "log").read_text(errors="replace")
    try:
        yield PasswordPostgres(port=port, user="postgres", password=password)
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(folder, ignore_errors=True)
