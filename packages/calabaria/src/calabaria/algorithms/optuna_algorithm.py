"""OptunaAlgorithm: Optuna's samplers behind ask/tell, safe for several runners sharing one study.

How trials are book-kept in the Optuna storage (so any process sharing it can act on any trial):

- every trial carries user attributes ``modelops:param_id`` (the contract id of its parameters) and, for a retry,
  ``modelops:slot`` (the budget slot it fills; otherwise a trial's slot is its own trial id);
- ``tell`` finds trials by param_id, sets ``modelops:status`` (completed / failed / timeout, with
  ``modelops:reason``) and finishes them: COMPLETE with the loss, or FAIL;
- the budget ``n_trials`` counts *slots*: a new trial whose slot ranks at or past ``n_trials`` among all slots (by
  trial id, the storage's own total order) cancels itself, so N runners asking at once create exactly n_trials;
- a trial whose owner died (heartbeat or lease expired, see ``_storage``) is failed, and its parameters are re-enqueued
  as a retry filling the same slot: nothing is lost and nothing is counted twice;
- a sampled point that repeats a param_id already told is finished with the known result (role ``duplicate``,
  outside the budget); one that repeats a param_id still running elsewhere is cancelled (role ``cancelled``);
- at most one trial per param_id runs at a time, without locks: each trial writes its param_id, *then* reads the
  study. Of two trials that run concurrently, the later reader always sees the earlier writer, so a trial that yields
  whenever it sees a live rival can never run beside one. Fresh samples yield to any live rival (two may both yield:
  a wasted sample, never a lost slot). A retry's param_id is written when it is enqueued, before anyone can pop it,
  so among retries the oldest wins; a retry still yields to a live fresh sample (which may not have seen it);
- a retry is first looked up in the runner's records when the runner offers ``lookup_recorded`` (see the
  attribute): the dead runner may have recorded the result just before it died (runners record before they tell),
  and simulating it again would record its param_id twice;
- the storage may go away (a database restart, a dropped connection): every call retries with backoff for up to
  ``reconnect_seconds``, then raises StorageUnavailable (the run is resumable). After an outage this process judges
  nobody's lease for one lease period: the others could not renew theirs either.

User attributes of a told trial (read by optuna-dashboard): ``modelops:param_id``, ``modelops:status``,
``modelops:loss:<target>`` (each target's loss, when the runner sends ``diagnostics["target_losses"]``) and
``modelops:trial`` (the runner's trial number, when it sends ``diagnostics["trial"]``). Optuna's own trial numbers
count every trial it created (also cancelled, duplicate and abandoned ones), so they drift from the run's numbers
after a resume; ``modelops:trial`` and ``modelops:param_id`` are the join keys to the run's records.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from modelops_contracts import TrialResult, TrialStatus, UniqueParameterSet

from ..parameters import CategoricalParameter, FloatParameter, ParameterSpace
from ._common import TERMINAL, check_n, parameter_set, reject_unknown
from ._optuna_compat import quiet_study_creation, trial_id
from ._storage import StorageError, is_transient, open_storage, redact_url

log = logging.getLogger(__name__)

PARAM_ID = "modelops:param_id"
SLOT = "modelops:slot"
STATUS = "modelops:status"
REASON = "modelops:reason"
ROLE = "modelops:role"
LOSS_PREFIX = "modelops:loss:"
TRIAL = "modelops:trial"
CANCELLED, DUPLICATE = "cancelled", "duplicate"
OPTIONS = {"n_trials", "sampler", "direction", "sampler_options", "lease_seconds", "heartbeat", "reconnect_seconds"}
SAMPLERS = ("tpe", "cmaes", "random", "gp")
MAX_REASON = 2000
DEFAULT_RECONNECT_S = 300.0
OPEN_WAIT_S = 30.0  # at start-up a restart is waited out, but a wrong host should not cost five minutes
T = TypeVar("T")


class StorageUnavailable(RuntimeError):
    """The Optuna storage stayed unreachable for longer than ``reconnect_seconds``; the message says how to resume.
    ``resumable`` tells a runner to report the message alone (no traceback): nothing recorded is lost."""

    resumable = True


def _distribution(p: Any) -> BaseDistribution:
    if isinstance(p, FloatParameter):
        return FloatDistribution(p.low, p.high, log=p.log)
    if isinstance(p, CategoricalParameter):
        return CategoricalDistribution(p.choices)
    return IntDistribution(p.low, p.high, log=p.log)


def make_sampler(name: str, seed: int | None, options: Mapping[str, Any]) -> optuna.samplers.BaseSampler:
    """The Optuna sampler called ``name``; TPE defaults to constant_liar so parallel asks spread out."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {list(SAMPLERS)}")
    opts = dict(options)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if name == "tpe":
                opts.setdefault("constant_liar", True)
                return optuna.samplers.TPESampler(seed=seed, **opts)
            if name == "random":
                return optuna.samplers.RandomSampler(seed=seed, **opts)
            if name == "cmaes":
                try:
                    import cmaes  # noqa: F401  (Optuna imports it lazily, and fails only at the first ask)
                except ImportError:
                    raise ValueError("sampler 'cmaes' needs the 'cmaes' package: pip install cmaes") from None
                return optuna.samplers.CmaEsSampler(seed=seed, **opts)
            try:
                import torch  # noqa: F401
            except ImportError:
                raise ValueError("sampler 'gp' needs PyTorch: pip install torch") from None
            return optuna.samplers.GPSampler(seed=seed, **opts)
    except TypeError as exc:
        raise TypeError(f"sampler_options {sorted(opts)} are not valid for sampler {name!r}: {exc}") from None


