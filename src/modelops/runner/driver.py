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
import dataclasses
import json
import math
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelops.runner.ids import check_run_id, new_run_id
from modelops.runner.posterior import ArtifactWriter
from modelops.runner.services import open_service, service_description
from modelops.runner.study import (
    EVALUATOR_REF,
    ResolvedStudy,
    StudyError,
    bundle_ref_for,
    resolve_study,
    storage_url,
)
from modelops.specs.base import SpecError
from modelops.specs.study import StudySpec, load_study
from modelops.store import manifest as manifests
from modelops.store.results import (
    LOSS_PREFIX,
    MANIFEST,
    PARAM_PREFIX,
    SPEC,
    STUDY,
    RunStore,
    clean_float,
    runs_dir_url,
)
from modelops_contracts import MAX_DIAGNOSTICS_BYTES, SeedInfo, TrialResult, TrialStatus, UniqueParameterSet

# If this many trials fail in a row before any succeeds, the model (not a parameter region) is broken: stop early.
FAIL_FAST_AFTER = 10
POLL_S = 0.25
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

    def to_json(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}


@dataclass
class _Pending:
    ups: UniqueParameterSet
    seeds: tuple[int, ...]
    submitted: bool = False
    result: Any = None
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
        self._previous: dict[int, Any] = {}

    @property
    def stopping(self) -> bool:
        return self.count >= 1

    @property
    def cancelling(self) -> bool:
        return self.count >= 2

    def _handle(self, signum: int, frame: Any) -> None:
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


def _build_algorithm(resolved: ResolvedStudy, storage: str, study_name: str) -> Any:
    from modelops.services.fnref import resolve

    try:
        factory = resolve(resolved.algorithm_ref, search_path=resolved.search_path)
    except Exception as exc:  # ImportError, or whatever the algorithm's module raises as it is imported
        raise RunError(f"cannot load algorithm {resolved.algorithm_ref!r}: {exc}") from None
    try:
        algorithm = factory(
            resolved.space,
            storage=storage,
            study_name=study_name,
            seed=resolved.base_seed,
            **resolved.algorithm_options,
        )
    except Exception as exc:  # any failure of a user's constructor is the study's problem, said in one line
        raise RunError(f"algorithm {resolved.algorithm_ref!r} refused the study: {type(exc).__name__}: {exc}") from None
    missing = [m for m in ("ask", "tell") if not callable(getattr(algorithm, m, None))]
    if missing:
        raise RunError(
            f"algorithm {resolved.algorithm_ref!r} has no {' or '.join(missing)} method; an algorithm is an object "
            "with ask(n) -> parameter sets and tell(results) (see calabaria.algorithms for examples)"
        )
    return algorithm


def check_study(resolved: ResolvedStudy, local_code: tuple[str, ...] = ()) -> None:
    """Fail before any simulation if the model cannot be imported or the targets are invalid (in this process)."""
    from modelops.services.fnref import resolve

    try:
        resolve(resolved.model_ref, search_path=local_code + resolved.search_path)
    except ModuleNotFoundError as exc:
        raise RunError(
            f"cannot import the model {resolved.model_ref!r}: {exc}; check model.fn_ref/class_ref and model.project"
        ) from None
    except Exception as exc:
        raise RunError(f"cannot load the model {resolved.model_ref!r}: {type(exc).__name__}: {exc}") from None
    try:
        factory = resolve(EVALUATOR_REF)
    except ImportError as exc:
        raise RunError(f"cannot load the target evaluator {EVALUATOR_REF!r} ({exc}); is calabaria installed?") from None
    try:
        factory(resolved.evaluator_config)
    except Exception as exc:
        raise RunError(f"the study's targets are invalid: {exc}") from None


def _reason(text: str | None) -> str:
    text = text or "unknown failure"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 20] + "\n... [cut]"


