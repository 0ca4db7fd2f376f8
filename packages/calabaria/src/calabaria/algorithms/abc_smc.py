"""AbcSmcAlgorithm: approximate Bayesian computation by sequential Monte Carlo, as an ask/tell algorithm.

The study's loss is the ABC distance. Generation 0 draws particles from the prior (the parameters' ``prior``, else
uniform / log-uniform on their bounds); generation g >= 1 perturbs particles of generation g-1, picked by weight, with a
multivariate-normal kernel whose covariance is twice the previous population's weighted covariance (Beaumont et al.
2009), in internal coordinates (log for log-scaled parameters). A candidate is accepted when its distance is at most
epsilon_g, the ``quantile`` of generation g-1's distances (epsilon_0 = infinity); weights are
``prior(theta) / sum_j w_j K(theta | theta_j)``.

Determinism. Candidate i of generation g is a pure function of (seed, g, i, population g-1), and generation g's
population is the first ``population_size`` *accepted candidates in index order* (not in the order results arrive).
So the posterior depends on the seed alone: telling results in completion order, telling them again, or replaying a
killed run's records on ``--resume`` (the runner tells every recorded trial before asking) gives exactly the same
populations. Candidates asked beyond that prefix (in flight when the generation completed) are recorded as trials but
not used. The one exception is a binding ``n_trials`` budget, which can stop a run part-way through a generation at
a timing-dependent point: the posterior is then the last completed generation.

One runner per run: the state is rebuilt from the told results of this process, so two runners would each build
their own populations. With a storage, the algorithm holds an exclusive lock (a file lock beside a journal or SQLite
file, a PostgreSQL advisory lock) for its lifetime and refuses to start while another process holds it; the kernel
or the database releases it when the holder dies, so kill -9 then ``--resume`` works at once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelops_contracts import TrialResult, TrialStatus, UniqueParameterSet
from modelops_contracts.storage import local_file

from ..parameters import FloatParameter, ParameterSpace, Prior
from ._common import check_n, parameter_set, reject_unknown

log = logging.getLogger(__name__)
OPTIONS = {
    "population_size",
    "generations",
    "final_epsilon",
    "quantile",
    "n_trials",
    "kernel_scale",
    "min_acceptance_rate",
}
MAX_PERTURB_TRIES = 1000


class AbcSmcError(ValueError):
    """The ABC-SMC configuration or its storage cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Population:
    """One completed generation: accepted particles (natural units), normalised weights, distances, epsilon."""

    generation: int
    particles: np.ndarray  # (N, d), natural units
    internal: np.ndarray  # (N, d), internal coordinates (log for log-scaled parameters)
    weights: np.ndarray  # (N,), sum 1
    distances: np.ndarray  # (N,)
    param_ids: tuple[str, ...]
    epsilon: float
    n_proposed: int  # candidates up to and including the last accepted one (acceptance rate = N / n_proposed)


class _Kernel:
    """The perturbation kernel of one generation: MVN(0, cov) in internal coordinates."""

    def __init__(self, previous: Population, scale: float):
        z, w = previous.internal, previous.weights
        mean = w @ z
        centred = z - mean
        cov = scale * (centred.T * w) @ centred
        # A population collapsed on a point (or a parameter with no spread) gives a singular matrix: a tiny ridge
        # relative to each parameter's scale keeps the Cholesky factor and the density defined.
        ridge = 1e-12 * (np.abs(np.diag(cov)).max() + 1e-12)
        cov = cov + ridge * np.eye(cov.shape[0])
        self.chol = np.linalg.cholesky(cov)
        self.cov_inv = np.linalg.inv(cov)
        self.log_norm = -0.5 * (cov.shape[0] * math.log(2 * math.pi) + 2 * float(np.sum(np.log(np.diag(self.chol)))))
        self.previous = previous

    def log_density(self, z: np.ndarray) -> np.ndarray:
        """log sum_j w_j K(z | z_j) for each row of z (the SMC importance weight's denominator)."""
        out = np.empty(z.shape[0])
        logw = np.log(self.previous.weights)[None, :]
        # In blocks of rows: the (rows x particles x dims) differences of a 10,000-particle population would
        # otherwise take gigabytes.
        for start in range(0, z.shape[0], 256):
            diff = z[start : start + 256, None, :] - self.previous.internal[None, :, :]
            maha = np.einsum("ijk,kl,ijl->ij", diff, self.cov_inv, diff)
            logk = self.log_norm - 0.5 * maha + logw
            top = logk.max(axis=1, keepdims=True)
            out[start : start + 256] = (top + np.log(np.exp(logk - top).sum(axis=1, keepdims=True)))[:, 0]
        return out


