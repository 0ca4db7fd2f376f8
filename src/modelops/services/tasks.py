"""The unit of distributed work: one parameter set's replicates (a *group*), run anywhere as plain Python.

A group runs R replicates of ``fn(params, seed)`` with seeds fixed by the caller (``derive_seed``), consults the
simulation cache before simulating, optionally writes each replicate's raw outputs to a store, and optionally scores
the replicates with a target evaluator *on the worker*, so only losses and small summaries travel back. Every
failure (import, simulation, bad return type, evaluation) becomes data in the :class:`GroupResult` with its
traceback, never an exception that kills the runner.

Credentials for ``cache_url`` / ``outputs_url`` on object stores come from the worker's environment (e.g.
``AZURE_STORAGE_CONNECTION_STRING`` for ``az://``), never from the task: tasks are logged and shipped in the clear.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec

from modelops.core.fnref import resolve
from modelops.services.context import _plain, config_digest
from modelops.services.ipc import from_ipc, to_ipc
from modelops.store.cache import SimulationCache, atomic_write, code_identity, pack_outputs
from modelops_contracts import TargetEvaluation, TargetEvaluator, make_param_id

MAX_ERROR_CHARS = 8192

# Per-process memo tables: a worker resolves a model, builds an evaluator and hashes its code once, not per task.
_memo_lock = threading.Lock()
_fns: dict[tuple[str, tuple[str, ...]], Callable[..., Any]] = {}
_evaluators: dict[tuple[str, str, tuple[str, ...]], TargetEvaluator] = {}
_code_ids: dict[tuple[str, str | None, tuple[str, ...]], str] = {}
_caches: dict[str, SimulationCache] = {}
_filesystems: dict[str, tuple[fsspec.AbstractFileSystem, str]] = {}
_cache_warned: set[str] = set()
logger = logging.getLogger("modelops.services")


class BundleUnavailableError(RuntimeError):
    """A group names a bundle but this process cannot materialise bundles."""


@dataclass(frozen=True)
class SimulationGroup:
    """One parameter set and its replicates: the smallest unit a runner submits.

    ``seeds[i]`` is replicate i's seed. ``params`` and ``evaluator_config`` are plain JSON-able values (read-only
    mappings from UniqueParameterSet are accepted and copied to plain dicts).

    ``evaluator_key`` is ``config_digest(evaluator_config)``, computed here when not given. A runner submitting
    thousands of groups with one config (observed data inlined: easily tens of thousands of values) builds the plain
    config and its digest once and passes both, so no group copies or hashes the config again, here or on a worker.
    """

    fn_ref: str
    params: Mapping[str, Any]
    param_id: str
    seeds: tuple[int, ...]
    bundle_ref: str | None = None
    evaluator_ref: str | None = None
    evaluator_config: Mapping[str, Any] | None = None
    cache_url: str | None = None
    outputs_url: str | None = None
    return_outputs: bool = False
    search_path: tuple[str, ...] = ()
    evaluator_key: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fn_ref, str) or not self.fn_ref:
            raise ValueError("SimulationGroup.fn_ref must be a 'package.module:function' string")
        if not isinstance(self.param_id, str) or not self.param_id:
            raise ValueError("SimulationGroup.param_id must be a non-empty string (make_param_id(params))")
        if not isinstance(self.params, Mapping):
            raise TypeError(f"SimulationGroup.params must be a mapping, got {type(self.params).__name__}")
        seeds = tuple(self.seeds)
        if not seeds:
            raise ValueError("SimulationGroup.seeds is empty; a group runs at least one replicate")
        if any(type(s) is not int or s < 0 for s in seeds):
            raise ValueError(f"SimulationGroup.seeds must be non-negative ints (uint64), got {seeds!r}")
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "params", _plain(self.params))
        if self.evaluator_config is not None and self.evaluator_key is None:
            config = _plain(self.evaluator_config)
            object.__setattr__(self, "evaluator_config", config)
            object.__setattr__(self, "evaluator_key", config_digest(config))
        object.__setattr__(self, "search_path", tuple(str(p) for p in self.search_path))

    @property
    def n_replicates(self) -> int:
        return len(self.seeds)

    @classmethod
    def single(
        cls,
        fn_ref: str,
        params: Mapping[str, Any],
        seed: int,
        *,
        bundle_ref: str | None,
        cache_url: str | None,
        search_path: tuple[str, ...],
    ) -> SimulationGroup:
        """The group behind the contract's ``submit(fn_ref, params, seed)``: one replicate, raw outputs returned."""
        return cls(
            fn_ref=fn_ref,
            params=params,
            param_id=make_param_id(params),
            seeds=(seed,),
            bundle_ref=bundle_ref,
            cache_url=cache_url,
            return_outputs=True,
            search_path=search_path,
        )