def _param_columns(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        plain = value if isinstance(value, bool | int | float | str) or value is None else json.dumps(value)
        out[PARAM_PREFIX + name] = plain
    return out


def _diagnostics(result: Any, pending: _Pending, base_seed: int, keep_summaries: bool) -> dict[str, Any]:
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

    for key in ("summaries", "sim_s", "seeds"):
        if size() <= MAX_DIAGNOSTICS_BYTES:
            break
        if key == "seeds":
            diagnostics["seeds"] = {"base": base_seed, "replicates": "derive_seed(param_id, i, base)"}
        else:
            diagnostics.pop(key, None)
    if size() > MAX_DIAGNOSTICS_BYTES and "reason" in diagnostics:
        diagnostics["reason"] = diagnostics["reason"][:8000]
    return diagnostics


class _Driver:
    def __init__(
        self,
        resolved: ResolvedStudy,
        spec: StudySpec,
        store: RunStore,
        algorithm: Any,
        journal: Any,
        options: RunOptions,
        progress: Callable[[RunProgress], None] | None,
        stats: _Stats,
        done: dict[str, dict[str, Any]],
        cache_url: str | None,
        outputs_url: str | None,
    ) -> None:
        self.resolved = resolved
        self.spec = spec
        self.store = store
        self.algorithm = algorithm
        self.journal = journal
        self.options = options
        self.progress = progress
        self.stats = stats
        self.done = done
        self.cache_url = cache_url
        self.outputs_url = outputs_url
        self.ordered = spec.execution.tell_order == "submission"
        self.outstanding: OrderedDict[str, _Pending] = OrderedDict()
        self.queue: deque[str] = deque()
        self.session_completed = 0
        self.session_failed = 0
        self.first_error: str | None = None
        self.stop = _StopFlag()
        self.dropped = 0
        self.remote = False
        self.artifacts: Any = None  # runner.posterior.ArtifactWriter: the algorithm's tables (posterior.parquet)
        from modelops.services.tasks import config_digest

        # The observed data travel inside the evaluator config: digest it once, not once per group.
        self.evaluator_key = config_digest(resolved.evaluator_config)

    # -- asking --------------------------------------------------------------------------------------------------

    def _budget_left(self) -> int | None:
        total = self.resolved.n_trials or getattr(self.algorithm, "n_trials", None)
        if not isinstance(total, int):
            return None
        return max(0, total - self.stats.recorded - len(self.outstanding))

    def ask(self, window: int) -> int:
        """Ask for as many parameter sets as fit in the window; returns how many were asked."""
        room = window - len(self.outstanding)
        batch = self.spec.batch_size or room
        # Ordered: ask in fixed-size steps, so the ask/tell sequence depends on the number of tells, not on timing.
        if self.ordered and room < min(batch, max(1, self._budget_left() or 1)):
            return 0
        n = min(room, batch)
        left = self._budget_left()
        if left is not None:
            n = min(n, left)
        if n <= 0:
            return 0
        # No finished() check here: it may scan the whole study (O(trials)) and ask() already returns nothing once
        # the budget is used; finished() is consulted only when nothing is outstanding.
        t0 = time.perf_counter()
        asked = self.algorithm.ask(n)
        self.stats.algorithm_s += time.perf_counter() - t0
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

    def submit(self, pipe: Any) -> None:
        from modelops.services.tasks import SimulationGroup

        while self.queue and pipe.in_flight < pipe.capacity:
            pending = self.outstanding[self.queue.popleft()]
            pipe.submit(
                SimulationGroup(
                    fn_ref=self.resolved.model_ref,
                    params=pending.ups.to_dict(),
                    param_id=pending.ups.param_id,
                    seeds=pending.seeds,
                    bundle_ref=self.resolved.bundle_ref,
                    evaluator_ref=EVALUATOR_REF,
                    evaluator_config=self.resolved.evaluator_config,
                    evaluator_key=self.evaluator_key,
                    cache_url=self.cache_url,
                    outputs_url=self.outputs_url,
                    search_path=self.resolved.search_path,
                )
            )
            pending.submitted = True

    # -- telling -------------------------------------------------------------------------------------------------

    @staticmethod
    def _result_from_row(row: Mapping[str, Any]) -> TrialResult:
        status = TrialStatus(row["status"])
        loss = row.get("loss")
        if status is TrialStatus.COMPLETED and loss is not None and math.isfinite(loss):
            return TrialResult(row["param_id"], float(loss), {"recorded": True}, status)
        return TrialResult(row["param_id"], math.inf, {"recorded": True, "reason": row.get("error")}, status)

    def record(self, pending: _Pending, result: Any) -> None:
        """Write the trial durably, then tell the algorithm (so a crash in between is repaired by resume's replay)."""
        evaluation = result.evaluation
        ok = result.ok and evaluation is not None
        diagnostics = _diagnostics(result, pending, self.resolved.base_seed, self.resolved.outputs != "none")
        status = TrialStatus.COMPLETED if ok else TrialStatus.FAILED
        loss = float(evaluation.loss) if ok else math.inf
        row: dict[str, Any] = {
            "param_id": pending.ups.param_id,
            "status": status.value,
            "loss": clean_float(loss),
            "n_replicates": len(result.replicates),
            "n_failed": sum(not r.ok for r in result.replicates),
            "n_cached": sum(r.cached for r in result.replicates),
            "duration_s": clean_float(result.duration_s),
            "sim_s": clean_float(sum(r.duration_s for r in result.replicates)),
            "worker": result.worker,
            "error": None if ok else diagnostics.get("reason"),
            "params_json": json.dumps(pending.ups.to_dict(), sort_keys=True),
            "summaries": json.dumps(diagnostics.get("summaries"), default=str) if "summaries" in diagnostics else None,
            **_param_columns(pending.ups.params),
        }
        target_losses = dict(evaluation.target_losses) if ok else {}
        for target in self.resolved.evaluator_config["targets"]:
            row[LOSS_PREFIX + target["name"]] = clean_float(target_losses.get(target["name"]))
        per_replicate = list(evaluation.replicate_losses) if ok else []
        replicate_rows = []
        for outcome in result.replicates:
            rep: dict[str, Any] = {
                "param_id": pending.ups.param_id,
                "replicate": outcome.replicate,
                "seed": outcome.seed,
                "ok": outcome.ok,
                "cached": outcome.cached,
                "duration_s": clean_float(outcome.duration_s),
                "error": _reason(outcome.error) if outcome.error else None,
            }
            losses = per_replicate[outcome.replicate] if outcome.replicate < len(per_replicate) else {}
            for target in self.resolved.evaluator_config["targets"]:
                rep[LOSS_PREFIX + target["name"]] = clean_float(losses.get(target["name"]))
            replicate_rows.append(rep)

        t0 = time.perf_counter()
        stored = self.journal.append(row, replicate_rows)
        t1 = time.perf_counter()
        self.stats.records_s += t1 - t0
        diagnostics["trial"] = stored["trial"]  # the run's trial number, kept in the Optuna trial's user attributes
        told = TrialResult(pending.ups.param_id, loss, diagnostics, status)
        for _ in range(1 + pending.repeats):
            self.algorithm.tell([told])
        if self.artifacts is not None:
            self.artifacts.maybe_write()
        self.stats.algorithm_s += time.perf_counter() - t1
        self.done[pending.ups.param_id] = {k: stored[k] for k in ("param_id", "status", "loss", "error")}
        self.stats.add(stored, n_sims=len(result.replicates), n_cached=row["n_cached"])
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
            total=self.resolved.n_trials or getattr(self.algorithm, "n_trials", None),
            best_loss=self.stats.best_loss,
            completed=self.stats.completed,
            failed=self.stats.failed,
            sims=self.stats.sims + self.stats.cached,
            elapsed_s=time.perf_counter() - self.stats.started,
            stopping=stopping,
            last=last,
            in_flight=max(0, len(self.outstanding) - len(self.queue)),
            queued=len(self.queue),
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
        ready = [p for p, pend in self.outstanding.items() if pend.result is not None]
        for param_id in ready:
            pending = self.outstanding.pop(param_id)
            self.record(pending, pending.result)
        return len(ready)

    def _check_fail_fast(self) -> None:
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

    def run(self, service: Any, stop: _StopFlag) -> str:
        self.stop = stop
        with service.pipeline(self.options.max_in_flight or self.spec.execution.max_in_flight) as pipe:
            # The window of asked-but-untold trials: fixed when ordered on a local cluster (reproducible), else the
            # pipeline's capacity, which follows a remote cluster as it scales and grows as tiny groups are chunked.
            fixed_window = max(1, pipe.capacity) if self.ordered and not self.remote else None
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
                    if stop.stopping and _no_workers(service):
                        # Ctrl-C reached the local workers too: nothing in flight can finish; stop waiting for it.
                        pipe.cancel()
                        return "interrupted"
                    continue
                pending = self.outstanding.get(result.param_id)
                if pending is None:
                    continue
                if stop.stopping and not result.ok:
                    # A Ctrl-C reaches the local workers too (same process group) and kills their tasks: a failure
                    # now says nothing about the parameters. Leave the trial untold; a resumed run retries it.
                    del self.outstanding[result.param_id]
                    self.dropped += 1
                    continue
                pending.result = result


def _no_workers(service: Any) -> bool:
    """True when the service is a Dask cluster that has lost every worker (the nannies died with a Ctrl-C)."""
    client = getattr(service, "client", None)
    if client is None:
        return False
    try:
        return not client.nthreads()
    except Exception:
        return True


def _cache_url(spec: StudySpec, store: RunStore, remote: bool) -> str | None:
    cache = spec.execution.cache
    if isinstance(cache, str):
        return cache
    if cache and store.is_local and not remote:
        return store.url_of("cache")
    return None  # a local path means nothing to remote workers; give execution.cache an object-store URL


def run_study(
    spec_path: str | Path,
    options: RunOptions | None = None,
    progress: Callable[[RunProgress], None] | None = None,
    on_start: Callable[[str, str], None] | None = None,
) -> RunSummary:
    """Run (or continue) a study to the end of its budget; returns the summary of the run.

    ``on_start(run_id, run_url)`` is called once the run's directory exists (before the cluster starts).
    """
    options = options or RunOptions()
    spec = _load(spec_path)
    try:
        resolved = resolve_study(spec, spec_path)
    except StudyError as exc:
        raise RunError(str(exc)) from None

    run_id = options.run_id or new_run_id(resolved.name)
    try:
        check_run_id(run_id)
    except ValueError as exc:
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

    try:
        bundle_ref, local_code = bundle_ref_for(spec, spec_path)
    except StudyError as exc:
        raise RunError(str(exc)) from None
    resolved = dataclasses.replace(resolved, bundle_ref=bundle_ref)
    check_study(resolved, local_code)
    try:
        storage = storage_url(spec, spec_path, store, LOCAL_STATE_DIR.resolve())
    except StudyError as exc:
        raise RunError(str(exc)) from None

    algorithm = _build_algorithm(resolved, storage, study_name=run_id)
    remote, description = service_description(spec.execution, options.workers, options.scheduler)
    if not existing:
        from modelops.redaction import redacted_spec_bytes  # the spec as given, with its secrets replaced by ***

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
    if on_start is not None:
        on_start(run_id, store.url)

    # A retry of a dead runner's trial may already be recorded (runners record before they tell): the algorithm
    # looks it up here, in every runner's records, instead of handing it out to be simulated twice.
    if hasattr(algorithm, "lookup_recorded"):
        algorithm.lookup_recorded = lambda ids: [
            _Driver._result_from_row(r) for r in store.load_trials().to_dicts() if r["param_id"] in ids
        ]
    # Resume: replay what is recorded, so in-memory algorithms catch up and storages agree with the records.
    trials = store.load_trials() if existing else None
    stats = _Stats()
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
    artifacts = ArtifactWriter(store, algorithm)
    stop = _StopFlag()
    status = "failed"
    error: BaseException | None = None
    service_name = description
    try:
        with (
            stop.installed(options.handle_signals),
            open_service(spec.execution, options.workers, options.scheduler) as service,
        ):
            cache_url = _cache_url(spec, store, remote)
            outputs_url = store.url_of("outputs") if resolved.outputs == "all" else None
            driver = _Driver(
                resolved, spec, store, algorithm, journal, options, progress, stats, done, cache_url, outputs_url
            )
            driver.remote = remote
            driver.artifacts = artifacts
            status = driver.run(service, stop)
    except BaseException as exc:
        error = exc
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if getattr(exc, "resumable", False):  # e.g. the algorithm's database stayed away: one message, no traceback
            raise RunError(str(exc)) from None
        raise
    finally:
        close = getattr(algorithm, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()  # stops an algorithm's heartbeat thread and releases its storage
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
            service=service_name,
            storage=manifests.redact_dsn(storage) or storage,
            algorithm_s=stats.algorithm_s,
            records_s=stats.records_s,
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
    return summary


def _code_digest(resolved: ResolvedStudy) -> str | None:
    try:
        from modelops.store.cache import code_identity

        return code_identity(resolved.model_ref, resolved.bundle_ref, resolved.search_path)
    except Exception:
        return None