class _Census:
    """What the storage says about the study's budget, kept up to date incrementally.

    A full rebuild on every ask cost O(trials) dict work per trial (1.4 ms at 300 trials, growing). Instead each
    refresh files only the trials whose FrozenTrial object changed since the last one: with ``deepcopy=False`` the
    in-memory and journal storages (and Optuna's cache in front of RDB storages, for finished trials) hand back the
    same object until that trial is written, because every write replaces the object (``copy.copy`` then swap; see
    optuna/storages/_in_memory.py and journal/_storage.py). An identity check is therefore exact, never stale: the
    cache keeps the object alive, so its identity cannot be reused. A storage that builds fresh objects (uncached
    RDB) just refiles everything, as the full rebuild did.
    """

    def __init__(self) -> None:
        self._seen: dict[int, FrozenTrial] = {}  # trial id -> the object last filed
        self._filed: dict[int, tuple[str | None, int | None]] = {}  # trial id -> (param_id, slot key or None)
        self._members: dict[int, dict[int, FrozenTrial]] = {}  # slot key -> its live trials, usable or not
        self.slots: dict[int, list[FrozenTrial]] = {}  # slot key -> its live trials, usable slots only
        self.by_param: dict[str, dict[int, FrozenTrial]] = {}  # param_id -> trial id -> trial
        self.told: dict[str, FrozenTrial] = {}  # param_id -> the oldest trial holding its terminal result

    def refresh(self, trials: list[FrozenTrial]) -> None:
        changed_slots: set[int] = set()
        changed_pids: set[str] = set()
        for t in trials:
            tid = trial_id(t)
            if self._seen.get(tid) is t:
                continue
            old_pid, old_key = self._filed.get(tid, (None, None))
            if old_pid is not None:
                self.by_param[old_pid].pop(tid, None)
                changed_pids.add(old_pid)
            if old_key is not None:
                self._members[old_key].pop(tid, None)
                changed_slots.add(old_key)
            pid = t.user_attrs.get(PARAM_ID)
            key = None if t.user_attrs.get(ROLE) is not None else t.user_attrs.get(SLOT, tid)
            if pid is not None:
                self.by_param.setdefault(pid, {})[tid] = t
                changed_pids.add(pid)
            if key is not None:
                self._members.setdefault(key, {})[tid] = t
                changed_slots.add(key)
            self._seen[tid] = t
            self._filed[tid] = (pid, key)
        for pid in changed_pids:
            told = [t for t in self.by_param[pid].values() if _is_told(t)]
            if told:
                self.told[pid] = min(told, key=lambda t: trial_id(t))
            else:
                self.told.pop(pid, None)
        for key in changed_slots:
            members = self._members[key]
            # A slot holding only a trial abandoned before it had its parameters cannot be retried: free it.
            if members and not all(_abandoned(t) and PARAM_ID not in t.user_attrs for t in members.values()):
                self.slots[key] = sorted(members.values(), key=lambda t: trial_id(t))
            else:
                self.slots.pop(key, None)

    def trials_of(self, param_id: str) -> list[FrozenTrial]:
        """Every trial (any role) carrying ``param_id``, oldest first."""
        return sorted(self.by_param.get(param_id, {}).values(), key=lambda t: trial_id(t))

    def slot_done(self, key: int) -> bool:
        # An abandoned slot whose param_id was told through another trial is done too: retrying it would only
        # produce a duplicate.
        return any(_is_told(t) or (_abandoned(t) and t.user_attrs.get(PARAM_ID) in self.told) for t in self.slots[key])


