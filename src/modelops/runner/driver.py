"""The ask/tell driver: keeps the execution layer's pipeline full and tells each trial as its group completes.

The loop never waits on a batch barrier. It asks the algorithm for as many parameter sets as there is room for in
its window (asked but not yet told), submits them as groups (one parameter set x its replicates), and, as each group
completes, records the trial durably and tells the algorithm, which frees room to ask again.

Two tell orders (``execution.tell_order``):
- ``submission`` (default): results reach the algorithm in the order they were asked, one tell then one ask, so the
  sequence of asks and tells, and therefore every trial, is a function of the seeds alone (runs are reproducible).
  Simulations still run as completed; only the tell of a fast trial may wait for a slower one asked before it.
- ``completion``: each result is told the moment it arrives (the fastest, not reproducible with adaptive samplers).

Stopping: the first SIGINT/SIGTERM stops asking and finishes what is in flight (everything is told and recorded);
a second one cancels what is left. Either way the run is resumable: the records and the algorithm's storage agree
because every trial is written before it is told, and a resumed run replays the written trials into the algorithm.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from modelops.runner.algorithm import AlgorithmError, AlgorithmLoadError, adapt
from modelops.runner.ids import check_run_id, new_run_id
from modelops.runner.services import open_service, service_description
from modelops.runner.study import (
    EVALUATOR_REF,
    ResolvedStudy,
    StudyError,
    algorithm_factory,
    resolve_study,
    storage_url,
)
from modelops.specs.base import SpecError
from modelops.specs.study import StudySpec, load_study
from modelops.store import manifest as manifests
from modelops_contracts import (
    MAX_DIAGNOSTICS_BYTES,
    AdaptiveAlgorithm,
    SeedInfo,
    TrialResult,
    TrialStatus,
    UniqueParameterSet,
)

if TYPE_CHECKING:
    from modelops.runner.posterior import ArtifactWriter
    from modelops.services.context import RunContext
    from modelops.services.pipeline import GroupPipeline
    from modelops.services.protocol import ExecutionService
    from modelops.services.tasks import GroupResult
    from modelops.store.results import RunStore, TrialJournal

# The record's file names (modelops.store.results): repeated here so importing the driver does not import polars
# and fsspec, which the runner needs only after it has started the workers (tests check that the two agree). The
# rows themselves are built by modelops.store.results, beside their schema.
MANIFEST = "manifest.json"
SPEC = "spec.yaml"
STUDY = "study.json"


# If this many trials fail in a row before any succeeds, the model (not a parameter region) is broken: stop early.
FAIL_FAST_AFTER = 10
POLL_S = 0.25
# Groups in flight per worker slot when results are told in ask order (the window; see _Driver.run).
ORDERED_WINDOW_PER_SLOT = 3
MAX_REASON_CHARS = 4000
LOCAL_STATE_DIR = Path(".modelops/state")


class RunError(RuntimeError):
    """The run could not start or had to stop; the message says why and what to do."""


@dataclass(frozen=True)
class RunOptions:
    """How to run a study (the `mops run` flags). ``None`` means "from the spec, the environment or the default"."""

    workers: int | None = None
    scheduler: str | None = None
    run_id: str | None = None
    resume: bool = False
    runs_dir: str | None = None
    compact_every: int = 100
    handle_signals: bool = True
    max_in_flight: int | None = None
    # Return before the process pool's processes have exited (they stop on their own once this process is gone):
    # for `mops run`, which exits right after; a library caller keeps the default and gets a pool fully closed.
    wait_for_close: bool = True


@dataclass(frozen=True)
class RunProgress:
    """A snapshot after each recorded trial (for progress bars)."""

    run_id: str
    recorded: int
    total: int | None
    best_loss: float | None
    completed: int
    failed: int
    sims: int
    elapsed_s: float
    stopping: bool
    last: Mapping[str, Any]
    # Parameter sets submitted and not yet recorded, and asked but waiting for pipeline room (runner metrics).
    in_flight: int = 0
    queued: int = 0
    algorithm_s: float = 0.0
    records_s: float = 0.0
    algorithm_cpu_s: float = 0.0

    @property
    def sims_per_s(self) -> float:
        return self.sims / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    url: str
    status: str
    recorded: int
    completed: int
    failed: int
    new_trials: int
    sims: int
    cached_sims: int
    elapsed_s: float
    best: Mapping[str, Any] | None
    trials_url: str
    replicates_url: str
    service: str
    storage: str
    algorithm_s: float = 0.0
    records_s: float = 0.0
    algorithm_cpu_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}


@dataclass
class _Pending:
    ups: UniqueParameterSet
    seeds: tuple[int, ...]
    submitted: bool = False
    result: GroupResult | None = None
    repeats: int = 0


@dataclass
class _Stats:
    recorded: int = 0
    completed: int = 0
    failed: int = 0
    new: int = 0
    sims: int = 0
    cached: int = 0
    best_loss: float | None = None
    best_row: dict[str, Any] | None = None
    started: float = field(default_factory=time.perf_counter)
    algorithm_s: float = 0.0  # time in the algorithm's ask/tell (its storage included): the runner's main cost
    algorithm_cpu_s: float = 0.0  # CPU time of this thread in ask/tell (what the algorithm costs, waits excluded)
    records_s: float = 0.0  # time writing trial records

    def add(self, row: Mapping[str, Any], n_sims: int = 0, n_cached: int = 0, new: bool = True) -> None:
        self.recorded += 1
        if row["status"] == TrialStatus.COMPLETED.value:
            self.completed += 1
            if row["loss"] is not None and (self.best_loss is None or row["loss"] < self.best_loss):
                self.best_loss, self.best_row = row["loss"], dict(row)
        else:
            self.failed += 1
        if new:
            self.new += 1
            self.sims += n_sims - n_cached
            self.cached += n_cached


class _StopFlag:
    """SIGINT/SIGTERM handling: first signal asks to finish in-flight work, the second to cancel it."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def stopping(self) -> bool:
        return self.count >= 1

    @property
    def cancelling(self) -> bool:
        return self.count >= 2

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1

    @contextlib.contextmanager
    def installed(self, enabled: bool) -> Iterator[_StopFlag]:
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield self
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)