@dataclass(frozen=True)
class ReplicateOutcome:
    """How one replicate went. ``outputs`` (Arrow IPC bytes) only when the group asked for them back."""

    replicate: int
    seed: int
    ok: bool
    error: str | None
    duration_s: float
    cached: bool
    outputs: Mapping[str, bytes] | None = None


def _rebuild_evaluation(loss: float, target_losses: dict, replicate_losses: list, summaries: dict) -> TargetEvaluation:
    return TargetEvaluation(loss, target_losses, replicate_losses, summaries)


def _rebuild_group_result(
    param_id: str,
    replicates: tuple[ReplicateOutcome, ...],
    evaluation: tuple | None,
    error: str | None,
    duration_s: float,
    worker: str | None,
    timed_out: bool = False,
) -> GroupResult:
    ev = _rebuild_evaluation(*evaluation) if evaluation is not None else None
    return GroupResult(param_id, replicates, ev, error, duration_s, worker, timed_out)


@dataclass(frozen=True)
class GroupResult:
    """The outcome of one group: per-replicate outcomes, the evaluation (if any) and the first error (if any).

    ``timed_out`` is True when the group was stopped because it ran past its time limit (``execution.timeout_s`` per
    simulation): the runner records such trials as timed out rather than as a model error.
    """

    param_id: str
    replicates: tuple[ReplicateOutcome, ...]
    evaluation: TargetEvaluation | None
    error: str | None
    duration_s: float
    worker: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True when every replicate succeeded and nothing (evaluation included) failed."""
        return self.error is None and all(r.ok for r in self.replicates)

    @property
    def n_cached(self) -> int:
        return sum(r.cached for r in self.replicates)

    def __reduce__(self) -> tuple:
        # TargetEvaluation holds read-only mappings, which the standard pickle refuses; ship plain values instead.
        ev = self.evaluation
        plain_ev = (
            None
            if ev is None
            else (
                ev.loss,
                dict(ev.target_losses),
                [dict(r) for r in ev.replicate_losses],
                _plain(ev.summaries),
            )
        )
        return (
            _rebuild_group_result,
            (self.param_id, self.replicates, plain_ev, self.error, self.duration_s, self.worker, self.timed_out),
        )


# --- helpers -----------------------------------------------------------------------------------------------------


def bounded(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, keeping the start (what failed) and the end (where)."""
    if len(text) <= limit:
        return text
    head = limit // 3
    tail = limit - head - 60
    return f"{text[:head]}\n... [{len(text) - head - tail} characters cut] ...\n{text[-tail:]}"


def _format_exc(exc: BaseException, context: str) -> str:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return bounded(f"{context}: {type(exc).__name__}: {exc}\n{tb}")


def _bundle_search_path(bundle_ref: str) -> tuple[str, ...]:
    """The import paths of bundle ``bundle_ref`` on this worker (fetched and unpacked by modelops.bundles).

    The seam between execution and bundles: modelops.bundles provides ``worker_search_path(bundle_ref)``.
    """
    try:
        from modelops import bundles  # lazy: a worker without bundle support can still run plain groups
    except ImportError as exc:
        raise BundleUnavailableError(
            f"group names bundle {bundle_ref!r} but modelops.bundles cannot be imported on this worker ({exc}); "
            "run workers from the ModelOps image, or drop bundle_ref and use search_path for local code"
        ) from exc
    provider = getattr(bundles, "worker_search_path", None)
    if provider is None:
        raise BundleUnavailableError(
            f"group names bundle {bundle_ref!r} but this modelops.bundles has no worker_search_path(bundle_ref); "
            "upgrade ModelOps on the workers"
        )
    return tuple(str(p) for p in provider(bundle_ref))


def _search_path(group: SimulationGroup) -> tuple[str, ...]:
    extra = _bundle_search_path(group.bundle_ref) if group.bundle_ref else ()
    return tuple(extra) + group.search_path


