"""Optuna storages from URLs, and the leases that tell a live trial from one abandoned by a dead process.

A lease is the owner's promise that a RUNNING trial is alive; a trial whose lease lapsed is failed by whoever notices,
and its parameters are retried (see ``optuna_algorithm``). Every RUNNING trial must be able to lapse, including one
whose owner died between Optuna creating it and the owner's first lease write (an ask is several writes, none of
which is atomic with the next). So:

- RDB (PostgreSQL, SQLite): a lease table of calabaria's own (``modelops_trial_leases``: trial id, expiry) stamped with
  the database server's clock, so runners on different machines agree on time. A process looking for dead trials
  first gives every RUNNING trial without a lease a *provisional* one (insert-if-absent, expiring one lease period from
  now): the owner's own lease write, which follows its ask within milliseconds, replaces it; a trial whose owner died
  before writing one lapses a lease period after it was first seen. Optuna's own heartbeat is not used: its stale
  query ignores trials without a heartbeat row (the stall of issue 20) and is private API.
- journal files (one machine): a lease in a trial system attribute (``modelops:lease_until``, wall-clock seconds),
  renewed by the owner; until its first renewal a trial's start time stands for it.
- in memory: no lease (the storage dies with its only process).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Generator, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import BaseJournalBackend
from optuna.trial import FrozenTrial, TrialState

from modelops_contracts.storage import JOURNAL_PREFIX

from ._optuna_compat import trial_id

LEASE_ATTR = "modelops:lease_until"
LEASE_TABLE = "modelops_trial_leases"


class StorageError(ValueError):
    """An Optuna storage could not be opened; the message names the URL's problem. ``transient`` says the database
    could not be reached (worth trying again), as opposed to a wrong URL or a refused request."""

    transient: bool = False


def describe_cause(exc: BaseException) -> str:
    """``Type: first line`` of ``exc``, followed by its database cause when there is one: Optuna wraps every
    SQLAlchemy error in a StorageInternalError whose own text ("An exception is raised during the commit...") says
    nothing of what the server answered."""

    def line(e: BaseException) -> str:
        text = redact_url(str(e)).strip()
        return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__

    cause = exc.__cause__
    if cause is not None and type(exc).__name__ == "StorageInternalError":
        return f"{line(exc)} (caused by {line(cause)})"
    return line(exc)


def _storage_error(message: str, exc: BaseException) -> StorageError:
    error = StorageError(message)
    error.transient = is_transient(exc)
    return error


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@\s]*):[^@/\s]*@", r"\1:***@", url)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached (restart, dropped connection), not that the request
    was wrong: Optuna wraps SQLAlchemy's errors in StorageInternalError, so the cause chain is searched."""
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover - optuna requires sqlalchemy
        return False
    text = str(exc).lower()
    if any(word in text for word in _PERMANENT):
        return False  # the server answered, and said no: waiting will not change its mind
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError):
            return True
        if type(current).__name__ in ("OperationalError", "InterfaceError") and "psycopg" in type(current).__module__:
            return True
        if isinstance(current, ConnectionError):
            return True
        current = current.__cause__ or current.__context__
    return False


_PERMANENT = ("authentication failed", "password", "does not exist", "permission denied", "no pg_hba.conf entry")


class Lease(Protocol):
    """How this process proves its trials alive (``renew``) and finds others' dead ones (``stale``)."""

    kind: str
    seconds: float

    def start(self, tid: int) -> None: ...

    def renew(self, tids: list[int]) -> None: ...

    def stale(self, running: Iterable[FrozenTrial], own: set[int]) -> list[int]: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


class NoLease:
    """In-memory storages: nobody else can see the trials, so nothing can be abandoned."""

    kind = "none"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def start(self, tid: int) -> None:
        pass

    def renew(self, tids: list[int]) -> None:
        pass

    def stale(self, running: Iterable[FrozenTrial], own: set[int]) -> list[int]:
        return []

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass


class AttrLease:
    """Journal files: a lease in a trial system attribute, judged with this machine's clock (a journal is local)."""

    kind = "attr"

    def __init__(self, storage: BaseStorage, seconds: float) -> None:
        self.storage = storage
        self.seconds = seconds

    def start(self, tid: int) -> None:
        pass  # judged by its start time until the first renewal: one write less per trial

    def renew(self, tids: list[int]) -> None:
        for tid in tids:
            with contextlib.suppress(UpdateFinishedTrialError):  # told meanwhile: nothing left to keep alive
                self.storage.set_trial_system_attr(tid, LEASE_ATTR, time.time() + self.seconds)

    def stale(self, running: Iterable[FrozenTrial], own: set[int]) -> list[int]:
        now = time.time()
        horizon = datetime.now() - timedelta(seconds=self.seconds)
        out = []
        for t in running:
            tid = trial_id(t)
            if tid in own or t.state != TrialState.RUNNING:
                continue
            until = t.system_attrs.get(LEASE_ATTR)
            # A trial whose owner died before its first renewal has no lease: judge it by its start time.
            if (until is not None and until < now) or (
                until is None and t.datetime_start is not None and _local_naive(t.datetime_start) < horizon
            ):
                out.append(tid)
        return out

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass


class TableLease:
    """RDB storages: leases in calabaria's own table, with the database server's clock (see the module docstring)."""

    kind = "table"

    def __init__(self, url: str, seconds: float) -> None:
        import sqlalchemy as sa

        self.seconds = seconds
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=2, max_overflow=2, connect_args=_psycopg_connect_args(url))
        self.engine = sa.create_engine(url, **kwargs)
        self.table = sa.Table(
            LEASE_TABLE,
            sa.MetaData(),
            sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("expires_at", sa.Float, nullable=False),
        )
        self.dialect = self.engine.dialect.name
        clock = {
            "postgresql": "extract(epoch from clock_timestamp())",
            "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
            "mysql": "UNIX_TIMESTAMP(NOW(6))",
        }.get(self.dialect)
        # Any other dialect falls back to this machine's clock (right when all runners share one machine's time).
        self._clock: Any = sa.literal_column(clock) if clock else None
        _retry_creation(lambda: self.table.metadata.create_all(self.engine, checkfirst=True))

    def _now(self) -> Any:
        import sqlalchemy as sa

        return self._clock if self._clock is not None else sa.literal(time.time())

    def _insert(self, tids: list[int], *, replace: bool) -> Any:
        rows = [{"trial_id": tid, "expires_at": self._now() + self.seconds} for tid in tids]
        if self.dialect in ("postgresql", "sqlite"):
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                stmt: Any = pg_insert(self.table).values(rows)
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                stmt = sqlite_insert(self.table).values(rows)
            if replace:
                return stmt.on_conflict_do_update(
                    index_elements=["trial_id"], set_={"expires_at": stmt.excluded.expires_at}
                )
            return stmt.on_conflict_do_nothing(index_elements=["trial_id"])
        return None  # generic path below

    def _write(self, tids: list[int], *, replace: bool) -> None:
        if not tids:
            return
        import sqlalchemy as sa

        stmt = self._insert(tids, replace=replace)
        with self.engine.begin() as conn:
            if stmt is not None:
                conn.execute(stmt)
                return
            for tid in tids:  # a dialect without upsert: update, else insert
                done: Any
                if replace:
                    done = conn.execute(
                        self.table.update()
                        .where(self.table.c.trial_id == tid)
                        .values(expires_at=self._now() + self.seconds)
                    ).rowcount
                else:
                    done = conn.execute(sa.select(self.table.c.trial_id).where(self.table.c.trial_id == tid)).first()
                if not done:
                    conn.execute(self.table.insert().values(trial_id=tid, expires_at=self._now() + self.seconds))

    def start(self, tid: int) -> None:
        self._write([tid], replace=True)

    def renew(self, tids: list[int]) -> None:
        self._write(sorted(tids), replace=True)

    def stale(self, running: Iterable[FrozenTrial], own: set[int]) -> list[int]:
        import sqlalchemy as sa

        ids = sorted({trial_id(t) for t in running if t.state == TrialState.RUNNING} - own)
        if not ids:
            return []
        # Provisional leases first: a RUNNING trial nobody ever leased (its owner died inside its ask) lapses too.
        self._write(ids, replace=False)
        out: list[int] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    sa.select(self.table.c.trial_id).where(
                        self.table.c.trial_id.in_(chunk), self.table.c.expires_at < self._now()
                    )
                )
                out.extend(int(r[0]) for r in rows)
        return sorted(out)

    def ping(self) -> None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1)))

    def close(self) -> None:
        self.engine.dispose()