def _load(spec_path: str | Path) -> StudySpec:
    try:
        return load_study(spec_path)
    except SpecError as exc:
        raise RunError(str(exc)) from None


def _build_algorithm(resolved: ResolvedStudy, storage: str, study_name: str) -> object:
    """The algorithm object the study's reference builds (its extensions, e.g. artifacts(), are read from it)."""
    try:
        factory = algorithm_factory(resolved.algorithm_ref, resolved.search_path)
    except AlgorithmLoadError as exc:
        raise RunError(str(exc)) from None
    try:
        algorithm: object = factory(
            resolved.space,
            storage=storage,
            study_name=study_name,
            seed=resolved.base_seed,
            **resolved.algorithm_options,
        )
    except Exception as exc:  # any failure of a user's constructor is the study's problem, said in one line
        raise RunError(f"algorithm {resolved.algorithm_ref!r} refused the study: {type(exc).__name__}: {exc}") from None
    return algorithm


def _reason(text: str | None) -> str:
    text = text or "unknown failure"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 20] + "\n... [cut]"


def _diagnostics(result: GroupResult, pending: _Pending, base_seed: int, keep_summaries: bool) -> dict[str, Any]:
    evaluation = result.evaluation
    diagnostics: dict[str, Any] = {
        "n_replicates": len(result.replicates),
        "n_cached": sum(r.cached for r in result.replicates),
        "seeds": {"base": base_seed, "replicates": list(pending.seeds)},
        "duration_s": result.duration_s,
        "sim_s": [r.duration_s for r in result.replicates],
        "worker": result.worker,
    }
    if evaluation is not None:
        diagnostics["target_losses"] = dict(evaluation.target_losses)
        if keep_summaries and evaluation.summaries:
            diagnostics["summaries"] = json.loads(json.dumps(dict(evaluation.summaries), default=str))
    if not result.ok or evaluation is None:
        diagnostics["reason"] = _reason(result.error or "no evaluation was returned")

    # The contract caps diagnostics at 64 KiB: drop the optional parts first (replicate seeds can be derived again
    # from param_id, index and base seed; the records keep them all), then shorten the reason.
    def size() -> int:
        return len(json.dumps(diagnostics, default=str).encode("utf-8"))

    # A cheap bound first: a few replicates and no summaries or reason are far below the cap (most trials), so the
    # diagnostics are serialised once, by the contract's own check, not three times per trial.
    if (
        "summaries" not in diagnostics
        and "reason" not in diagnostics
        and len(pending.seeds) <= 256
        and len(diagnostics.get("target_losses", ())) <= 64
    ):
        return diagnostics
    for key in ("summaries", "sim_s", "seeds"):
        if size() <= MAX_DIAGNOSTICS_BYTES:
            return diagnostics
        if key == "seeds":
            diagnostics["seeds"] = {"base": base_seed, "replicates": "derive_seed(param_id, i, base)"}
        else:
            diagnostics.pop(key, None)
    if size() > MAX_DIAGNOSTICS_BYTES and "reason" in diagnostics:
        diagnostics["reason"] = diagnostics["reason"][:8000]
    return diagnostics