def _function(ref: str, search_path: tuple[str, ...]) -> Callable[..., Any]:
    key = (ref, search_path)
    fn = _fns.get(key)
    if fn is None:
        with _memo_lock:
            fn = _fns.get(key) or resolve(ref, search_path=search_path)
            _fns[key] = fn
    return fn


def _evaluator(
    ref: str, config: Mapping[str, Any] | None, config_key: str | None, search_path: tuple[str, ...]
) -> TargetEvaluator:
    key = (ref, config_key or config_digest(config), search_path)
    evaluator = _evaluators.get(key)
    if evaluator is None:
        with _memo_lock:
            evaluator = _evaluators.get(key)
            if evaluator is None:
                factory = resolve(ref, search_path=search_path)
                evaluator = factory(dict(config or {}))
                if not callable(getattr(evaluator, "evaluate", None)):
                    raise TypeError(
                        f"evaluator factory {ref!r} returned a {type(evaluator).__name__}, which has no "
                        "evaluate(replicates) method (see modelops_contracts.TargetEvaluator)"
                    )
                _evaluators[key] = evaluator
    return evaluator


def _code_identity(group: SimulationGroup, search_path: tuple[str, ...]) -> str:
    key = (group.fn_ref, group.bundle_ref, search_path)
    ident = _code_ids.get(key)
    if ident is None:
        ident = code_identity(group.fn_ref, group.bundle_ref, search_path)
        _code_ids[key] = ident
    return ident


def _open_cache(url: str) -> SimulationCache | None:
    cache = _caches.get(url)
    if cache is None:
        try:
            cache = _caches[url] = SimulationCache(url)
        except Exception as exc:
            _warn_cache(url, exc)
            return None
    return cache


def _warn_cache(url: str, exc: BaseException) -> None:
    # Once per cache and process, so a misconfigured cache is visible in the worker logs without flooding them.
    if url not in _cache_warned:
        _cache_warned.add(url)
        logger.warning("simulation cache %s is failing (%s: %s); simulating without it", url, type(exc).__name__, exc)


def _cache_call(cache: SimulationCache, method: Callable[..., Any], *args: Any) -> Any:
    """A cache read or write; a failing cache (store unreachable, no permission) costs a recomputation, never a
    failed simulation."""
    try:
        return method(*args)
    except Exception as exc:
        _warn_cache(cache.url, exc)
        return None


def replicate_output_path(outputs_url: str, param_id: str, replicate: int) -> str:
    """Where a worker writes replicate ``replicate`` of ``param_id`` under ``outputs_url`` (one file each)."""
    return f"{outputs_url.rstrip('/')}/{param_id}/replicate-{replicate:04d}.zip"