class FlockJournalLock:
    """An exclusive ``flock(2)`` on the journal file itself, in place of Optuna's symlink lock.

    Optuna's default lock creates a symlink, then renames and unlinks it: three metadata operations per write (0.1 to
    1 ms each on a busy disk, and a trial makes about six writes), and a process killed with SIGKILL while writing
    leaves the link behind, so every other process waits out a 30 s grace period. The kernel releases a flock when
    its holder dies, and taking one costs about a microsecond. Every process writing one journal must use this lock:
    an Optuna process with its default lock would not be excluded (journals are per run; shared studies use
    PostgreSQL).
    """

    def __init__(self, file_path: str) -> None:
        self._file_path = file_path
        self._file: Any = None  # opened at first use; the file object closes itself when this lock is collected
        # flock is held per open file description: threads sharing this object's descriptor must queue here first.
        self._threads = threading.Lock()

    def acquire(self) -> bool:
        import fcntl

        self._threads.acquire()
        try:
            if self._file is None:
                self._file = open(self._file_path, "ab")  # noqa: SIM115 - held for the lock's lifetime
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return True

    def release(self) -> None:
        import fcntl

        try:
            if self._file is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def __enter__(self) -> FlockJournalLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class PageCacheJournalFileBackend(BaseJournalBackend):
    """A journal file in Optuna's line format (Optuna's own JournalFileBackend reads it, e.g. optuna-dashboard), written
    under a flock (see FlockJournalLock) and without an fsync per write; built on Optuna's public BaseJournalBackend.

    Optuna fsyncs each append, and a trial takes about six (ask, params, param_id, status, tell): ~2 ms of the
    runner's CPU per trial, on cores it shares with the workers. What the fsync buys is durability against power loss
    or a kernel crash only: a process killed with SIGKILL loses nothing that ``write`` handed to the page cache, and
    other processes read the file through the same page cache. After a power loss the journal could lose its last
    seconds of writes (with fsync, only the one in flight): the runner's resume replays its own durable records of
    results into the study, which repairs lost tells, and trials whose creation was lost are sampled again.
    """

    def __init__(self, file_path: str) -> None:
        self._file_path = file_path
        self._lock = FlockJournalLock(file_path)
        if not os.path.exists(file_path):
            open(file_path, "ab").close()
        self._offsets: dict[int, int] = {0: 0}  # log number -> byte offset of its line, for lines read so far

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        start = self._offsets.get(log_number_from)
        # Optuna syncs with the file before every storage call, about 20 per trial: if the file ends where the last
        # read did, there is nothing to read and nothing to open.
        if start is not None and os.stat(self._file_path).st_size <= start:
            return
        with open(self._file_path, "rb") as f:
            # Read only what was there when we looked: another process may be appending meanwhile.
            remaining = os.fstat(f.fileno()).st_size
            number = 0
            if start is not None:
                f.seek(start)
                number = log_number_from
                remaining -= start
            for line in f:
                remaining -= len(line)
                if remaining < 0 or not line.endswith(b"\n"):
                    break  # a line still being written: read it next time, whole
                offset = self._offsets[number] + len(line)
                try:
                    log = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"journal {self._file_path}: line {number + 1} is not JSON ({exc})") from None
                self._offsets.setdefault(number + 1, offset)
                if number >= log_number_from:
                    yield log
                number += 1

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        payload = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
        with self._lock, open(self._file_path, "ab", buffering=0) as f:
            # Unbuffered: one write(2) per append, so a SIGKILL never leaves half a line for the next writer to extend.
            view = memoryview(payload)
            while view:
                view = view[f.write(view) :]