@dataclass(frozen=True)
class _Pacing:
    """How the driver asks and tells, fixed when the run starts (from the spec, the flags and the service)."""

    ordered: bool  # execution.tell_order == "submission": told in ask order, reproducible
    batch_size: int | None  # the spec's batch_size: at most this many parameter sets per ask
    max_in_flight: int | None  # --max-in-flight, else execution.max_in_flight; None: from the service's slots
    remote: bool  # the simulations run on other machines
    kills_tasks_on_interrupt: bool  # a terminal's Ctrl-C also reaches the workers (a local Dask cluster)


@dataclass(frozen=True)
class _Session:
    """The run's collaborators, built before the driver starts."""

    store: RunStore
    journal: TrialJournal
    algorithm: AdaptiveAlgorithm
    context: RunContext
    artifacts: ArtifactWriter
    progress: Callable[[RunProgress], None] | None


class _Driver:
    def __init__(
        self,
        resolved: ResolvedStudy,
        pacing: _Pacing,
        session: _Session,
        stats: _Stats,
        done: dict[str, dict[str, Any]],
    ) -> None:
        self.resolved = resolved
        self.pacing = pacing
        self.store = session.store
        self.algorithm = session.algorithm
        self.journal = session.journal
        self.progress = session.progress
        self.context = session.context
        self.artifacts = session.artifacts  # the algorithm's tables (posterior.parquet)
        self.stats = stats
        self.done = done
        self.ordered = pacing.ordered
        self.remote = pacing.remote
        self.outstanding: OrderedDict[str, _Pending] = OrderedDict()
        self.queue: deque[str] = deque()
        self.ready: deque[str] = deque()  # completion order: param_ids whose result arrived, oldest first
        self.session_completed = 0
        self.session_failed = 0
        self.first_error: str | None = None
        self.stop = _StopFlag()
        self.dropped = 0
        self.total = resolved.n_trials or self.algorithm.budget()
        self.target_names = [t["name"] for t in resolved.evaluator_config["targets"]]

    # -- asking --------------------------------------------------------------------------------------------------

    def _budget_left(self) -> int | None:
        if not isinstance(self.total, int):
            return None
        return max(0, self.total - self.stats.recorded - len(self.outstanding))

    def ask(self, window: int) -> int:
        """Ask for as many parameter sets as fit in the window; returns how many were asked."""
        room = window - len(self.outstanding)
        # A batch larger than the window could never fit: asking would wait for room that never comes (issue 20).
        # The window is fixed for a reproducible run, so capping by it keeps the ask sizes a function of the tells.
        batch = min(self.pacing.batch_size or room, window)
        left = self._budget_left()
        # Ordered: ask in fixed-size steps, so the ask/tell sequence depends on the number of tells, not on timing.
        if self.ordered and room < min(batch, max(1, left or 1)):
            return 0
        n = min(room, batch)
        if left is not None:
            n = min(n, left)
        if n <= 0:
            return 0
        # No finished() check here: it may scan the whole study (O(trials)) and ask() already returns nothing once
        # the budget is used; finished() is consulted only when nothing is outstanding.
        t0, c0 = time.perf_counter(), time.thread_time()
        asked = self.algorithm.ask(n)
        self.stats.algorithm_s += time.perf_counter() - t0
        self.stats.algorithm_cpu_s += time.thread_time() - c0
        for ups in asked:
            if ups.param_id in self.outstanding:
                # Proposed again while in flight (a retried trial, a repeated point): one simulation serves both,
                # and the result is told once per proposal so no trial of the algorithm is left open.
                self.outstanding[ups.param_id].repeats += 1
                continue
            if ups.param_id in self.done:
                # Already recorded (a retried trial whose result we hold): tell it again, never simulate twice.
                self.algorithm.tell([self._result_from_row(self.done[ups.param_id])])
                continue
            seeds = SeedInfo.for_replicates(ups.param_id, self.resolved.replicates, self.resolved.base_seed)
            self.outstanding[ups.param_id] = _Pending(ups, tuple(seeds.replicate_seeds))
            self.queue.append(ups.param_id)
        return len(asked)

    def submit(self, pipe: GroupPipeline) -> None:
        # Groups carry the run's constant fields by reference to the prepared context: the pool ships only params,
        # param_id and seeds; the other services still get whole groups.
        while self.queue and pipe.in_flight < pipe.capacity:
            pending = self.outstanding[self.queue.popleft()]
            pipe.submit(self.context.group(pending.ups.params, pending.ups.param_id, pending.seeds))
            pending.submitted = True

    # -- telling -------------------------------------------------------------------------------------------------

    @staticmethod
    def _result_from_row(row: Mapping[str, Any]) -> TrialResult:
        status = TrialStatus(row["status"])
        loss = row.get("loss")
        if status is TrialStatus.COMPLETED and loss is not None and math.isfinite(loss):
            return TrialResult(row["param_id"], float(loss), {"recorded": True}, status)
        return TrialResult(row["param_id"], math.inf, {"recorded": True, "reason": row.get("error")}, status)

    def record(self, pending: _Pending, result: GroupResult) -> None:
        """Write the trial durably, then tell the algorithm (so a crash in between is repaired by resume's replay)."""
        from modelops.store.results import replicate_row, trial_row  # polars: loaded once the workers have started

        evaluation = result.evaluation if result.ok else None
        ok = evaluation is not None
        diagnostics = _diagnostics(result, pending, self.resolved.base_seed, self.resolved.outputs != "none")
        if ok:
            status = TrialStatus.COMPLETED
        elif result.timed_out:
            status = TrialStatus.TIMEOUT  # over execution.timeout_s: a region of slow parameters, not a model bug
        else:
            status = TrialStatus.FAILED
        loss = float(evaluation.loss) if evaluation is not None else math.inf
        replicates = result.replicates
        sim_s = 0.0
        n_failed = n_cached = 0
        for r in replicates:
            sim_s += r.duration_s
            n_failed += not r.ok
            n_cached += r.cached
        param_id = pending.ups.param_id
        row = trial_row(
            param_id,
            status.value,
            loss,
            pending.ups.params,
            n_replicates=len(replicates),
            n_failed=n_failed,
            n_cached=n_cached,
            duration_s=result.duration_s,
            sim_s=sim_s,
            worker=result.worker,
            error=None if ok else diagnostics.get("reason"),
            summaries=diagnostics.get("summaries"),
            target_names=self.target_names,
            target_losses=evaluation.target_losses if evaluation is not None else {},
        )
        per_replicate = evaluation.replicate_losses if evaluation is not None else ()
        replicate_rows = [
            replicate_row(
                param_id,
                outcome.replicate,
                outcome.seed,
                ok=outcome.ok,
                cached=outcome.cached,
                duration_s=outcome.duration_s,
                error=_reason(outcome.error) if outcome.error else None,
                target_names=self.target_names,
                losses=per_replicate[outcome.replicate] if outcome.replicate < len(per_replicate) else {},
            )
            for outcome in replicates
        ]

        t0 = time.perf_counter()
        stored = self.journal.append(row, replicate_rows)
        t1, c1 = time.perf_counter(), time.thread_time()
        self.stats.records_s += t1 - t0
        diagnostics["trial"] = stored["trial"]  # the run's trial number, kept in the Optuna trial's user attributes
        told = TrialResult(pending.ups.param_id, loss, diagnostics, status)
        for _ in range(1 + pending.repeats):
            self.algorithm.tell([told])
        self.artifacts.maybe_write()
        self.stats.algorithm_s += time.perf_counter() - t1
        self.stats.algorithm_cpu_s += time.thread_time() - c1
        self.done[pending.ups.param_id] = {
            "param_id": stored["param_id"],
            "status": stored["status"],
            "loss": stored["loss"],
            "error": stored["error"],
        }
        self.stats.add(stored, n_sims=len(replicates), n_cached=n_cached)
        if ok:
            self.session_completed += 1
        else:
            self.session_failed += 1
            self.first_error = self.first_error or row["error"]
        if self.progress is not None:
            self.progress(self._snapshot(stored, stopping=self.stop.stopping))

    def _snapshot(self, last: Mapping[str, Any], stopping: bool) -> RunProgress:
        return RunProgress(
            run_id=self.store.run_id,
            recorded=self.stats.recorded,
            total=self.total,
            best_loss=self.stats.best_loss,
            completed=self.stats.completed,
            failed=self.stats.failed,
            sims=self.stats.sims + self.stats.cached,
            elapsed_s=time.perf_counter() - self.stats.started,
            stopping=stopping,
            last=last,
            in_flight=max(0, len(self.outstanding) - len(self.queue)),
            queued=len(self.queue),
            algorithm_s=self.stats.algorithm_s,
            records_s=self.stats.records_s,
            algorithm_cpu_s=self.stats.algorithm_cpu_s,
        )

    def tell_ready(self) -> int:
        """Record and tell completed results (in ask order when ordered); returns how many were told."""
        if self.ordered:
            # Only the oldest outstanding trial may be told, and only one per call: the caller asks again in
            # between, so the ask/tell sequence does not depend on which simulations happened to finish first.
            if self.outstanding:
                param_id, pending = next(iter(self.outstanding.items()))
                if pending.result is not None:
                    del self.outstanding[param_id]
                    self.record(pending, pending.result)
                    return 1
            return 0
        told = 0
        while self.ready:
            arrived = self.outstanding.pop(self.ready.popleft(), None)
            if arrived is not None and arrived.result is not None:
                self.record(arrived, arrived.result)
                told += 1
        return told

    def _check_fail_fast(self) -> None:
        # Every failure counts: the model raising, its worker dying (a crash, os._exit, a segfault) and a timeout.
        if self.session_completed == 0 and self.session_failed >= FAIL_FAST_AFTER:
            hint = ""
            if self.remote and not self.resolved.bundle_ref and "ModuleNotFoundError" in (self.first_error or ""):
                hint = (
                    "\nThe workers run on other machines and cannot import the model from this machine's "
                    "model.project; "
                    "add `bundle: <project dir>` to the study so they fetch the code, or bake it into the worker image."
                )
            raise RunError(
                f"the first {self.session_failed} trials all failed, so the model or the targets are broken rather "
                f"than a region of the parameter space; the first failure was:\n{self.first_error}{hint}"
            )

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self, service: ExecutionService, stop: _StopFlag) -> str:
        self.stop = stop
        max_in_flight = self.pacing.max_in_flight
        if max_in_flight is None and self.ordered and not self.remote:
            # Told in ask order, a slow group holds the window until it ends; workers hold PREFETCH groups each,
            # so at 2 per worker the other worker idles 2-7% of the time when durations vary by 10-50% (a
            # discrete-event model of the pool; measured on this VM under load). 3 per worker keeps it under 1%.
            max_in_flight = ORDERED_WINDOW_PER_SLOT * max(1, service.slots)
        with service.pipeline(max_in_flight) as pipe:
            # The window of asked-but-untold trials: fixed when ordered on a local cluster (reproducible), else the
            # pipeline's capacity, which follows a remote cluster as it scales and grows as tiny groups are chunked.
            fixed_window = max(1, pipe.capacity) if self.ordered and not self.remote else None
            if fixed_window is not None:
                # A fixed window of W groups packed into chunks of k leaves only W/k tasks: with k = 2 and W = 2 per
                # worker, a worker finishing its one task waits idle while the runner tells and asks again. One
                # group per task keeps a queued group on every worker (measured: bench/bench_peers.py).
                pipe.adaptive = False
            idle_asks = 0
            while True:
                if stop.cancelling:
                    pipe.cancel()
                    return "interrupted"
                if not stop.stopping:
                    window = fixed_window or max(1, pipe.capacity)
                    asked = self.ask(window)
                    idle_asks = 0 if asked else idle_asks + 1
                elif not self.outstanding:
                    return "interrupted"
                if stop.stopping:
                    # Drop what was asked but never submitted; what is in flight is finished and told.
                    for param_id in list(self.queue):
                        self.outstanding.pop(param_id, None)
                    self.queue.clear()
                self.submit(pipe)
                if not self.outstanding:
                    if self.algorithm.finished():
                        return "completed"
                    # Nothing to do but wait: other runners hold the remaining trials, or a lease must expire.
                    time.sleep(min(2.0, POLL_S * (1 + idle_asks)))
                    continue
                if self.tell_ready():
                    self._check_fail_fast()
                    continue
                result = pipe.next_result(timeout=POLL_S)
                if result is None:
                    if stop.stopping and service.lost_all_workers():
                        # Ctrl-C reached the local workers too: nothing in flight can finish; stop waiting for it.
                        pipe.cancel()
                        return "interrupted"
                    continue
                # Take every result already waiting before asking again: one ask per loop, not one per result.
                while result is not None:
                    self._accept(result, stop)
                    result = pipe.next_result(timeout=0) if pipe.in_flight else None

    def _accept(self, result: GroupResult, stop: _StopFlag) -> None:
        pending = self.outstanding.get(result.param_id)
        if pending is None:
            return
        if stop.stopping and not result.ok and self.pacing.kills_tasks_on_interrupt:
            # A Ctrl-C reaches local Dask workers too (same process group) and kills their tasks: a failure now
            # says nothing about the parameters. Leave the trial untold; a resumed run retries it.
            del self.outstanding[result.param_id]
            self.dropped += 1
            return
        pending.result = result
        if not self.ordered:
            self.ready.append(result.param_id)