def _is_told(t: FrozenTrial) -> bool:
    """Finished the way its told status says (a runner killed between the two writes of a tell is not told)."""
    status = t.user_attrs.get(STATUS)
    if status == TrialStatus.COMPLETED.value:
        return t.state == TrialState.COMPLETE
    return status in TERMINAL and t.state == TrialState.FAIL


def _abandoned(t: FrozenTrial) -> bool:
    """Failed without being told: its runner died (lease expired) before a result arrived."""
    return t.state == TrialState.FAIL and not _is_told(t) and t.user_attrs.get(ROLE) is None


class OptunaAlgorithm:
    """Ask/tell over an Optuna study; implements modelops_contracts.AdaptiveAlgorithm.

    ``OptunaAlgorithm(space, *, storage=None, study_name="modelops", seed=None, n_trials=..., sampler="tpe",
    direction="minimize", sampler_options={}, heartbeat=10, lease_seconds=3*heartbeat, reconnect_seconds=300)``.

    ``lookup_recorded``: optional, set by the runner: ``f(param_ids) -> list[TrialResult]``, the results its records
    hold for those ids (from any runner of the run). Consulted before a retry is handed out.
    """

    lookup_recorded: Callable[[list[str]], list[TrialResult]] | None = None
    budget_option: ClassVar[str] = "n_trials"  # slots across every runner sharing the storage

    def __init__(
        self,
        space: ParameterSpace | Mapping[str, Any],
        *,
        storage: Any = None,
        study_name: str = "modelops",
        seed: int | None = None,
        **options: Any,
    ):
        reject_unknown("OptunaAlgorithm", options, OPTIONS)
        if "n_trials" not in options:
            raise TypeError("OptunaAlgorithm needs n_trials (the study's total budget of parameter sets)")
        n_trials = options["n_trials"]
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise ValueError(f"n_trials must be a positive int, got {n_trials!r}")
        direction = options.get("direction", "minimize")
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        heartbeat = float(options.get("heartbeat", 10))
        lease_seconds = float(options.get("lease_seconds", 3 * heartbeat))
        if not heartbeat > 0 or not lease_seconds > heartbeat:
            raise ValueError(
                f"need heartbeat > 0 and lease_seconds > heartbeat (got {heartbeat}, {lease_seconds}): a lease "
                "shorter than the renewal interval would expire under a live runner"
            )
        reconnect = options.get("reconnect_seconds", DEFAULT_RECONNECT_S)
        if isinstance(reconnect, bool) or not isinstance(reconnect, int | float) or not reconnect >= 0:
            raise ValueError(f"reconnect_seconds must be a number >= 0, got {reconnect!r}")
        sampler_options = options.get("sampler_options") or {}
        if not isinstance(sampler_options, Mapping):
            raise ValueError(f"sampler_options must be a mapping, got {sampler_options!r}")

        self.space = ParameterSpace.coerce(space)
        if not self.space.names:
            raise ValueError("OptunaAlgorithm needs at least one free parameter; a space of only fixed values")
        cardinality = self.space.cardinality()
        if cardinality is not None and cardinality < n_trials:
            # A discrete space cannot give more distinct parameter sets than it holds; asking for more would never end.
            log.warning(
                "OptunaAlgorithm: the space holds only %d distinct parameter sets; n_trials %d lowered to it",
                cardinality,
                n_trials,
            )
            n_trials = cardinality
        self.n_trials: int = n_trials
        self.study_name = study_name
        self.seed = seed
        self.heartbeat = heartbeat
        self.lease_seconds = lease_seconds
        self.reconnect_seconds = float(reconnect)
        self._storage_label = redact_url(storage) if isinstance(storage, str) else type(storage).__name__
        self._sampler = make_sampler(options.get("sampler", "tpe"), seed, sampler_options)
        self._storage, self._lease = _open(storage, heartbeat, lease_seconds, min(self.reconnect_seconds, OPEN_WAIT_S))
        self._outage_lock = threading.Lock()
        self._hold_until = 0.0  # monotonic time before which this process judges no lease (after an outage)
        with quiet_study_creation():
            self.study = self._reliably(
                lambda: optuna.create_study(
                    storage=self._storage,
                    study_name=study_name,
                    sampler=self._sampler,
                    direction=direction,
                    load_if_exists=True,
                ),
                "open the study",
            )
        self._study_id = self._storage.get_study_id_from_name(study_name)
        if self.study.direction.name.lower() != direction:
            raise ValueError(
                f"study {study_name!r} in this storage was created to {self.study.direction.name.lower()}, "
                f"but the spec asks to {direction}; use another study name"
            )
        self._distributions = {p.name: _distribution(p) for p in self.space.parameters}
        self._pending: dict[int, str] = {}  # trial id -> param_id, for trials this process asked and not yet told
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._full = False
        self._finished = False
        self._known_slots = 0  # slots seen by the latest census: skips budget checks far from the budget
        self._ledger = _Census()  # refreshed, never rebuilt: see _Census
        self._next_reclaim = 0.0
        # Looking for dead trials more often than a tenth of the lease only finds the same nothing; less often would
        # let a dead runner's trials wait noticeably past their lease.
        self._reclaim_every = min(heartbeat, max(0.5, lease_seconds / 10))

    # --- the protocol -------------------------------------------------------------------------------------------

    def ask(self, n: int) -> list[UniqueParameterSet]:
        """Up to ``n`` new parameter sets (retries of dead runners' trials first); fewer once the budget is used."""
        check_n(n)
        if n == 0:
            return []
        self._ensure_heartbeat()
        now = time.monotonic()
        if now >= self._next_reclaim:
            self._next_reclaim = now + self._reclaim_every
            self._reliably(self._reclaim, "look for abandoned trials")
        if self._known_slots + n >= self.n_trials:
            census = self._reliably(self._census, "read the study")
            waiting = any(t.state == TrialState.WAITING for ts in census.slots.values() for t in ts)
            if len(census.slots) >= self.n_trials and not waiting:
                return []
        out: list[UniqueParameterSet] = []
        attempts = 0
        self._full = False
        # Bounded: duplicates and lost races return nothing, and a small discrete space may have no new points left.
        while len(out) < n and attempts < 4 * n + 8 and not self._full:
            attempts += 1
            # A failed ask is retried whole: a trial it half-made is nobody's, and lapses with its provisional lease.
            ps = self._reliably(self._ask_one, "ask for a trial")
            if ps is not None:
                out.append(ps)
        return out

    def tell(self, results: list[TrialResult]) -> None:
        """Record results by param_id: idempotent, in any order, also for trials other processes asked."""
        if not results:
            return
        results = [r if isinstance(r, TrialResult) else TrialResult(**r) for r in results]
        self._reliably(lambda: self._tell(results), "tell results")  # idempotent, so retrying it whole is safe
        # Whoever finished them, this process no longer owns trials with these ids: stop renewing their leases.
        told = {r.param_id for r in results}
        with self._lock:
            for tid in [tid for tid, pid in self._pending.items() if pid in told]:
                del self._pending[tid]

    def _tell(self, results: list[TrialResult]) -> None:
        remote = []
        for result in results:
            # Fast path: this process asked the trial and it is still open (the common case, one query).
            local = self._local_trial(result.param_id)
            if local is None:
                remote.append(result)
            else:
                self._finish(local, result)
        if not remote:
            return
        census = self._census()
        for result in remote:
            live = [
                t
                for t in census.trials_of(result.param_id)
                if not t.state.is_finished() and t.user_attrs.get(ROLE) is None
            ]
            if not live:
                if result.param_id not in census.told:
                    log.warning(
                        "OptunaAlgorithm: no trial of study %r has param_id %s; result ignored",
                        self.study_name,
                        result.param_id,
                    )
                continue
            for t in live:
                self._finish(t, result)

    def finished(self) -> bool:
        """True once n_trials slots hold a terminal result, counted in the storage (across all runners)."""
        if not self._finished:  # monotone: once finished, always finished
            self._finished = self._reliably(self.n_told_slots, "read the study") >= self.n_trials
        return self._finished

    def budget(self) -> int:
        """``n_trials`` (lowered to the number of distinct parameter sets when the space holds fewer)."""
        return self.n_trials

    # --- extras the runtime uses ----------------------------------------------------------------------------------

    def n_told(self) -> int:
        """How many distinct param_ids have a terminal result in the storage."""
        return len(self._reliably(self._census, "read the study").told)

    def n_told_slots(self) -> int:
        census = self._census()
        return sum(1 for key in census.slots if census.slot_done(key))

    def close(self, *, release: bool = True) -> None:
        """Stop renewing leases. With ``release`` (the default), trials this process asked and never told are failed
        now, so the next ask of any runner (or of a resumed run) retries their parameters at once instead of after
        the lease expires."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not release:
            return
        with self._lock:
            pending, self._pending = dict(self._pending), {}
        try:
            for tid in pending:
                with contextlib.suppress(UpdateFinishedTrialError):
                    self._storage.set_trial_state_values(tid, TrialState.FAIL)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # Unreachable storage: the leases of these trials lapse instead, and another runner retries them.
            log.warning(
                "OptunaAlgorithm: could not release %d trials (%s); their leases will lapse",
                len(pending),
                _first_line(exc),
            )
        finally:
            self._lease.close()

    def __enter__(self) -> OptunaAlgorithm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------------------------------

    def _local_trial(self, param_id: str) -> FrozenTrial | None:
        with self._lock:
            ids = [tid for tid, pid in self._pending.items() if pid == param_id]
        for tid in ids:
            t = self._storage.get_trial(tid)
            if not t.state.is_finished() and t.user_attrs.get(ROLE) is None:
                return t
        return None

    def _census(self) -> _Census:
        """The census, brought up to date with the storage (which also syncs with other processes' writes)."""
        self._ledger.refresh(self.study.get_trials(deepcopy=False))
        self._known_slots = len(self._ledger.slots)
        return self._ledger

    def _ask_one(self) -> UniqueParameterSet | None:
        return self._claim(self.study.ask(self._distributions))

    def _claim(self, trial: optuna.Trial) -> UniqueParameterSet | None:
        """Lease a trial just asked of Optuna, write its param_id, then decide whether it runs (see the module
        docstring); its parameter set, or None when it was cancelled, finished as a duplicate or over the budget."""
        tid, number = trial_id(trial), trial.number
        self._lease.start(tid)
        ps = parameter_set(self.space, trial.params)
        retry = SLOT in trial.user_attrs
        if PARAM_ID not in trial.user_attrs:
            self._storage.set_trial_user_attr(tid, PARAM_ID, ps.param_id)
        census = self._census()
        # This trial's own slot is among the census's slots, so at most len(slots) - 1 rank ahead of it: counting
        # them (O(slots)) only matters once the study holds more slots than the budget.
        if not retry and len(census.slots) > self.n_trials:
            ahead = sum(1 for key in census.slots if key < tid)
            if ahead >= self.n_trials:
                self._drop(tid, number, CANCELLED, "over budget: another runner filled the last slot first")
                self._full = True
                return None
        known = census.told.get(ps.param_id)
        if known is not None:
            # The sampler proposed a point already evaluated: finish it with the known result so the sampler learns,
            # outside the budget, instead of simulating it twice.
            self._storage.set_trial_user_attr(tid, ROLE, DUPLICATE)
            if known.state == TrialState.COMPLETE:
                self.study.tell(number, known.values, skip_if_finished=True)
            else:
                self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            self._sampler.reseed_rng()
            return None
        same = census.trials_of(ps.param_id)
        rivals = [
            t
            for t in same
            if trial_id(t) != tid
            and not t.state.is_finished()
            and t.user_attrs.get(ROLE) is None
            # A retry yields to a fresh sample (which wrote its param_id late and may not have seen it) and to an
            # older retry; a fresh sample yields to any live trial of its param_id. See the module docstring.
            and (not retry or SLOT not in t.user_attrs or trial_id(t) < tid)
        ]
        if rivals:
            # Same point already running elsewhere (identically seeded runners draw the same start points): reseed so
            # this runner's sampler stops walking in step with the other's.
            self._drop(tid, number, CANCELLED, f"duplicate of running trial {rivals[0].number}")
            self._sampler.reseed_rng()
            return None
        if (retry or any(_abandoned(t) for t in same)) and self.lookup_recorded is not None:
            # Its first owner may have recorded a result and died before telling it: tell that, never simulate twice.
            recorded = [r for r in self.lookup_recorded([ps.param_id]) if r.param_id == ps.param_id]
            if recorded:
                log.info(
                    "OptunaAlgorithm: param_id %s was recorded by a runner that died before telling it", ps.param_id
                )
                self._finish(self._storage.get_trial(tid), recorded[0])
                return None
        with self._lock:
            self._pending[tid] = ps.param_id
        self._ensure_heartbeat()
        return ps

    def _drop(self, tid: int, number: int, role: str, reason: str) -> None:
        with contextlib.suppress(UpdateFinishedTrialError):
            self._storage.set_trial_user_attr(tid, ROLE, role)
            self._storage.set_trial_user_attr(tid, REASON, reason)
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)

    def _finish(self, t: FrozenTrial, result: TrialResult) -> None:
        tid = trial_id(t)
        if t.state == TrialState.WAITING and not self._storage.set_trial_state_values(tid, TrialState.RUNNING):
            return  # another process popped this retry just now; it will see the result when it tells
        try:
            losses = result.diagnostics.get("target_losses")
            if isinstance(losses, Mapping):
                # One attribute per target: optuna-dashboard shows (and sorts) each as its own numeric column.
                for target, value in losses.items():
                    if LOSS_PREFIX + str(target) not in t.user_attrs:
                        self._storage.set_trial_user_attr(tid, LOSS_PREFIX + str(target), _json_float(value))
            number = result.diagnostics.get("trial")
            if isinstance(number, int) and not isinstance(number, bool) and TRIAL not in t.user_attrs:
                self._storage.set_trial_user_attr(tid, TRIAL, number)
            self._storage.set_trial_user_attr(tid, STATUS, result.status.value)
            if result.status is TrialStatus.COMPLETED:
                self.study.tell(t.number, result.loss, skip_if_finished=True)
            else:
                reason = result.diagnostics.get("reason") or result.diagnostics.get("error") or result.status.value
                self._storage.set_trial_user_attr(tid, REASON, str(reason)[:MAX_REASON])
                self.study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        except UpdateFinishedTrialError:
            log.debug("trial %s was finished by another process first", t.number)
        with self._lock:
            self._pending.pop(tid, None)

    def _reclaim(self) -> None:
        """Fail trials whose owner stopped renewing, and re-enqueue the parameters of every abandoned slot."""
        if time.monotonic() < self._hold_until:
            return  # just back from an outage: the others may not have renewed their leases yet
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        with self._lock:
            own = set(self._pending)
        for tid in self._lease.stale(running, own):
            try:
                if self._storage.set_trial_state_values(tid, TrialState.FAIL):
                    log.warning("OptunaAlgorithm: trial id %s lost its runner (lease expired); retrying it", tid)
            except UpdateFinishedTrialError:
                pass  # another process failed it first, or it was told meanwhile
        census = self._census()
        for key, trials in sorted(census.slots.items()):
            if not all(_abandoned(t) for t in trials) or census.slot_done(key):
                continue
            complete = [t for t in trials if PARAM_ID in t.user_attrs and set(t.params) == set(self._distributions)]
            source = complete[0] if complete else None
            if source is None:
                continue
            pid = source.user_attrs[PARAM_ID]
            # Two processes may both enqueue here; the second retry is then cancelled as a duplicate when asked.
            self.study.enqueue_trial(dict(source.params), user_attrs={SLOT: key, PARAM_ID: pid})

    def _ensure_heartbeat(self) -> None:
        if self._lease.kind == "none" or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._beat, name=f"optuna-lease-{self.study_name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        failing_since: float | None = None
        while not self._stop.wait(self.heartbeat):
            with self._lock:
                ids = list(self._pending)
            try:
                if ids:
                    self._lease.renew(ids)
                else:
                    # Nothing to renew, but an outage must still be noticed: see _note_outage.
                    self._lease.ping()
            except Exception as exc:  # a database error must not kill the renewal thread
                if is_transient(exc):
                    self._note_outage()
                    if failing_since is None:
                        failing_since = time.monotonic()
                        log.warning("OptunaAlgorithm: cannot renew leases, storage unreachable (%s)", _first_line(exc))
                else:
                    log.exception("OptunaAlgorithm: renewing the leases of %d trials failed", len(ids))
                continue
            if failing_since is not None:
                log.warning("OptunaAlgorithm: leases renewed again after %.0f s", time.monotonic() - failing_since)
                failing_since = None

    def _note_outage(self) -> None:
        """The storage failed us: judge nobody's lease until one lease period after it answers again (whoever could
        not reach it could not renew either). Pushed forward on every failure, so it runs from the last one."""
        with self._outage_lock:
            self._hold_until = max(self._hold_until, time.monotonic() + self.lease_seconds)

    def _reliably(self, call: Callable[[], T], what: str) -> T:
        """``call()``, retried with backoff while the storage is unreachable, for up to ``reconnect_seconds``."""
        started: float | None = None
        delay = 0.5
        while True:
            try:
                out = call()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._note_outage()
                now = time.monotonic()
                if started is None:
                    started = now
                    log.warning(
                        "OptunaAlgorithm: cannot %s, storage %s unreachable (%s); retrying for up to %.0f s",
                        what,
                        self._storage_label,
                        _first_line(exc),
                        self.reconnect_seconds,
                    )
                left = started + self.reconnect_seconds - now
                if left <= 0:
                    raise StorageUnavailable(
                        f"the Optuna storage {self._storage_label} stayed unreachable for "
                        f"{now - started:.0f} s (reconnect_seconds={self.reconnect_seconds:g}) while trying to {what}: "
                        f"{_first_line(exc)}. Every recorded trial is kept: once the database is back, continue with "
                        f"`mops run <spec> --resume {self.study_name}` (raise algorithm.options.reconnect_seconds "
                        "to wait longer)"
                    ) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, 5.0)
                continue
            if started is not None:
                log.warning("OptunaAlgorithm: storage reachable again after %.0f s", time.monotonic() - started)
                self._note_outage()
            return out


def _open(storage: Any, heartbeat: float, lease_seconds: float, wait_s: float) -> tuple[Any, Any]:
    """open_storage, tried again for up to ``wait_s`` while the database cannot be reached (a runner started during
    a restart); a wrong URL or a refused login fails at once."""
    deadline = time.monotonic() + wait_s
    delay = 0.5
    while True:
        try:
            return open_storage(storage, heartbeat, lease_seconds)
        except StorageError as exc:
            left = deadline - time.monotonic()
            if not exc.transient or left <= 0:
                raise
            log.warning("OptunaAlgorithm: %s; trying again for up to %.0f s", exc, left)
            time.sleep(min(delay, left))
            delay = min(2 * delay, 5.0)


def _first_line(exc: BaseException) -> str:
    """The first line of the error that says what happened: Optuna's StorageInternalError text ("invalid data in
    the commit") is a guess, so the database driver's own error under it is reported instead."""
    while isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()
    return redact_url(f"{type(exc).__name__}: {text[0] if text else ''}")


def _json_float(value: Any) -> float | None:
    """A loss as a JSON-safe number (NaN and infinities become null: JSON has no spelling for them)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