def read_replicate_outputs(
    url: str, storage_options: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read one replicate's raw outputs file: ``({name: polars.DataFrame}, meta)``; meta holds fn_ref, param_id,
    replicate and seed. Raises CorruptEntryError when the file does not verify."""
    from modelops.store.cache import unpack_outputs

    with fsspec.open(url, "rb", **dict(storage_options or {})) as fh:
        outputs, meta = unpack_outputs(fh.read())
    return from_ipc(outputs), meta


def _write_outputs(group: SimulationGroup, replicate: int, seed: int, outputs: Mapping[str, bytes]) -> None:
    base = (group.outputs_url or "").rstrip("/")
    entry = _filesystems.get(base)
    if entry is None:
        entry = _filesystems[base] = fsspec.core.url_to_fs(base)
    fs, root = entry
    path = replicate_output_path(root, group.param_id, replicate)
    meta = {"fn_ref": group.fn_ref, "param_id": group.param_id, "replicate": replicate, "seed": seed}
    atomic_write(fs, path, pack_outputs(outputs, meta=meta))


def _worker_name() -> str | None:
    import sys

    if "distributed" not in sys.modules:  # in-process runs never load distributed just to ask
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:
        return None
    return str(worker.name) if worker.name is not None else worker.address


def _failed_outcomes(group: SimulationGroup, error: str) -> tuple[ReplicateOutcome, ...]:
    return tuple(ReplicateOutcome(i, s, False, error, 0.0, False) for i, s in enumerate(group.seeds))


# --- the task ----------------------------------------------------------------------------------------------------


def simulate_one(fn: Callable[..., Any], fn_ref: str, params: Mapping[str, Any], seed: int) -> dict[str, bytes]:
    """Call ``fn(params, seed)`` and encode its tables; a wrong return type is a TypeError naming ``fn_ref``."""
    result = fn(dict(params), seed)
    if not isinstance(result, Mapping):
        raise TypeError(
            f"simulation {fn_ref!r} returned a {type(result).__module__}.{type(result).__qualname__}; it must "
            "return a mapping of output name to polars.DataFrame or pyarrow.Table"
        )
    try:
        return to_ipc(result)
    except TypeError as exc:
        raise TypeError(f"simulation {fn_ref!r}: {exc}") from None


def run_group(group: SimulationGroup) -> GroupResult:
    """Run one group where this function is called (a Dask worker, a process pool, the current process)."""
    started = time.perf_counter()
    worker = _worker_name()
    try:
        search_path = _search_path(group)
        fn = _function(group.fn_ref, search_path)
        cache = _open_cache(group.cache_url) if group.cache_url else None
        ident = _code_identity(group, search_path) if cache is not None else None
    except Exception as exc:
        error = _format_exc(exc, f"cannot load simulation {group.fn_ref!r}")
        return GroupResult(
            group.param_id, _failed_outcomes(group, error), None, error, time.perf_counter() - started, worker
        )

    outcomes: list[ReplicateOutcome] = []
    decoded_inputs: list[Mapping[str, bytes]] = []
    first_error: str | None = None
    for i, seed in enumerate(group.seeds):
        t0 = time.perf_counter()
        outputs: dict[str, bytes] | None = None
        cached = False
        try:
            key = SimulationCache.key(ident, group.fn_ref, group.param_id, seed) if ident is not None else None
            if cache is not None and key is not None:
                outputs = _cache_call(cache, cache.get, key)
                cached = outputs is not None
            if outputs is None:
                outputs = simulate_one(fn, group.fn_ref, group.params, seed)
                if cache is not None and key is not None:
                    _cache_call(cache, cache.put, key, outputs)
            if group.outputs_url:
                _write_outputs(group, i, seed, outputs)
        except Exception as exc:
            error = _format_exc(exc, f"replicate {i} (seed {seed}) of {group.fn_ref!r}, param_id {group.param_id}")
            first_error = first_error or error
            outcomes.append(ReplicateOutcome(i, seed, False, error, time.perf_counter() - t0, cached))
            continue
        decoded_inputs.append(outputs)
        outcomes.append(
            ReplicateOutcome(
                i, seed, True, None, time.perf_counter() - t0, cached, outputs if group.return_outputs else None
            )
        )

    evaluation: TargetEvaluation | None = None
    if group.evaluator_ref and first_error is None:
        try:
            evaluator = _evaluator(group.evaluator_ref, group.evaluator_config, group.evaluator_key, search_path)
            evaluation = evaluator.evaluate([from_ipc(o) for o in decoded_inputs])
            if not isinstance(evaluation, TargetEvaluation):
                raise TypeError(
                    f"evaluator {group.evaluator_ref!r} returned a {type(evaluation).__name__}; evaluate() must "
                    "return a modelops_contracts.TargetEvaluation"
                )
        except Exception as exc:
            evaluation = None
            first_error = _format_exc(exc, f"evaluator {group.evaluator_ref!r} failed on param_id {group.param_id}")
    return GroupResult(group.param_id, tuple(outcomes), evaluation, first_error, time.perf_counter() - started, worker)


def run_chunk(groups: Sequence[SimulationGroup]) -> list[GroupResult]:
    """Run several groups in one task (chunking very short simulations); results in input order."""
    return [run_group(g) for g in groups]


class SimulationError(RuntimeError):
    """A simulation submitted through ``SimulationService.submit`` failed; ``error`` holds the remote traceback."""

    def __init__(self, fn_ref: str, param_id: str, seed: int, error: str):
        super().__init__(fn_ref, param_id, seed, error)
        self.fn_ref, self.param_id, self.seed, self.error = fn_ref, param_id, seed, error

    def __str__(self) -> str:
        return f"simulation {self.fn_ref!r} failed for param_id {self.param_id} seed {self.seed}:\n{self.error}"


def outputs_or_raise(result: GroupResult, fn_ref: str) -> dict[str, bytes]:
    """The single replicate's outputs of a one-seed group (the ``submit`` path), or SimulationError."""
    rep = result.replicates[0]
    if not result.ok or rep.outputs is None:
        raise SimulationError(fn_ref, result.param_id, rep.seed, result.error or rep.error or "no outputs returned")
    return dict(rep.outputs)