def _cache_url(spec: StudySpec, store: RunStore, remote: bool) -> str | None:
    cache = spec.execution.cache
    if isinstance(cache, str):
        return cache
    if cache and store.is_local and not remote:
        return store.url_of("cache")
    return None  # a local path means nothing to remote workers; give execution.cache an object-store URL


class _Preparing:
    """``service.prepare(context)`` in a helper thread, so workers import the model while this process builds the
    algorithm (Optuna, its storage); ``result()`` waits for it and raises what it raised.

    In process (workers: 0) the model is imported here, synchronously: nothing would run in parallel anyway, and a
    model's import-time side effects belong in the main thread."""

    def __init__(self, service: ExecutionService, context: RunContext, background: bool) -> None:
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if not background:
            self._call(service, context)
            return
        self._thread = threading.Thread(target=self._call, args=(service, context), name="mops-prepare", daemon=True)
        self._thread.start()

    def _call(self, service: ExecutionService, context: RunContext) -> None:
        try:
            service.prepare(context)
        except BaseException as exc:
            self._error = exc

    def result(self) -> None:
        if self._thread is not None:
            while self._thread.is_alive():  # join in slices: a Ctrl-C still interrupts the main thread
                self._thread.join(0.2)
        if self._error is not None:
            raise self._error