class AbcSmcAlgorithm:
    """ABC-SMC over the study's float parameters; implements modelops_contracts.AdaptiveAlgorithm.

    Options: ``population_size`` (100), ``generations`` (5 when no ``final_epsilon``; the number of populations,
    prior one included), ``final_epsilon`` (stop after the generation whose epsilon reached it), ``quantile`` (0.5,
    of the last generation's distances), ``kernel_scale`` (2.0), ``n_trials`` (an optional cap on evaluations),
    ``min_acceptance_rate`` (0.005: a generation that has accepted fewer than this fraction of
    population_size / rate candidates is abandoned and the run ends with the previous generation as its posterior;
    decided on the candidates in index order, so deterministic like the rest).
    """

    budget_option: ClassVar[str] = "n_trials"  # a study's n_trials is the optional cap on evaluations

    def __init__(
        self,
        space: ParameterSpace | Mapping[str, Any],
        *,
        storage: Any = None,
        study_name: str = "modelops",
        seed: int | None = None,
        **options: Any,
    ):
        reject_unknown("AbcSmcAlgorithm", options, OPTIONS)
        self.space = ParameterSpace.coerce(space)
        others = [p.name for p in self.space.parameters if not isinstance(p, FloatParameter)]
        if others:
            raise AbcSmcError(f"abc-smc needs float parameters; {others} are integer or categorical (fix them)")
        self.study_name = study_name
        self.seed = int(seed or 0)
        self.population_size = _positive_int(options.get("population_size", 100), "population_size")
        if self.population_size < 2:
            raise AbcSmcError("population_size must be at least 2 (the kernel needs a covariance)")
        self.final_epsilon = options.get("final_epsilon")
        if self.final_epsilon is not None and not (_number(self.final_epsilon) and self.final_epsilon >= 0):
            raise AbcSmcError(f"final_epsilon must be a number >= 0, got {self.final_epsilon!r}")
        default_generations = 5 if self.final_epsilon is None else 1000
        self.generations = _positive_int(options.get("generations", default_generations), "generations")
        self.quantile = options.get("quantile", 0.5)
        if not (_number(self.quantile) and 0 < self.quantile < 1):
            raise AbcSmcError(f"quantile must be in (0, 1), got {self.quantile!r}")
        self.kernel_scale = options.get("kernel_scale", 2.0)
        if not (_number(self.kernel_scale) and self.kernel_scale > 0):
            raise AbcSmcError(f"kernel_scale must be > 0, got {self.kernel_scale!r}")
        self.min_acceptance_rate = options.get("min_acceptance_rate", 0.005)
        if not (_number(self.min_acceptance_rate) and 0 < self.min_acceptance_rate <= 1):
            raise AbcSmcError(f"min_acceptance_rate must be in (0, 1], got {self.min_acceptance_rate!r}")
        # The most candidates a generation may scan before it is abandoned (see min_acceptance_rate).
        self._max_scan = math.ceil(self.population_size / self.min_acceptance_rate)
        self.stop_reason: str | None = None
        n_trials = options.get("n_trials")
        self.n_trials: int | None = None if n_trials is None else _positive_int(n_trials, "n_trials")

        self._params: tuple[FloatParameter, ...] = tuple(self.space.parameters)  # type: ignore[arg-type]
        self._priors: tuple[Prior, ...] = tuple(p.prior_density for p in self._params)
        # Internal coordinates: log for parameters whose prior lives on a log scale (perturbing there keeps them
        # positive and makes the kernel's steps relative).
        self._logs = np.array(
            [p.log or pr.dist in ("loguniform", "lognormal") for p, pr in zip(self._params, self._priors, strict=True)]
        )
        self._lock = _RunnerLock.acquire(storage, study_name)

        self.populations: list[Population] = []
        self._kernel: _Kernel | None = None
        self._epsilon = math.inf
        self._results: dict[str, float] = {}  # param_id -> distance (inf for a failed trial)
        self._candidates: dict[int, tuple[np.ndarray, UniqueParameterSet]] = {}  # current generation, by index
        self._scan = 0  # candidates [0, _scan) of the current generation are told and scanned
        self._accepted: list[int] = []
        self._asked: set[str] = set()
        self._n_told = 0
        self._done = False

    # --- the AdaptiveAlgorithm protocol ---------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """The generation being sampled (== len(populations) until finished)."""
        return len(self.populations)

    def ask(self, n: int) -> list[UniqueParameterSet]:
        out: list[UniqueParameterSet] = []
        i = self._scan
        while len(out) < check_n(n) and not self.finished() and i < self._max_scan:
            if self.n_trials is not None and self._n_told + len(self._asked) >= self.n_trials:
                break
            ups = self._candidate(i)[1]
            i += 1
            if ups.param_id in self._results or ups.param_id in self._asked:
                continue
            self._asked.add(ups.param_id)
            out.append(ups)
        return out

    def tell(self, results: list[TrialResult]) -> None:
        for result in results:
            result = result if isinstance(result, TrialResult) else TrialResult(**result)
            if result.param_id in self._results:
                continue  # idempotent: the first result of a param_id is the one used
            ok = result.status is TrialStatus.COMPLETED and result.loss is not None and math.isfinite(result.loss)
            self._results[result.param_id] = float(result.loss) if ok else math.inf
            self._asked.discard(result.param_id)
            self._n_told += 1
        self._advance()

    def finished(self) -> bool:
        if self._done:
            return True
        return self.n_trials is not None and self._n_told >= self.n_trials

    def budget(self) -> int | None:
        """The optional cap on evaluations (``n_trials``); None when the schedule alone decides."""
        return self.n_trials

    def close(self) -> None:
        self._lock.release()

    def __enter__(self) -> AbcSmcAlgorithm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- results --------------------------------------------------------------------------------------------------

    def n_told(self) -> int:
        return self._n_told

    def posterior(self) -> Population | None:
        """The last completed generation (the current posterior approximation), or None before the first."""
        return self.populations[-1] if self.populations else None

    def artifacts_revision(self) -> int:
        """Changes exactly when :meth:`artifacts` would (a generation completed): the runner writes on a change."""
        return len(self.populations)

    def artifacts(self) -> dict[str, dict[str, list[Any]]]:
        """Tables for the run record: ``posterior`` holds every completed generation's particles (one row each, with
        generation, epsilon, weight, distance, param_id and one column per parameter); the last generation is the
        posterior. Plain columns, so the runner writes them as Parquet without importing this package's types."""
        cols: dict[str, list[Any]] = {
            "generation": [],
            "epsilon": [],
            "weight": [],
            "distance": [],
            "param_id": [],
            "acceptance_rate": [],
        }
        for p in self._params:
            cols[p.name] = []
        for pop in self.populations:
            n = len(pop.param_ids)
            cols["generation"] += [pop.generation] * n
            cols["epsilon"] += [float(pop.epsilon)] * n
            cols["weight"] += [float(w) for w in pop.weights]
            cols["distance"] += [float(d) for d in pop.distances]
            cols["param_id"] += list(pop.param_ids)
            cols["acceptance_rate"] += [n / pop.n_proposed] * n
            for k, p in enumerate(self._params):
                cols[p.name] += [float(v) for v in pop.particles[:, k]]
        return {"posterior": cols}

    # --- internals ------------------------------------------------------------------------------------------------

    def _rng(self, generation: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, generation, index])

    def _to_internal(self, x: np.ndarray) -> np.ndarray:
        return np.where(self._logs, np.log(np.where(self._logs, x, 1.0)), x)

    def _to_natural(self, z: np.ndarray) -> np.ndarray:
        return np.where(self._logs, np.exp(np.where(self._logs, z, 0.0)), z)

    def _log_prior_internal(self, x: np.ndarray) -> np.ndarray:
        """log prior density of natural-unit rows x, expressed in internal coordinates (Jacobian x for log ones)."""
        x = np.atleast_2d(x)
        total = np.zeros(x.shape[0])
        for k, prior in enumerate(self._priors):
            total += prior.logpdf(x[:, k])
            if self._logs[k]:
                with np.errstate(divide="ignore"):
                    total += np.log(x[:, k])
        return total

    def _candidate(self, index: int) -> tuple[np.ndarray, UniqueParameterSet]:
        cached = self._candidates.get(index)
        if cached is not None:
            return cached
        g = self.generation
        rng = self._rng(g, index)
        if g == 0:
            u = rng.random(len(self._params))
            x = np.array([float(pr.from_unit(u[k])) for k, pr in enumerate(self._priors)])
        else:
            assert self._kernel is not None
            prev = self._kernel.previous
            for _ in range(MAX_PERTURB_TRIES):
                j = int(rng.choice(len(prev.weights), p=prev.weights))
                z = prev.internal[j] + self._kernel.chol @ rng.standard_normal(len(self._params))
                x = self._to_natural(z)
                if np.isfinite(self._log_prior_internal(x)[0]):
                    break
            else:
                # The kernel keeps stepping outside the prior's support (a population pressed against a bound):
                # resample the parent itself rather than loop for ever; its weight is still computed correctly.
                log.warning("abc-smc: generation %d candidate %d kept leaving the prior; reusing its parent", g, index)
                x = prev.particles[j].copy()
        params = {p.name: float(x[k]) for k, p in enumerate(self._params)}
        ups = parameter_set(self.space, params)
        x = np.array([ups.params[p.name] for p in self._params], dtype=float)  # exactly what is simulated
        self._candidates[index] = (x, ups)
        return x, ups

    def _advance(self) -> None:
        """Scan told candidates in index order; close generations whose population is complete."""
        while not self._done:
            _, ups = self._candidate(self._scan)
            distance = self._results.get(ups.param_id)
            if distance is None:
                return  # the prefix ends at the first candidate not told yet
            self._scan += 1
            if distance <= self._epsilon and math.isfinite(distance):
                self._accepted.append(self._scan - 1)
            if len(self._accepted) == self.population_size:
                self._close_generation()
            elif self._scan >= self._max_scan:
                self.stop_reason = (
                    f"generation {self.generation} accepted {len(self._accepted)} of {self._scan} candidates at "
                    f"epsilon {self._epsilon:.6g}, below min_acceptance_rate {self.min_acceptance_rate}; the posterior "
                    "is the previous generation"
                )
                log.warning("abc-smc: %s", self.stop_reason)
                self._done = True

    def _close_generation(self) -> None:
        g = self.generation
        rows = [self._candidates[i] for i in self._accepted]
        particles = np.array([x for x, _ in rows])
        internal = self._to_internal(particles)
        distances = np.array([self._results[u.param_id] for _, u in rows])
        if g == 0:
            weights = np.full(len(rows), 1.0 / len(rows))
        else:
            assert self._kernel is not None
            logw = self._log_prior_internal(particles) - self._kernel.log_density(internal)
            logw -= logw.max()
            weights = np.exp(logw)
            weights /= weights.sum()
        pop = Population(
            generation=g,
            particles=particles,
            internal=internal,
            weights=weights,
            distances=distances,
            param_ids=tuple(u.param_id for _, u in rows),
            epsilon=self._epsilon,
            n_proposed=self._scan,
        )
        self.populations.append(pop)
        log.info(
            "abc-smc: generation %d complete (epsilon %.6g, acceptance %.3f)", g, pop.epsilon, len(rows) / self._scan
        )
        reached = self.final_epsilon is not None and self._epsilon <= self.final_epsilon
        if len(self.populations) >= self.generations or reached:
            self._done = True
            return
        eps = _weighted_quantile(distances, weights, self.quantile)
        if self.final_epsilon is not None:
            eps = max(eps, float(self.final_epsilon))
        self._epsilon = eps
        self._kernel = _Kernel(pop, float(self.kernel_scale))
        self._candidates = {}
        self._scan = 0
        self._accepted = []


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][min(int(np.searchsorted(cum, q * cum[-1])), len(values) - 1)])


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AbcSmcError(f"{name} must be a positive integer, got {value!r}")
    return value


