"""Finding and starting the real services the tests talk to.

Used by the repository's conftest.py; kept in a package (not in a test directory) so every package's tests share
one implementation. Named ``real_services`` so it is not mistaken for ``modelops.services`` (the execution services).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REQUIRE_ENV = "MODELOPS_REQUIRE_SERVICES"
# The workspace root: this file is packages/testing/src/modelops_testing/ in it (the dev group installs the member
# editable, so __file__ stays in the checkout).
REPO_ROOT = Path(__file__).resolve().parents[4]

# Azurite's well-known development account: public, documented by Microsoft, valid only against the emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class ServiceUnavailable(RuntimeError):
    """A service a test needs could not be found or started; the message says why and how to fix it."""


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0", "false", "no")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"process {proc.args!r} exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise ServiceUnavailable(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def loopback_process(command: Callable[[int], list[str]], what: str, timeout: float = 60.0) -> Iterator[int]:
    """Run ``command(port)`` for the block, on a free loopback port, and yield the port once something listens.

    ServiceUnavailable (naming ``what``) if it exits or does not listen within ``timeout``; stopped afterwards.
    """
    port = free_port()
    proc = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=timeout, proc=proc)
    except Exception as exc:
        stop_process(proc)
        raise ServiceUnavailable(f"{what} did not start on port {port}: {exc}") from None
    try:
        yield port
    finally:
        stop_process(proc)


# --- PostgreSQL -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    dbname: str

    @property
    def dsn(self) -> str:
        """A libpq URL, as used by psql and psycopg."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def sqlalchemy_url(self) -> str:
        """An SQLAlchemy URL with the psycopg 3 driver, as Optuna's RDBStorage takes."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def env(self) -> dict[str, str]:
        """The libpq PG* variables pointing at this database."""
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": self.dbname}


def postgres_server() -> Postgres:
    """The PostgreSQL server on 127.0.0.1:5432 (trust auth), or ServiceUnavailable."""
    import psycopg

    host, port, user = "127.0.0.1", int(os.environ.get("MODELOPS_TEST_PGPORT", "5432")), "postgres"
    try:
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(
            f"PostgreSQL is not reachable on {host}:{port} ({exc}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        ) from None
    return Postgres(host, port, user, "postgres")


@contextlib.contextmanager
def fresh_database(server: Postgres) -> Iterator[Postgres]:
    """A new, empty database on ``server``, dropped afterwards."""
    import psycopg

    name = f"mops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Postgres(server.host, server.port, server.user, name)
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PG_BIN = Path(os.environ.get("MODELOPS_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A PostgreSQL server of one's own (initdb in a temporary directory, a free port, trust auth), for tests that
    restart or stop the server: never do that to the machine's shared server, other tests are using it.

    ``start()``, ``stop()``, ``restart()`` wrap pg_ctl (fast shutdown: connections are dropped, as in a managed
    database's maintenance restart); ``close()`` stops it and removes its files. As root, the server runs as the
    ``postgres`` user (PostgreSQL refuses to run as root).
    """

    def __init__(self, bin_dir: Path = PG_BIN) -> None:
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (bin_dir / tool).exists():
                raise ServiceUnavailable(
                    f"PostgreSQL's {tool} is not in {bin_dir}; install postgresql (apt-get install postgresql) or set "
                    "MODELOPS_PG_BIN to its bin directory"
                )
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="mops-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        conf = self.data / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
            )
        self.server = Postgres("127.0.0.1", self.port, "postgres", "postgres")

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run(
            [*self._as, str(self.bin_dir / tool), *args], capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise ServiceUnavailable(f"{tool} {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")

    def _ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60", *args)

    def start(self) -> None:
        self._ctl("start")
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")
        wait_for_port(self.port, timeout=30)

    def running(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            return True
        return False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Azurite ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    def storage_options(self) -> dict[str, str]:
        """fsspec/adlfs options for ``az://container/path`` URLs against this emulator."""
        return {"connection_string": self.connection_string}


def _azurite_executable() -> str:
    local = REPO_ROOT / ".ci" / "node" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise ServiceUnavailable(
        "Azurite is not installed. Install it with `npm install --prefix .ci/node azurite` (what .ci/run does)"
    )


@contextlib.contextmanager
def azurite_server() -> Iterator[Azurite]:
    """Start azurite-blob on a free loopback port with a temporary data directory."""
    exe = _azurite_executable()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="azurite-") as data:
        proc = subprocess.Popen(
            [
                exe,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                data,
                "--skipApiVersionCheck",
                "--silent",
                "--loose",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, proc=proc)
            yield Azurite(port)
        finally:
            stop_process(proc)


# --- OCI registry -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OciRegistry:
    port: int
    root: Path  # its storage directory (blobs under root/data), for tests that tamper with stored content

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def _registry_executable() -> str:
    for name in ("docker-registry", "registry"):
        found = shutil.which(name)
        if found:
            return found
    raise ServiceUnavailable(
        "the CNCF distribution server is not installed. Install it with `apt-get install -y docker-registry` "
        "(what .ci/run does)"
    )


@contextlib.contextmanager
def oci_registry_server(root: Path | None = None) -> Iterator[OciRegistry]:
    """Start docker-registry (distribution 2.x) on a free loopback port, storing under ``root`` (default: a temporary
    directory removed afterwards)."""
    if root is None:
        with tempfile.TemporaryDirectory(prefix="registry-") as tmp, oci_registry_server(Path(tmp)) as registry:
            yield registry
        return
    exe = _registry_executable()
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}/data\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen([exe, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
        yield OciRegistry(port, root)
    finally:
        stop_process(proc)