def _load_error(exc: BaseException, resolved: ResolvedStudy, remote: bool) -> RunError:
    """The workers could not load the model or build the evaluator: one message, with the fix when we know it."""
    stage = getattr(exc, "stage", "model")
    text = str(exc)
    if stage == "evaluator":
        return RunError(f"the study's targets are invalid: {text}")
    hint = ""
    if remote and not resolved.bundle_ref and ("ModuleNotFoundError" in text or "No module named" in text):
        hint = (
            "; the workers run on other machines and cannot import the model from this machine's model.project: add "
            "`bundle: <project dir>` to the study so they fetch the code, or bake it into the worker image"
        )
    elif "ModuleNotFoundError" in text or "No module named" in text:
        hint = "; check model.fn_ref/class_ref and model.project"
    return RunError(f"{text}{hint}")


def run_study(
    spec_path: str | Path,
    options: RunOptions | None = None,
    progress: Callable[[RunProgress], None] | None = None,
    on_start: Callable[[str, str], None] | None = None,
) -> RunSummary:
    """Run (or continue) a study to the end of its budget; returns the summary of the run.

    ``on_start(run_id, run_url)`` is called once the run's directory exists (the workers have loaded the model).

    Start-up is ordered for the first simulation's sake: the spec is read and the workers are started first (they
    import while this process goes on), then the study is resolved, the workers are handed the run's context (they
    import the model), and the algorithm is built meanwhile; the records are written once the model loaded.
    """
    options = options or RunOptions()
    started = time.perf_counter()
    spec = _load(spec_path)
    run_id = options.run_id or new_run_id(spec.name or Path(spec_path).stem)
    try:
        check_run_id(run_id)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    remote, description = service_description(spec.execution, options.workers, options.scheduler)
    with contextlib.ExitStack() as services:
        try:
            # The pool's launcher imports the target evaluator's module once, before it forks the workers, so they
            # start with it loaded (by name: modelops never imports the science package itself).
            preload = (EVALUATOR_REF.partition(":")[0],)
            service = services.enter_context(
                open_service(spec.execution, options.workers, options.scheduler, preload=preload)
            )
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise RunError(f"cannot start the simulation service ({description}): {exc}") from None
        request = _Request(spec, spec_path, options, run_id, remote, description, started, progress, on_start)
        return _run_with(request, service, services)


