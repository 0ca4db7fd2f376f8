"""Optuna storages from URLs, and the leases that tell a live trial from one abandoned by a dead process.

Optuna 5.0 offers heartbeats only for RDB storages (``RDBStorage(heartbeat_interval=, grace_period=)``: a
``trial_heartbeats`` table stamped with the database server's clock, and ``_get_stale_trial_ids``); its journal storage
has none. So:

- RDB (PostgreSQL, SQLite): Optuna's own heartbeat, in whole seconds as Optuna requires;
- journal files: a lease in a trial system attribute (``modelops:lease_until``, wall-clock seconds), renewed by the
  owner and judged expired by others; until its first renewal a trial's start time stands for it (one write less per
  trial, and most trials end before the first renewal is due);
- in memory: no lease (the storage dies with its only process).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock, get_lock_file
from optuna.trial import TrialState

JOURNAL_PREFIX = "journal://"
LEASE_ATTR = "modelops:lease_until"


class StorageError(ValueError):
    """An Optuna storage could not be opened; the message names the URL's problem."""


@dataclass(frozen=True)
class Lease:
    """How this process proves its trials alive (``renew``) and finds others' dead ones (``stale``)."""

    storage: BaseStorage
    kind: str  # "heartbeat" | "attr" | "none"
    seconds: float  # how long a silent trial is trusted

    def start(self, trial_id: int) -> None:
        """A trial was just asked. RDB heartbeats must exist to expire (Optuna ignores trials without one); a journal
        trial is judged by its start time until the first renewal, so it needs no write yet."""
        if self.kind == "heartbeat":
            self.renew(trial_id)

    def renew(self, trial_id: int) -> None:
        if self.kind == "heartbeat":
            assert isinstance(self.storage, RDBStorage)
            self.storage.record_heartbeat(trial_id)
        elif self.kind == "attr":
            self.storage.set_trial_system_attr(trial_id, LEASE_ATTR, time.time() + self.seconds)

    def stale(self, study_id: int, running: Iterable[optuna.trial.FrozenTrial], own: set[int]) -> list[int]:
        """Trial ids of RUNNING trials whose owner stopped renewing, excluding this process's own."""
        if self.kind == "none":
            return []
        if self.kind == "heartbeat":
            assert isinstance(self.storage, RDBStorage)
            ids = set(self.storage._get_stale_trial_ids(study_id))  # Optuna's own query, server clock
            return sorted(ids - own)
        now = time.time()
        horizon = datetime.now() - timedelta(seconds=self.seconds)
        out = []
        for t in running:
            if t._trial_id in own or t.state != TrialState.RUNNING:
                continue
            until = t.system_attrs.get(LEASE_ATTR)
            # A trial whose owner died before its first renewal has no lease: judge it by its start time.
            if (until is not None and until < now) or (
                until is None and t.datetime_start is not None and _local_naive(t.datetime_start) < horizon
            ):
                out.append(t._trial_id)
        return out


class FlockJournalLock(BaseJournalFileLock):
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


def _journal_lock(file_path: str) -> BaseJournalFileLock | None:
    """The flock lock where the platform has flock (Linux, macOS), else Optuna's default (None)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - Windows
        return None
    return FlockJournalLock(file_path)


class PageCacheJournalFileBackend(JournalFileBackend):
    """Optuna's journal file backend (same line format) with a flock (see FlockJournalLock) and no fsync per write.

    Optuna fsyncs each append, and a trial takes about six (ask, params, param_id, status, tell): ~2 ms of the
    runner's CPU per trial, on cores it shares with the workers. What the fsync buys is durability against power loss
    or a kernel crash only: a process killed with SIGKILL loses nothing that ``write`` handed to the page cache, and
    other processes read the file through the same page cache. After a power loss the journal could lose its last
    seconds of writes (with fsync, only the one in flight): the runner's resume replays its own durable records of
    results into the study, which repairs lost tells, and trials whose creation was lost are sampled again.
    """

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path, lock_obj=_journal_lock(file_path))

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        # Optuna syncs with the file before every storage call, about 20 per trial, and each sync opens and reads the
        # file. The file only grows by whole appends: if it ends where the last read did, there is nothing to read.
        offset = self._log_number_offset.get(log_number_from)
        if offset is not None:
            try:
                if os.stat(self._file_path).st_size <= offset:
                    return
            except OSError:
                pass  # let Optuna's reader raise its own error
        yield from super().read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with get_lock_file(self._lock):
            what_to_write = "\n".join([json.dumps(log, separators=(",", ":")) for log in logs]) + "\n"
            with open(self._file_path, "ab") as f:
                f.write(what_to_write.encode("utf-8"))


def _local_naive(moment: datetime) -> datetime:
    """Journal timestamps are UTC-aware, RDB ones naive local time: compare both as naive local time."""
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo is not None else moment


def _open_rdb(url: str, heartbeat: float, lease_seconds: float) -> RDBStorage:
    """RDBStorage with Optuna's heartbeat. Runners started together on a fresh database race to create Optuna's
    tables, and the losers see an IntegrityError (PostgreSQL's pg_type unique index): the tables exist by then, so
    trying again succeeds."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    # psycopg prepares a statement it has run 5 times on a connection; behind a transaction-pooling PgBouncer the
    # next transaction may land on another server connection ("prepared statement _pg3_0 already exists"). Optuna's
    # queries are small, so preparing buys nothing measurable: never prepare.
    engine_kwargs = {"connect_args": {"prepare_threshold": None}} if url.startswith("postgresql+psycopg") else {}
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=max(1, math.ceil(heartbeat)),
                    grace_period=max(1, math.ceil(lease_seconds)),
                )
        except (IntegrityError, ProgrammingError):
            if attempt == 5:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def open_storage(storage: Any, heartbeat: float, lease_seconds: float) -> tuple[BaseStorage, Lease]:
    """An Optuna storage from None (in memory), a URL (``sqlite:///...``, ``postgresql+psycopg://...``,
    ``journal:///abs/path.log``) or a storage object, with the lease that suits it."""
    if storage is None:
        obj: BaseStorage = InMemoryStorage()
    elif isinstance(storage, BaseStorage):
        obj = storage
    elif isinstance(storage, str):
        if storage.startswith(JOURNAL_PREFIX):
            path = storage[len(JOURNAL_PREFIX) :]
            if not path.startswith("/"):
                raise StorageError(
                    f"journal storage {storage!r} needs an absolute path: journal:///abs/path/journal.log"
                )
            try:
                obj = JournalStorage(PageCacheJournalFileBackend(path))
            except OSError as exc:
                raise StorageError(f"cannot open journal file {path!r}: {exc}") from None
        else:
            try:
                obj = _open_rdb(storage, heartbeat, lease_seconds)
            except Exception as exc:  # SQLAlchemy raises many kinds; the user needs the URL and the reason
                raise StorageError(
                    f"cannot open Optuna storage {storage!r}: {type(exc).__name__}: {exc}. Use sqlite:///path.db, "
                    "postgresql+psycopg://user@host:port/db or journal:///abs/path.log"
                ) from None
    else:
        raise StorageError(f"storage must be None, a URL string or an Optuna storage, got {type(storage).__name__}")
    if isinstance(obj, RDBStorage) and obj.heartbeat_interval is not None:
        grace = obj.grace_period if obj.grace_period is not None else 2 * obj.heartbeat_interval
        return obj, Lease(obj, "heartbeat", float(grace))
    if isinstance(obj, InMemoryStorage):
        return obj, Lease(obj, "none", lease_seconds)
    return obj, Lease(obj, "attr", lease_seconds)