def _local_naive(moment: datetime) -> datetime:
    """Journal timestamps are UTC-aware, RDB ones naive local time: compare both as naive local time."""
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo is not None else moment


def _psycopg_connect_args(url: str) -> dict[str, Any]:
    """psycopg prepares a statement it has run 5 times on a connection; behind a transaction-pooling PgBouncer the next
    transaction may land on another server connection ("prepared statement _pg3_0 already exists"). Our queries are
    small, so preparing buys nothing measurable: never prepare."""
    return {"prepare_threshold": None} if url.startswith("postgresql+psycopg") else {}


def _creation_race(exc: BaseException) -> bool:
    """True for the errors a runner sees when it loses the race to create Optuna's tables and version row: an
    IntegrityError (PostgreSQL's pg_type unique index), a ProgrammingError or InternalError (a table or row another
    process is creating), raised bare by ``create_all`` or wrapped in a StorageInternalError by Optuna's session."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import IntegrityError, InternalError, ProgrammingError

    if isinstance(exc, StorageInternalError):
        exc = exc.__cause__ or exc
    return isinstance(exc, IntegrityError | ProgrammingError | InternalError)


def _retry_creation(create: Any) -> Any:
    """Runners started together on a fresh database race to create tables, and the losers see an error of the race
    (see _creation_race): the tables exist by then, so trying again succeeds. Bounded: six tries in about 2 s."""
    for attempt in range(6):
        try:
            return create()
        except Exception as exc:
            if attempt == 5 or not _creation_race(exc):
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def open_storage(storage: Any, heartbeat: float, lease_seconds: float) -> tuple[BaseStorage, Lease]:
    """An Optuna storage from None (in memory), a URL (``sqlite:///...``, ``postgresql+psycopg://...``,
    ``journal:///abs/path.log``) or a storage object, with the lease that suits it."""
    if storage is None:
        return InMemoryStorage(), NoLease(lease_seconds)
    if isinstance(storage, InMemoryStorage):
        return storage, NoLease(lease_seconds)
    if isinstance(storage, RDBStorage):
        return storage, _table_lease(storage.url, lease_seconds)
    if isinstance(storage, BaseStorage):
        return storage, AttrLease(storage, lease_seconds)
    if not isinstance(storage, str):
        raise StorageError(f"storage must be None, a URL string or an Optuna storage, got {type(storage).__name__}")
    if storage.startswith(JOURNAL_PREFIX):
        path = storage[len(JOURNAL_PREFIX) :]
        if not path.startswith("/"):
            raise StorageError(f"journal storage {storage!r} needs an absolute path: journal:///abs/path/journal.log")
        try:
            obj = JournalStorage(PageCacheJournalFileBackend(path))
        except OSError as exc:
            raise StorageError(f"cannot open journal file {path!r}: {exc}") from None
        return obj, AttrLease(obj, lease_seconds)
    try:
        engine_kwargs = {"pool_pre_ping": True, "connect_args": _psycopg_connect_args(storage)}
        rdb = _retry_creation(lambda: RDBStorage(storage, engine_kwargs=engine_kwargs))
        return rdb, _table_lease(storage, lease_seconds)
    except StorageError:
        raise
    except Exception as exc:  # SQLAlchemy raises many kinds; the user needs the URL (without password) and the reason
        raise _storage_error(
            f"cannot open Optuna storage {redact_url(storage)!r}: {describe_cause(exc)}. Use sqlite:///path.db, "
            "postgresql+psycopg://user@host:port/db or journal:///abs/path.log",
            exc,
        ) from None


def _table_lease(url: Any, lease_seconds: float) -> TableLease:
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    try:
        return TableLease(text, lease_seconds)
    except Exception as exc:
        raise _storage_error(
            f"cannot create the lease table {LEASE_TABLE!r} in {redact_url(text)!r}: {describe_cause(exc)}",
            exc,
        ) from None