@dataclass(frozen=True)
class _Request:
    """What run_study was asked, and what it settled before the workers started."""

    spec: StudySpec
    spec_path: str | Path
    options: RunOptions
    run_id: str
    remote: bool  # the simulations run on other machines
    description: str  # the service, in one line (manifest, CLI)
    started: float  # perf_counter() at the call: the run's elapsed time includes worker start and model import
    progress: Callable[[RunProgress], None] | None
    on_start: Callable[[str, str], None] | None


def _run_with(request: _Request, service: ExecutionService, services: contextlib.ExitStack) -> RunSummary:
    from modelops.services.context import RunContext
    from modelops.store.results import RunStore, runs_dir_url

    spec, spec_path, options, run_id = request.spec, request.spec_path, request.options, request.run_id
    remote, description = request.remote, request.description
    try:
        resolved = resolve_study(spec, spec_path)
    except (StudyError, AlgorithmLoadError) as exc:  # the CLI tells them apart by the cause: bad input, or code
        raise RunError(str(exc)) from None
    store = RunStore(runs_dir_url(options.runs_dir), run_id)
    existing = store.exists()
    if options.resume and not existing:
        raise RunError(
            f"there is no run {run_id!r} under {store.runs_dir} to resume; see `mops runs list` "
            "(or pass --runs-dir where the run was written)"
        )
    if existing:
        recorded = store.read_json(STUDY)  # its recorded digest: study.json's text is redacted, the digest is not
        if (recorded.get("fingerprint") or ResolvedStudy.from_json(recorded).fingerprint()) != resolved.fingerprint():
            raise RunError(
                f"run {run_id!r} was started from a different study (model, parameters, targets, algorithm, seed or "
                "replicates changed); start a new run instead (omit --resume/--run-id), or restore the old spec"
            )
        # A larger n_trials extends a finished run; everything else must match.

    context = RunContext(
        fn_ref=resolved.model_ref,
        search_path=resolved.search_path,
        bundle_ref=resolved.bundle_ref,
        evaluator_ref=EVALUATOR_REF,
        evaluator_config=resolved.evaluator_config,
        cache_url=_cache_url(spec, store, remote),
        outputs_url=store.url_of("outputs") if resolved.outputs == "all" else None,
    )
    # The workers import the model and build the evaluator (this process never imports user code, unless
    # workers: 0) while the algorithm is built here.
    preparing = _Preparing(service, context, background=description != "in process")
    try:
        try:
            storage = storage_url(spec, spec_path, store, LOCAL_STATE_DIR.resolve())
        except StudyError as exc:
            raise RunError(str(exc)) from None
        built = _build_algorithm(resolved, storage, study_name=run_id)
        try:
            algorithm = adapt(built, resolved.algorithm_ref)
        except AlgorithmError as exc:
            raise RunError(str(exc)) from None
    except BaseException:
        # The algorithm's error is the one to report; the workers' preparation is waited for (it is bounded) only
        # so that the service is not closed under its feet. A second Ctrl-C ends the wait.
        with contextlib.suppress(BaseException):
            preparing.result()
        raise
    try:
        preparing.result()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise _load_error(exc, resolved, remote) from None

    if not existing:
        from modelops.specs.inputs import redacted_spec_bytes  # the spec as given, with its secrets replaced by ***

        store.write_bytes(SPEC, redacted_spec_bytes(spec_path))
    store.write_json(STUDY, resolved.to_json())
    manifest = manifests.build_manifest(
        run_id=run_id,
        study=resolved.name,
        spec_file=resolved.spec_path,
        base_seed=resolved.base_seed,
        n_trials=resolved.n_trials,
        replicates=resolved.replicates,
        algorithm=resolved.algorithm_ref,
        storage=storage,
        execution={"service": description, "tell_order": spec.execution.tell_order},
        project=resolved.search_path[0] if resolved.search_path else str(Path(resolved.spec_path).parent),
        code_digest=_code_digest(resolved),
        model_ref=resolved.model_ref,
    )
    manifest["bundle_ref"] = resolved.bundle_ref
    if existing:
        with contextlib.suppress(Exception):
            manifest["first_started_at"] = store.manifest().get("first_started_at") or store.manifest()["started_at"]
    else:
        manifest["first_started_at"] = manifest["started_at"]
    store.write_json(MANIFEST, manifest)
    if request.on_start is not None:
        request.on_start(run_id, store.url)

    # A retry of a dead runner's trial may already be recorded (runners record before they tell): the algorithm
    # looks it up here, in every runner's records, instead of handing it out to be simulated twice.
    if hasattr(built, "lookup_recorded"):  # an optional extension (OptunaAlgorithm): set on the object built
        built.lookup_recorded = lambda ids: [
            _Driver._result_from_row(r) for r in store.load_trials().to_dicts() if r["param_id"] in ids
        ]
    # Resume: replay what is recorded, so in-memory algorithms catch up and storages agree with the records.
    trials = store.load_trials() if existing else None
    stats = _Stats(started=request.started)  # elapsed from the call: worker start and model import included
    done: dict[str, dict[str, Any]] = {}
    if trials is not None and trials.height:
        rows = trials.select("param_id", "status", "loss", "error").to_dicts()
        algorithm.tell([_Driver._result_from_row(r) for r in rows])
        for row in trials.to_dicts():
            done[row["param_id"]] = {k: row.get(k) for k in ("param_id", "status", "loss", "error")}
            stats.add(row, new=False)

    journal = store.journal(
        manifests.runner_identity(), first_trial=stats.recorded, compact_every=options.compact_every
    )
    from modelops.runner.posterior import ArtifactWriter  # numpy/polars: not on the start-up path

    artifacts = ArtifactWriter(store, built)
    pacing = _Pacing(
        ordered=spec.execution.tell_order == "submission",
        batch_size=spec.batch_size,
        max_in_flight=options.max_in_flight or spec.execution.max_in_flight,
        remote=remote,
        # A local Dask cluster shares this process group, so a Ctrl-C kills its tasks too; the pool's workers live
        # in their own session and finish their groups.
        kills_tasks_on_interrupt=not description.startswith("process pool"),
    )
    session = _Session(store, journal, algorithm, context, artifacts, request.progress)
    stop = _StopFlag()
    status = "failed"
    error: BaseException | None = None
    try:
        with stop.installed(options.handle_signals):
            driver = _Driver(resolved, pacing, session, stats, done)
            status = driver.run(service, stop)
    except BaseException as exc:
        error = exc
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if getattr(exc, "resumable", False):  # e.g. the algorithm's database stayed away: one message, no traceback
            raise RunError(str(exc)) from None
        raise
    finally:
        with contextlib.suppress(Exception):
            algorithm.close()  # stops an algorithm's heartbeat thread and releases its storage
        closing = _close_services(services, background=description.startswith("process pool"))
        journal.close()
        artifacts.write_final()  # after a replay too: a resumed run that finished at once still gets its posterior
        trials_url, replicates_url = store.consolidate()
        summary = RunSummary(
            run_id=run_id,
            url=store.url,
            status=status,
            recorded=stats.recorded,
            completed=stats.completed,
            failed=stats.failed,
            new_trials=stats.new,
            sims=stats.sims,
            cached_sims=stats.cached,
            elapsed_s=time.perf_counter() - stats.started,
            best=stats.best_row,
            trials_url=trials_url,
            replicates_url=replicates_url,
            service=description,
            storage=manifests.redact_dsn(storage) or storage,
            algorithm_s=stats.algorithm_s,
            records_s=stats.records_s,
            algorithm_cpu_s=stats.algorithm_cpu_s,
        )
        final = manifests.finish_manifest(
            manifest,
            status,
            {
                "recorded": stats.recorded,
                "completed": stats.completed,
                "failed": stats.failed,
                "best_loss": stats.best_loss,
                "best_param_id": stats.best_row["param_id"] if stats.best_row else None,
                "new_trials": stats.new,
                "simulations": stats.sims,
                "cached_simulations": stats.cached,
                "elapsed_s": round(summary.elapsed_s, 3),
                "algorithm_s": round(stats.algorithm_s, 3),
                "records_s": round(stats.records_s, 3),
                "error": str(error) if error is not None else None,
            },
        )
        store.write_json(MANIFEST, final)
        if options.wait_for_close:
            closing.join(CLOSE_WAIT_S)
    return summary