class _RunnerLock:
    """Exclusive ownership of one run's ABC-SMC state, released by the kernel or the database when the holder dies."""

    def __init__(self, release: Any = None):
        self._release = release

    @classmethod
    def acquire(cls, storage: Any, study_name: str) -> _RunnerLock:
        if storage is None or not isinstance(storage, str):
            return cls()
        busy = (
            f"another runner is already running ABC-SMC study {study_name!r} (abc-smc supports one runner per run: "
            "its populations are built from the results this process sees); stop it first, or use optuna for "
            "several runners"
        )
        path = local_file(storage)
        if path is not None:
            import fcntl

            lock_path = f"{path}.{hashlib.sha256(study_name.encode()).hexdigest()[:12]}.abc-smc.lock"
            os.makedirs(os.path.dirname(os.path.abspath(lock_path)), exist_ok=True)
            handle = open(lock_path, "a")  # noqa: SIM115 - held for the algorithm's lifetime
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise AbcSmcError(busy) from None
            return cls(handle.close)
        if storage.startswith("postgresql"):
            import sqlalchemy

            engine = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
            conn = engine.connect()
            key = int.from_bytes(hashlib.sha256(f"abc-smc:{study_name}".encode()).digest()[:8], "big", signed=True)
            got = conn.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            if not got:
                conn.close()
                engine.dispose()
                raise AbcSmcError(busy)

            def release() -> None:
                conn.close()  # ends the session, which releases its advisory locks
                engine.dispose()

            return cls(release)
        return cls()

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            try:
                release()
            except Exception:  # closing a dead connection must not mask the run's own outcome
                log.debug("abc-smc: releasing the runner lock failed", exc_info=True)
