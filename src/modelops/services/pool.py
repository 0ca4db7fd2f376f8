"""PoolSimulationService: simulation groups on a pool of local worker processes, without a scheduler.

The lean local backend (``execution.backend: pool``, the default for ``execution.workers: N``). N worker processes,
each with a Unix socket to the runner; the runner keeps no IO-loop thread and no scheduler: ``wait`` blocks in
``multiprocessing.connection.wait`` over the workers' sockets, and workers stream each group's result back as it
finishes, so a lost worker loses only the group it was running. Workers run :func:`modelops.services.tasks.run_group`,
the very task the Dask and in-process services run.

API (the contract with the runner; see also INTERFACE.md)::

    with PoolSimulationService(n_workers=2, timeout_s=None, retries=1) as service:   # workers start now
        service.prepare(context)          # RunContext: ships it once per worker, imports the model there;
                                          # raises ModelLoadError (stage "model" | "evaluator") with the cause
        with service.pipeline(max_in_flight) as pipe:     # a GroupPipeline, as on Dask
            pipe.submit(context.group(params, param_id, seeds))   # full groups; only params/param_id/seeds travel
            result = pipe.next_result(timeout)                     # GroupResult; .timed_out, .error name the cause
    service.slots, service.submit(fn_ref, params, seed), service.gather(futures), service.close()

Threads: a pool is used by one thread at a time (no locks on the hot path); ``prepare`` may run in a helper thread
while the caller does other work, as long as nothing else calls the service until it returns.

How workers start (measured on a 2-core VM, see bench/bench_backends.py): the runner starts one *launcher*
(``python -m modelops.services.poolworker``, a plain subprocess in its own session: no re-import of ``__main__``,
works without a ``__main__`` guard and in Jupyter) that forks each worker. A worker's parent is the launcher, so a
model that kills its parent costs the launcher, which the runner replaces; workers ignore SIGINT, so a terminal
Ctrl-C reaches only the runner, which finishes what is in flight.

Limits: ``timeout_s`` bounds each simulation (a group's budget is ``timeout_s`` x its replicates, counted from when
the worker starts it); a group over budget has its worker killed (SIGKILL works on a stopped process too) and
replaced. A group whose worker died or timed out runs again up to ``retries`` times, then comes back failed with the
cause ("killed by SIGSEGV", "exited with code 1", "timeout after 2.0 s") and ``timed_out`` set for a timeout. Groups
queued behind it on that worker are re-sent without counting an attempt. Workers that keep dying while starting
(a model that crashes at import) end the pool: outstanding groups fail with the cause, never a wait for ever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, cast

from modelops.services.context import DEFAULT_PREPARE_TIMEOUT_S, ModelLoadError, RunContext

if TYPE_CHECKING:
    from modelops.services.pipeline import GroupPipeline
    from modelops.services.tasks import GroupResult, SimulationGroup
    from modelops_contracts import SimReturn

# The task code (polars, pyarrow, fsspec: 0.5-1.5 s of imports) loads where it is used, after the launcher started:
# the runner opens the pool first thing, so the workers start while it imports the rest.

#: Tasks sent to a worker ahead of the one it runs, so it never waits for the runner between tasks.
PREFETCH = 2
#: A worker that has not said hello this long after its fork is presumed stuck and replaced.
START_TIMEOUT_S = 60.0
REPLACEMENT_MIN_S = 15.0
REPLACEMENT_FACTOR = 10.0
#: How long to wait for the launcher's report of how a worker ended, once its socket closed.
EXIT_REPORT_S = 1.0
#: Deaths of workers that never became ready (crash at import) before the pool gives up, per worker slot.
MAX_START_FAILURES_PER_SLOT = 3
MAX_RETRIES = 10
#: Chunks of about this much work: a pool task costs the runner ~0.1 ms (Dask: 1-4 ms, hence its 0.2 s), and smaller
#: chunks keep the tail of a batch from running on one worker while the others idle.
POOL_TARGET_TASK_S = 0.05
#: Messages taken from one worker socket per wake-up.
DRAIN_MAX = 64


def _has_data(conn: Connection) -> bool:
    try:
        return conn.poll(0)
    except (OSError, EOFError):
        return True  # let recv() report the end


class PoolBrokenError(RuntimeError):
    """The pool cannot keep any worker alive (every replacement dies while starting)."""


def describe_status(status: int | None) -> str:
    """'exited with code 3' / 'killed by SIGSEGV' from a waitpid status; None: the status is unknown."""
    if status is None:
        return "ended (its exit status is unknown: its launcher was gone)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"was killed by {name}"
    if os.WIFEXITED(status):
        return f"exited with code {os.WEXITSTATUS(status)}"
    return f"ended with wait status {status}"


def lost_result(group: SimulationGroup, cause: str, *, timed_out: bool = False) -> GroupResult:
    """The result of a group that could not run to the end: every replicate failed with ``cause``."""
    from modelops.services.tasks import GroupResult, ReplicateOutcome, bounded

    error = bounded(cause)
    outcomes = tuple(ReplicateOutcome(i, s, False, error, 0.0, False) for i, s in enumerate(group.seeds))
    return GroupResult(group.param_id, outcomes, None, error, 0.0, None, timed_out)


@dataclass
class _Chunk:
    """What the pipeline dispatched: results fill in as groups finish, on whichever worker."""

    groups: list[SimulationGroup]
    results: list[GroupResult | None]
    remaining: int
    future: Future | None = None


@dataclass
class _Job:
    """Some groups of a chunk sent together to one worker; ``attempts`` counts earlier lost runs (retries)."""

    chunk: _Chunk
    indices: list[int]
    attempts: int = 0
    task_id: int = 0
    done: int = 0  # results received

    def current(self) -> SimulationGroup:
        return self.chunk.groups[self.indices[self.done]]


@dataclass
class _Worker:
    token: int
    conn: Connection
    launcher: _Launcher
    pid: int | None = None
    state: str = "starting"  # starting -> (warming) -> ready
    since: float = field(default_factory=time.monotonic)
    spawned: float = field(default_factory=time.monotonic)
    jobs: deque[_Job] = field(default_factory=deque)
    group_started: float = 0.0
    digest: str | None = None


class _Launcher:
    """The process that forks workers (see modelops.services.poolworker); ``preload``: modules it imports first."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        # The workers must import this very modelops, whatever the runner's working directory and sys.path.
        env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelops.services.poolworker", str(theirs.fileno()), *preload],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
        theirs.close()
        self.sock = ours
        self.reports = Connection(os.dup(ours.fileno()))
        self.alive = True

    def spawn(self, token: int) -> Connection:
        runner_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(self.sock, [struct.pack("Q", token)], [worker_end.fileno()])
        finally:
            worker_end.close()
        return Connection(runner_end.detach())

    def close(self) -> None:
        self.alive = False
        for closer in (self.reports.close, self.sock.close):
            with contextlib.suppress(OSError):
                closer()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class _Engine:
    """The workers and the queue of jobs; the pipeline's TaskBackend."""

    def __init__(self, n_workers: int, timeout_s: float | None, retries: int, preload: Sequence[str] = ()):
        if n_workers < 1:
            raise ValueError(f"a process pool needs at least one worker, got {n_workers}")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if not 0 <= retries <= MAX_RETRIES:
            raise ValueError(f"retries must be between 0 and {MAX_RETRIES}, got {retries}")
        self.n_workers = n_workers
        self.timeout_s = timeout_s
        self.retries = retries
        self.context: RunContext | None = None
        self.preload = tuple(preload)
        self.launcher = _Launcher(self.preload)
        self.old_launchers: list[_Launcher] = []
        self.workers: dict[int, _Worker] = {}
        self.by_pid: dict[int, _Worker] = {}
        self.statuses: dict[int, int] = {}  # pid -> wait status, as the launcher reported it
        self.queue: deque[_Job] = deque()
        self.done: deque[_Chunk] = deque()
        self.next_token = 0
        self.next_task = 0
        self.start_failures = 0
        # The longest a worker has taken so far from its spawn to ready: once known, a replacement that takes many
        # times longer is wedged (a fork-time lock, a stuck import), not slow, and is replaced after
        # max(REPLACEMENT_MIN_S, REPLACEMENT_FACTOR x this) instead of the first start's generous limits.
        self.ready_s: float | None = None
        self.broken: str | None = None
        self.last_cause: str | None = None
        self.load_error: tuple[str, str] | None = None
        for _ in range(n_workers):
            self._spawn()

    # -- workers ----------------------------------------------------------------------------------------------------

    def _spawn(self) -> None:
        if not self.launcher.alive or self.launcher.proc.poll() is not None:
            self._replace_launcher()
        self.next_token += 1
        try:
            conn = self.launcher.spawn(self.next_token)
        except OSError:  # the launcher died just now (a model killed it): one more try with a new one
            self._replace_launcher()
            conn = self.launcher.spawn(self.next_token)
        self.workers[self.next_token] = _Worker(self.next_token, conn, self.launcher)

    def _replace_launcher(self) -> None:
        self.launcher.alive = False
        self.old_launchers.append(self.launcher)
        self.launcher = _Launcher(self.preload)

    def _conns(self) -> list[Any]:
        conns: list[Any] = [w.conn for w in self.workers.values()]
        conns += [launcher.reports for launcher in [self.launcher, *self.old_launchers] if launcher.alive]
        return conns

    def _on_report(self, launcher: _Launcher) -> None:
        try:
            message = launcher.reports.recv()
        except (EOFError, OSError):
            launcher.close()  # it died (a model killed its parent?): reap it; a new one starts when needed
            return
        if message[0] == "pid":
            _, token, pid = message
            worker = self.workers.get(token)
            if worker is not None:
                worker.pid = pid
                self.by_pid[pid] = worker
        elif message[0] == "exit":
            _, pid, status = message
            if pid in self.by_pid:  # otherwise a worker already given up on (killed on timeout, cancelled)
                self.statuses[pid] = status

    def _exit_status(self, worker: _Worker) -> int | None:
        """How ``worker`` ended, as its launcher reports it (waiting up to EXIT_REPORT_S)."""
        deadline = time.monotonic() + EXIT_REPORT_S
        launcher = worker.launcher
        while worker.pid is None or worker.pid not in self.statuses:
            remaining = deadline - time.monotonic()
            if not launcher.alive or remaining <= 0:
                return None
            if wait([launcher.reports], remaining):
                self._on_report(launcher)
        return self.statuses.get(worker.pid)

    def _kill(self, worker: _Worker) -> None:
        if worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)

    def _lose(self, worker: _Worker, cause: str, *, timed_out: bool = False) -> None:
        """``worker`` is gone: retry or fail the group it was running, re-queue the rest, start a replacement."""
        self.workers.pop(worker.token, None)
        if worker.pid is not None:
            self.by_pid.pop(worker.pid, None)
            self.statuses.pop(worker.pid, None)
        with contextlib.suppress(OSError):
            worker.conn.close()
        self.last_cause = cause
        if worker.state != "ready":
            self.start_failures += 1
        else:
            self.start_failures = 0
        requeue: list[_Job] = []
        for position, job in enumerate(worker.jobs):
            if job.done >= len(job.indices):
                continue
            rest = job.indices[job.done :]
            if position == 0:
                # The culprit: the group the worker was running when it was lost.
                culprit, rest = rest[0], rest[1:]
                if job.attempts < self.retries:
                    requeue.append(_Job(job.chunk, [culprit], job.attempts + 1))
                else:
                    attempts = job.attempts + 1
                    self._finish(
                        job.chunk,
                        culprit,
                        lost_result(
                            job.chunk.groups[culprit],
                            f"{cause} (attempt {attempts} of {self.retries + 1})",
                            timed_out=timed_out,
                        ),
                    )
            if rest:
                requeue.append(_Job(job.chunk, rest, 0))
        worker.jobs.clear()
        self.queue.extendleft(reversed(requeue))
        if self.start_failures >= MAX_START_FAILURES_PER_SLOT * self.n_workers:
            self.broken = (
                f"the process pool gave up: {self.start_failures} workers in a row ended before they were ready; the "
                f"last one {cause}"
            )
        if self.broken is None:
            try:
                self._spawn()
            except OSError as exc:
                self.broken = f"the process pool cannot start a worker: {exc}"
        if self.broken is not None and not self.workers:
            self._fail_everything(self.broken)

    def _fail_everything(self, cause: str) -> None:
        """No worker is left and none can be started: every outstanding group fails with ``cause``."""
        jobs = list(self.queue)
        self.queue.clear()
        for worker in list(self.workers.values()):
            jobs += list(worker.jobs)
            worker.jobs.clear()
        for job in jobs:
            for index in job.indices[job.done :]:
                self._finish(job.chunk, index, lost_result(job.chunk.groups[index], cause))

    def _finish(self, chunk: _Chunk, index: int, result: GroupResult) -> None:
        if chunk.results[index] is not None:
            return
        chunk.results[index] = result
        chunk.remaining -= 1
        if chunk.remaining == 0:
            if chunk.future is not None:
                chunk.future.set_result(chunk.results[0])
            else:
                self.done.append(chunk)

    # -- messages ---------------------------------------------------------------------------------------------------

    def _on_message(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._lose(worker, f"the worker running this group {describe_status(self._exit_status(worker))}")
            return
        except Exception as exc:  # an unpicklable result: the worker is fine, its stream is not
            self._kill(worker)
            self._lose(worker, f"the worker sent a result this process cannot read: {type(exc).__name__}: {exc}")
            return
        kind = message[0]
        now = time.monotonic()
        if kind == "result":
            _, task_id, _index, result = message
            job = worker.jobs[0]
            if job.task_id != task_id or job.indices[job.done] is None:  # pragma: no cover - protocol invariant
                raise RuntimeError(f"pool protocol error: result for task {task_id} while {job.task_id} runs")
            self._finish(job.chunk, job.indices[job.done], result)
            job.done += 1
            worker.group_started = now
            if job.done == len(job.indices):
                worker.jobs.popleft()
        elif kind == "hello":
            worker.pid = message[1]
            self.by_pid[worker.pid] = worker
            if self.context is not None:
                self._send(worker, ("context", self.context))
                worker.state = "warming"
                worker.since = now
            else:
                worker.state = "ready"
        elif kind == "ready":
            _, digest, error = message
            worker.digest = digest
            if error is not None:
                self.load_error = error
            worker.state = "ready"
            worker.group_started = now
            took = now - worker.spawned
            self.ready_s = took if self.ready_s is None else max(self.ready_s, took)
        self._feed()

    def _send(self, worker: _Worker, message: Any) -> None:
        # A worker gone meanwhile: its socket reports EOF on the next wait, handled there.
        with contextlib.suppress(OSError):
            worker.conn.send(message)

    def _feed(self) -> None:
        """Send queued jobs to ready workers with room (PREFETCH jobs each)."""
        if not self.queue:
            return
        for worker in self.workers.values():
            while self.queue and worker.state == "ready" and len(worker.jobs) < PREFETCH:
                job = self.queue.popleft()
                self.next_task += 1
                job.task_id = self.next_task
                digest = self.context.digest if self.context is not None else None
                # A group whose constant fields the worker holds goes as (params, param_id, seeds).
                items: list[SimulationGroup | tuple[Mapping[str, Any], str, tuple[int, ...]]] = []
                for index in job.indices:
                    group = job.chunk.groups[index]
                    if digest is not None and worker.digest == digest and self.context.matches(group):  # type: ignore[union-attr]
                        items.append((group.params, group.param_id, group.seeds))
                    else:
                        items.append(group)
                if not worker.jobs:
                    worker.group_started = time.monotonic()
                worker.jobs.append(job)
                self._send(worker, ("task", job.task_id, items))

    def _deadline(self, worker: _Worker) -> float | None:
        if worker.state == "starting" or worker.state == "warming":
            limit = START_TIMEOUT_S if worker.state == "starting" else DEFAULT_PREPARE_TIMEOUT_S
            if self.ready_s is not None:
                limit = min(limit, max(REPLACEMENT_MIN_S, REPLACEMENT_FACTOR * self.ready_s))
            return worker.since + limit
        if self.timeout_s is None or not worker.jobs:
            return None
        group = worker.jobs[0].current()
        return worker.group_started + self.timeout_s * len(group.seeds)

    def _expire(self, now: float) -> float | None:
        """Kill workers past their deadline; the time of the next deadline (None: none)."""
        nearest: float | None = None
        for worker in list(self.workers.values()):
            deadline = self._deadline(worker)
            if deadline is None:
                continue
            if deadline <= now:
                self._kill(worker)
                if worker.state == "ready":
                    budget = self.timeout_s * len(worker.jobs[0].current().seeds)  # type: ignore[operator]
                    self._lose(
                        worker,
                        f"timeout: the group ran longer than {budget:.1f} s (timeout_s {self.timeout_s:g} s x "
                        f"{len(worker.jobs[0].current().seeds)} replicates); its worker was killed",
                        timed_out=True,
                    )
                else:
                    self._lose(worker, f"the worker did not start within {deadline - worker.since:.0f} s")
                continue
            nearest = deadline if nearest is None else min(nearest, deadline)
        return nearest

    def poll(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` for messages (or deadlines) and handle them."""
        now = time.monotonic()
        nearest = self._expire(now)
        if nearest is not None:
            timeout = max(0.0, nearest - now) if timeout is None else max(0.0, min(timeout, nearest - now))
        conns = self._conns()
        if not conns:  # defensive: nothing to wait on must not block for ever
            timeout = 0.1 if timeout is None else min(timeout, 0.1)
        # Every object waited on is a Connection (workers' and launchers' sockets).
        ready = cast("list[Connection]", wait(conns, timeout))
        reports = {launcher.reports: launcher for launcher in [self.launcher, *self.old_launchers]}
        by_conn = {w.conn: w for w in self.workers.values()}
        for conn in ready:
            if conn in reports:
                # Ready when wait() returned, but a worker's loss handled earlier in this loop may have read the
                # report already (_exit_status): recv() on an empty socket would block for ever.
                if _has_data(conn):
                    self._on_report(reports[conn])
                continue
            worker = by_conn.get(conn)
            # Take every message already waiting on this socket: one wait() per burst, not per group.
            for _ in range(DRAIN_MAX):
                if worker is None or worker.token not in self.workers:
                    break
                self._on_message(worker)
                if worker.token not in self.workers or not _has_data(conn):
                    break
        self.old_launchers = [launcher for launcher in self.old_launchers if launcher.alive]
        self._expire(time.monotonic())

    # -- TaskBackend ------------------------------------------------------------------------------------------------

    def dispatch(self, chunk: Sequence[SimulationGroup], future: Future | None = None) -> None:
        groups = list(chunk)
        entry = _Chunk(groups, [None] * len(groups), len(groups), future)
        if self.broken is not None and not self.workers:
            for index, group in enumerate(groups):
                self._finish(entry, index, lost_result(group, self.broken))
            return
        self.queue.append(_Job(entry, list(range(len(groups)))))
        self._feed()

    def wait(self, timeout: float | None) -> tuple[Sequence[SimulationGroup], list[GroupResult]] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            if not self.queue and not any(w.jobs for w in self.workers.values()):
                return None  # nothing in flight
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self.poll(remaining)
        chunk = self.done.popleft()
        return chunk.groups, chunk.results  # type: ignore[return-value]

    def cancel_all(self) -> None:
        """Drop queued jobs; workers busy with cancelled work are killed and replaced (their result is not wanted).

        Everything goes, ``submit`` futures included (they end cancelled): one pipeline at a time per pool.
        """
        jobs = list(self.queue)
        self.queue.clear()
        self.done.clear()
        for worker in list(self.workers.values()):
            if worker.jobs:
                jobs += list(worker.jobs)
                self._kill(worker)
                worker.jobs.clear()
                self._lose(worker, "cancelled")
        for job in jobs:
            if job.chunk.future is not None:
                job.chunk.future.cancel()

    # -- warm-up ----------------------------------------------------------------------------------------------------

    def prepare(self, context: RunContext, timeout_s: float) -> None:
        self.context = context
        self.load_error = None
        for worker in self.workers.values():
            if worker.state == "ready":
                self._send(worker, ("context", context))
                worker.state = "warming"
                worker.since = time.monotonic()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.load_error is not None:
                stage, message = self.load_error
                raise ModelLoadError(message, stage=stage, ref=context.fn_ref)
            if self.broken is not None:
                raise ModelLoadError(
                    f"cannot load the model {context.fn_ref!r} on the workers: {self._load_cause()}",
                    ref=context.fn_ref,
                )
            if self.start_failures:
                raise ModelLoadError(
                    f"cannot load the model {context.fn_ref!r}: the worker {self._load_cause()} while importing "
                    "the model (its module crashes the Python process at import, or calls os._exit / sys.exit)",
                    ref=context.fn_ref,
                )
            if all(w.state == "ready" and w.digest == context.digest for w in self.workers.values()):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ModelLoadError(
                    f"the workers did not finish importing the model {context.fn_ref!r} within {timeout_s:.0f} s "
                    "(is its module doing long work, or waiting, at import?)",
                    ref=context.fn_ref,
                )
            self.poll(remaining)

    def _load_cause(self) -> str:
        cause = self.last_cause or "ended"
        return cause.removeprefix("the worker running this group ")

    def close(self) -> None:
        for worker in list(self.workers.values()):
            self._send(worker, ("exit",))
        deadline = time.monotonic() + 2.0
        for worker in list(self.workers.values()):
            if worker.jobs:
                self._kill(worker)
        for worker in list(self.workers.values()):
            remaining = deadline - time.monotonic()
            if remaining > 0 and wait([worker.conn], remaining):
                pass
            else:
                self._kill(worker)
            worker.conn.close()
        self.workers.clear()
        for launcher in [self.launcher, *self.old_launchers]:
            launcher.close()


class PoolFuture:
    """A handle on one simulation submitted with ``PoolSimulationService.submit``."""

    def __init__(self, future: Future, fn_ref: str, engine: _Engine):
        self.future = future
        self.fn_ref = fn_ref
        self._engine = engine

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> SimReturn:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.future.done():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"simulation {self.fn_ref!r} did not finish within {timeout} s")
            self._engine.poll(remaining if remaining is not None else 1.0)
        from modelops.services.tasks import outputs_or_raise

        return outputs_or_raise(self.future.result(), self.fn_ref)


class PoolSimulationService:
    """A SimulationService on local worker processes (see the module docstring).

    ``n_workers`` defaults to the number of cores. ``timeout_s``/``retries`` are the simulation limits.
    ``search_path`` and ``cache_url`` apply to ``submit``; groups carry their own. ``preload``: modules the launcher
    imports once before it forks the workers (the evaluator's module, a model's heavy dependencies), so every worker
    starts with them loaded; numpy, polars, pyarrow and the task code always are.
    """

    def __init__(
        self,
        n_workers: int | None = None,
        *,
        timeout_s: float | None = None,
        retries: int = 1,
        search_path: Sequence[str | os.PathLike[str]] = (),
        cache_url: str | None = None,
        preload: Sequence[str] = (),
    ):
        self.search_path = tuple(str(p) for p in search_path)
        self.cache_url = cache_url
        self._engine = _Engine(n_workers or os.cpu_count() or 1, timeout_s, retries, preload)
        self._closed = False

    @property
    def slots(self) -> int:
        return self._engine.n_workers

    @property
    def timeout_s(self) -> float | None:
        return self._engine.timeout_s

    @property
    def retries(self) -> int:
        return self._engine.retries

    def worker_pids(self) -> list[int]:
        """The workers' process ids (those that reported one)."""
        return [w.pid for w in self._engine.workers.values() if w.pid is not None]

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until every worker has started (``prepare`` does this too)."""
        deadline = time.monotonic() + timeout
        while any(w.state != "ready" for w in self._engine.workers.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._engine.broken:
                raise PoolBrokenError(self._engine.broken or f"workers did not start within {timeout:.0f} s")
            self._engine.poll(remaining)

    def prepare(self, context: RunContext, timeout_s: float | None = None) -> None:
        """Ship ``context`` to every worker and import the model there; ModelLoadError when it cannot load."""
        self._engine.prepare(context, timeout_s or DEFAULT_PREPARE_TIMEOUT_S)

    def submit(self, fn_ref: str, params: Mapping[str, Any], seed: int, *, bundle_ref: str | None = None) -> PoolFuture:
        """Start ``fn(params, seed)`` on a worker; returns at once."""
        from modelops.services.tasks import SimulationGroup

        group = SimulationGroup.single(
            fn_ref, params, seed, bundle_ref=bundle_ref, cache_url=self.cache_url, search_path=self.search_path
        )
        future: Future = Future()
        self._engine.dispatch([group], future)
        return PoolFuture(future, fn_ref, self._engine)

    def gather(self, futures: Sequence[PoolFuture]) -> list[SimReturn]:
        """Outputs in the order of ``futures``; the first failure raises its SimulationError."""
        return [f.result() for f in futures]

    def pipeline(
        self,
        max_in_flight: int | None = None,
        *,
        target_task_s: float | None = None,
        max_chunk: int | None = None,
    ) -> GroupPipeline:
        from modelops.services.pipeline import DEFAULT_MAX_CHUNK, GroupPipeline, default_max_tasks

        return GroupPipeline(
            self._engine,
            max_tasks=max_in_flight or default_max_tasks(self.slots),
            target_task_s=POOL_TARGET_TASK_S if target_task_s is None else target_task_s,
            max_chunk=DEFAULT_MAX_CHUNK if max_chunk is None else max_chunk,
        )

    def lost_all_workers(self) -> bool:
        """The pool replaces a worker it loses, and its workers live in their own session (a terminal's Ctrl-C does
        not reach them): never lost for good."""
        return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.close()

    def __enter__(self) -> PoolSimulationService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