CLOSE_WAIT_S = 15.0


def _close_services(services: contextlib.ExitStack, background: bool) -> threading.Thread:
    """Stop the workers; a failing close loses nothing (the records are written after it, or meanwhile).

    The pool's close waits for its processes to exit (a few hundred ms): it runs in a helper thread while the records
    are consolidated, which needs no worker. Dask clusters are closed here, before the records, as they always were.
    """

    def close() -> None:
        with contextlib.suppress(Exception):
            services.close()

    if not background:
        close()
    thread = threading.Thread(target=close if background else _nothing, name="mops-close-service", daemon=True)
    thread.start()
    return thread


def _nothing() -> None:
    """What the closing thread does when the services were closed in the caller's thread."""


def _code_digest(resolved: ResolvedStudy) -> str | None:
    """The model's code identity for the manifest (what the simulation cache keys on), found without importing the
    model: the runner never runs user code in its own process (a model that crashes or kills its parent at import
    would take the run down with it)."""
    try:
        return static_code_identity(resolved.model_ref, resolved.bundle_ref, resolved.search_path)
    except Exception:
        return None


def static_code_identity(fn_ref: str, bundle_ref: str | None, search_path: tuple[str, ...]) -> str | None:
    """``modelops.store.cache.code_identity`` computed from the files alone (no import); None when the module cannot
    be located that way (a namespace package, a zip). tests/runner/test_run_pool.py checks the two agree."""
    import hashlib
    import sys
    from importlib.machinery import PathFinder

    from modelops.store import cache

    if bundle_ref is not None:
        return cache.code_identity(fn_ref, bundle_ref, search_path)  # the bundle's digest: nothing is imported
    module_name = fn_ref.partition(":")[0]
    parts = module_name.split(".")
    spec = PathFinder.find_spec(parts[0], [*search_path, *sys.path])
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    top_paths = list(spec.submodule_search_locations or [])
    module_file = Path(spec.origin)
    if len(parts) > 1:
        if not top_paths:
            return None
        base = Path(top_paths[0]).joinpath(*parts[1:])
        candidates = (base.with_suffix(".py"), base / "__init__.py")
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            return None
        module_file = found
    h = hashlib.sha256(b"modelops:code:v1\0")
    home = Path(top_paths[0]) if top_paths else module_file.parent
    installed = cache._is_installed_path(home)
    files: list[Path] = [module_file]
    if not installed:
        sources = home.rglob("*.py") if top_paths else home.glob("*.py")
        files.extend(sorted(sources)[: cache._MAX_PACKAGE_FILES])
    anchor = home.parent if top_paths else home
    for path in sorted(set(files)):
        label = path.relative_to(anchor) if path.is_relative_to(anchor) else Path(path.name)
        with contextlib.suppress(OSError):
            h.update(label.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    if installed:
        for version in cache._distribution_versions(parts[0]):
            h.update(version.encode() + b"\0")
    return f"src:{h.hexdigest()[:32]}"
