"""Targets: how a model's outputs are scored against observed data, and the set of targets a study calibrates to.

A target names a model output, its observed data, how to align them (exact keys and/or an as-of time column), the
value columns, a loss and a weight, and how replicates combine:

- ``mean_signal``: average the simulated values across replicates, then compute the loss once (the default);
- ``mean_loss``: compute the loss of each replicate, then average;
- ``mean_likelihood`` (likelihood losses only): ``-log(mean_r exp(loglik_r))``, computed with log-sum-exp.

:class:`TargetSet` is what a ModelOps worker runs: ``TargetSet.from_config(config)`` (validated eagerly, so a study
spec can be checked before anything runs) then ``evaluate(replicates)``. Problems raise :class:`TargetError`, a
ValueError naming the target, which the worker reports as a FAILED trial with that reason: never a silent 0.

``on_impossible`` (per target) decides what data that are *impossible* under the simulation cost (a likelihood of 0:
a Poisson rate of 0 where cases were observed, an epidemic that died out). ``penalty`` (the default) scores the
target :data:`IMPOSSIBLE_PENALTY` (1e8) plus the loss recomputed with the simulated rates floored at 1e-6
(probabilities clipped 1e-9 inside (0, 1); see ``losses.RESCUE_RATE``): a finite loss worse than any possible fit,
still graded (fewer and smaller impossibilities score better), so the trial completes and every sampler learns from
it. ``fail`` records the trial FAILED with the reason (the behaviour before this option). With ``combine:
mean_likelihood`` an impossible replicate contributes likelihood 0 to the mean, exactly; only when every replicate is
impossible does the penalty apply.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl

from modelops_contracts import TargetEvaluation

from .alignment import Alignment, AlignmentError, align, check_columns
from .losses import ImpossibleError, Loss, LossError, LossInputs, check_options, get_loss, neg_log_mean_exp

COMBINES = ("mean_signal", "mean_loss", "mean_likelihood")
ON_IMPOSSIBLE = ("penalty", "fail")
# Added to the (rescued) loss of a target whose observed data are impossible under the simulation (on_impossible:
# penalty). Large enough to rank below any possible fit (a Poisson nll of 1e8 needs ~1e7 badly missed counts), finite
# so the trial is COMPLETED and every sampler can learn from it.
IMPOSSIBLE_PENALTY = 1e8
_TARGET_KEYS = {
    "name",
    "output",
    "observed",
    "keys",
    "asof",
    "values",
    "loss",
    "loss_options",
    "weight",
    "combine",
    "on_impossible",
}


class TargetError(ValueError):
    """A target is misconfigured or cannot be evaluated; the message starts with the target's name."""

    def __init__(self, target: str, message: str):
        self.target = target
        super().__init__(f"target {target!r}: {message}")


def load_observed(observed: Any, base_dir: str | Path | None = None) -> pl.DataFrame:
    """Observed data from a polars DataFrame, a CSV/Parquet path (relative to ``base_dir``), or inline
    ``{"columns": {...}}``."""
    if isinstance(observed, pl.DataFrame):
        return observed
    if isinstance(observed, Mapping):
        if set(observed) != {"columns"} or not isinstance(observed["columns"], Mapping):
            raise ValueError('inline observed data must be {"columns": {name: [values...]}}')
        try:
            return pl.DataFrame(dict(observed["columns"]))
        except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
            raise ValueError(f"inline observed data is not a table: {exc}") from None
    if isinstance(observed, str | Path):
        path = Path(observed)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise ValueError(f"observed data file {str(path)!r} does not exist")
        suffix = path.suffix.lower()
        try:
            if suffix == ".csv":
                return pl.read_csv(path)
            if suffix in (".parquet", ".pq"):
                return pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ValueError(f"cannot read observed data {str(path)!r}: {exc}") from None
        raise ValueError(f"observed data file {str(path)!r} must end in .csv or .parquet")
    raise ValueError(
        f"observed must be a path, a polars DataFrame or {{'columns': ...}}, got {type(observed).__name__}"
    )


_REPLICATE = "__calabaria_replicate__"
_POSITION = "__calabaria_position__"


def _floats(series: pl.Series) -> np.ndarray:
    """A column as float64 with nulls as NaN (caught as 'missing' by the loss checks)."""
    if series.dtype.is_numeric() and not series.null_count():
        # The common case, without polars' cast/fill_null queries (about 0.1 ms per column, per replicate).
        return series.to_numpy().astype(np.float64, copy=False)
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy()


@dataclass(frozen=True, eq=False)  # holds a Series and an array: identity, not element-wise ==
class _Grid:
    """Where each observed row's counterpart sits in a simulated table whose join columns equal ``columns``.

    Alignment depends on the join columns (keys, as-of time) alone, and a model's replicates, and its parameter sets,
    nearly always share them (the same days, the same groups): a table whose join columns equal these reuses
    ``rows`` instead of joining again. Equality is polars' own (dtypes and nulls included), so a reused grid is
    exactly what the join would have found.
    """

    columns: tuple[pl.Series, ...]
    rows: np.ndarray

    def fits(self, sim: pl.DataFrame) -> bool:
        names = sim.columns
        return all(
            c.name in names and sim.get_column(c.name).equals(c, check_dtypes=True, null_equal=True)
            for c in self.columns
        )


def _as_frame(value: Any) -> pl.DataFrame:
    """A replicate's output as a polars DataFrame (also accepts pyarrow tables and Arrow IPC stream bytes)."""
    if isinstance(value, pl.DataFrame):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return pl.read_ipc_stream(io.BytesIO(bytes(value)))
    try:
        import pyarrow as pa

        if isinstance(value, pa.Table | pa.RecordBatch):
            return pl.DataFrame(pl.from_arrow(value))
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    raise TypeError(f"expected a polars DataFrame, got {type(value).__name__}")


@dataclass(frozen=True)
class Target:
    """One observed series and how simulated output is scored against it. Build with :meth:`from_config`."""

    name: str
    output: str
    observed: pl.DataFrame
    alignment: Alignment
    loss: Loss
    loss_options: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    combine: str = "mean_signal"
    on_impossible: str = "penalty"
    # The last alignment grid (see _Grid); one per target and process, replaced whenever a table does not fit it.
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], base_dir: str | Path | None = None) -> Target:
        if not isinstance(cfg, Mapping):
            raise ValueError(f"each target must be a mapping, got {type(cfg).__name__}")
        name = cfg.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"every target needs a non-empty 'name' (got {name!r})")
        fail = lambda msg: TargetError(name, msg)  # noqa: E731
        unknown = sorted(set(cfg) - _TARGET_KEYS)
        if unknown:
            raise fail(f"unknown keys {unknown}; allowed are {sorted(_TARGET_KEYS)}")
        output = cfg.get("output", name)
        if not isinstance(output, str) or not output:
            raise fail(f"'output' must name a model output, got {output!r}")
        if "observed" not in cfg:
            raise fail("missing 'observed' (a CSV/Parquet path or {'columns': {...}})")
        try:
            observed = load_observed(cfg["observed"], base_dir)
        except ValueError as exc:
            raise fail(str(exc)) from None
        keys = cfg.get("keys") or []
        if isinstance(keys, str):
            keys = [keys]
        asof = cfg.get("asof")
        if not all(isinstance(k, str) for k in keys) or (asof is not None and not isinstance(asof, str)):
            raise fail("'keys' must be a list of column names and 'asof' a column name or null")
        if asof in keys:
            # The as-of column is matched by time, the keys exactly; listing it in both is a common slip.
            keys = [k for k in keys if k != asof]
        if not keys and asof is None:
            raise fail("give 'keys' (columns to join on) and/or 'asof' (a time column for an as-of join)")
        values = cfg.get("values")
        if isinstance(values, str):
            values = [values]
        if isinstance(values, Sequence) and not isinstance(values, str):
            values = {v: v for v in values}
        if (
            not isinstance(values, Mapping)
            or not values
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
        ):
            raise fail("'values' must be a non-empty list of columns or a mapping observed column -> output column")
        try:
            loss = get_loss(cfg.get("loss", ""))
            options = dict(cfg.get("loss_options") or {})
            check_options(loss, options)
        except LossError as exc:
            raise fail(str(exc)) from None
        weight = cfg.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise fail(f"'weight' must be a finite number >= 0, got {weight!r}")
        combine = cfg.get("combine", "mean_signal")
        if combine not in COMBINES:
            raise fail(f"'combine' must be one of {list(COMBINES)}, got {combine!r}")
        if combine == "mean_likelihood" and not loss.is_likelihood:
            raise fail(f"combine 'mean_likelihood' needs a likelihood loss, and {loss.name!r} is not one")
        on_impossible = cfg.get("on_impossible", "penalty")
        if on_impossible not in ON_IMPOSSIBLE:
            raise fail(f"'on_impossible' must be one of {list(ON_IMPOSSIBLE)}, got {on_impossible!r}")
        extra_cols = [options[c] for c in ("n_column", "sigma_column") if c in options]
        join_cols = [*keys, *([asof] if asof else [])]
        try:
            check_columns(observed, [*join_cols, *values, *extra_cols], "the observed data")
        except AlignmentError as exc:
            raise fail(str(exc)) from None
        if observed.height == 0:
            raise fail("the observed data has no rows")
        _check_unique_keys(observed, join_cols, fail)
        for col in [*values, *extra_cols]:
            series = observed[col]
            if not series.dtype.is_numeric():
                raise fail(f"observed column {col!r} must be numeric, it is {series.dtype}")
            if series.null_count() or not np.all(np.isfinite(series.cast(pl.Float64).to_numpy())):
                raise fail(f"observed column {col!r} has missing, NaN or infinite values")
        return cls(
            name=name,
            output=output,
            observed=observed,
            alignment=Alignment(tuple(keys), asof, MappingProxyType(dict(values))),
            loss=loss,
            loss_options=MappingProxyType(options),
            weight=float(weight),
            combine=combine,
            on_impossible=on_impossible,
        )

    # --- evaluation ---------------------------------------------------------------------------------------------

    def _frame(self, outputs: Mapping[str, Any], replicate: int) -> pl.DataFrame:
        if self.output not in outputs:
            raise TargetError(
                self.name, f"replicate {replicate} has no output {self.output!r}; its outputs are {sorted(outputs)}"
            )
        try:
            return _as_frame(outputs[self.output])
        except TypeError as exc:
            raise TargetError(self.name, f"output {self.output!r} of replicate {replicate}: {exc}") from None

    @property
    def _join_columns(self) -> list[str]:
        return [*self.alignment.keys, *([self.alignment.asof] if self.alignment.asof else [])]

    def _grid(self, sim: pl.DataFrame, replicate: int) -> _Grid:
        """Align ``sim``'s row positions (not its values) with the observed rows: the reusable part of a join."""
        how = Alignment(self.alignment.keys, self.alignment.asof, {_POSITION: _POSITION})
        try:
            aligned = align(self.observed, sim.with_row_index(_POSITION), how)
        except AlignmentError as exc:
            raise TargetError(self.name, f"output {self.output!r} of replicate {replicate}: {exc}") from None
        rows = aligned.get_column(f"sim:{_POSITION}").to_numpy()
        return _Grid(tuple(sim.get_column(c) for c in self._join_columns), rows)

    def _gather(self, grid: _Grid, sim: pl.DataFrame, replicate: int) -> LossInputs:
        """The loss's inputs for ``sim``: its value columns at the grid's rows (value columns in order)."""
        columns = self.alignment.values
        try:
            sim_arr = np.concatenate([_floats(sim.get_column(columns[c]))[grid.rows] for c in columns])
        except pl.exceptions.ColumnNotFoundError:
            try:
                check_columns(sim, list(columns.values()), "the simulated output")
            except AlignmentError as exc:
                raise TargetError(self.name, f"output {self.output!r} of replicate {replicate}: {exc}") from None
            raise
        return self._loss_inputs(sim_arr, replicate, self._sim_extras(sim, grid.rows, replicate))

    def _sim_extras(self, sim: pl.DataFrame, rows: np.ndarray, replicate: int) -> dict[str, np.ndarray]:
        """Per-point loss extras read from the simulated output (a fitted negative-binomial dispersion)."""
        col = self.loss_options.get("dispersion_column")
        if col is None:
            return {}
        if col not in sim.columns:
            raise TargetError(
                self.name,
                f"output {self.output!r} of replicate {replicate} has no column {col!r} (loss_options "
                f"dispersion_column); its columns are {sim.columns}",
            )
        return {"dispersion": np.tile(_floats(sim.get_column(col))[rows], len(self.alignment.values))}

    def _inputs(self, outputs: Mapping[str, Any], replicate: int) -> LossInputs:
        """One replicate aligned on its own (the reference the faster paths must agree with)."""
        sim = self._frame(outputs, replicate)
        return self._gather(self._grid(sim, replicate), sim, replicate)

    def _inputs_all(self, replicates: Sequence[Mapping[str, Any]]) -> list[LossInputs]:
        """Every replicate's loss inputs, aligning as little as possible.

        Evaluation runs on the workers next to each simulation, so its cost is simulation time lost. A replicate
        whose join columns equal the last grid's reuses it (the common case: no join at all); otherwise the first
        such replicate makes the new grid, and any still left over are aligned in one batched join.
        """
        frames = [self._frame(outputs, i) for i, outputs in enumerate(replicates)]
        inputs: dict[int, LossInputs] = {}
        grid: _Grid | None = self._memo.get("grid")
        misses = list(range(len(frames)))
        for attempt in range(2):
            if grid is not None:
                for i in [i for i in misses if grid.fits(frames[i])]:
                    inputs[i] = self._gather(grid, frames[i], i)
                misses = [i for i in misses if i not in inputs]
            if not misses or attempt == 1:
                break
            grid = self._grid(frames[misses[0]], misses[0])
            self._memo["grid"] = grid
        if misses:
            batched = self._inputs_batched([frames[i] for i in misses], misses)
            inputs.update(zip(misses, batched or [self._inputs(replicates[i], i) for i in misses], strict=True))
        return [inputs[i] for i in range(len(frames))]

    def _inputs_batched(self, frames: Sequence[pl.DataFrame], replicates: Sequence[int]) -> list[LossInputs] | None:
        """Replicates with different join columns aligned in one join, stacked under a replicate column: one polars
        query instead of one per replicate. None when the batch cannot be formed or aligned: the per-replicate path
        then runs and reports the precise problem with its replicate number."""
        n = len(frames)
        if n < 2 or "dispersion_column" in self.loss_options:
            return None
        try:
            stacked = pl.concat(
                [frame.with_columns(pl.lit(i, dtype=pl.Int64).alias(_REPLICATE)) for i, frame in enumerate(frames)],
                how="vertical",
            )
            observed = pl.concat(
                [self.observed.with_columns(pl.lit(i, dtype=pl.Int64).alias(_REPLICATE)) for i in range(n)]
            )
            how = Alignment((*self.alignment.keys, _REPLICATE), self.alignment.asof, self.alignment.values)
            aligned = align(observed, stacked, how)
        except (KeyError, TypeError, AlignmentError, pl.exceptions.PolarsError):
            return None
        # align() keeps the observed rows' order, so row r * height + j is observed row j of replicate r.
        blocks = [_floats(aligned[f"sim:{c}"]).reshape(n, self.observed.height) for c in self.alignment.values]
        return [self._loss_inputs(np.concatenate([b[r] for b in blocks]), replicates[r]) for r in range(n)]

    @cached_property
    def _observed_arrays(self) -> tuple[np.ndarray, Mapping[str, np.ndarray]]:
        """The observed values (value columns concatenated in order) and the loss's extras (n, sigma): the same for
        every replicate of every parameter set, so computed once per target."""
        cols = list(self.alignment.values)

        def column(col: str) -> np.ndarray:
            return _floats(self.observed[col])

        obs_arr = np.concatenate([column(c) for c in cols])
        extras: dict[str, np.ndarray] = {}
        opts = self.loss_options
        if "n_column" in opts:
            extras["n"] = np.tile(column(opts["n_column"]), len(cols))
        elif "n" in opts:
            extras["n"] = np.full(obs_arr.shape, float(opts["n"]))
        if "sigma_column" in opts:
            extras["sigma"] = np.tile(column(opts["sigma_column"]), len(cols))
        elif "sigma" in opts:
            extras["sigma"] = np.full(obs_arr.shape, float(opts["sigma"]))
        if "dispersion" in opts:
            extras["dispersion"] = np.full(obs_arr.shape, float(opts["dispersion"]))
        for array in (obs_arr, *extras.values()):
            array.setflags(write=False)  # shared by every LossInputs: no loss may modify them in place
        return obs_arr, MappingProxyType(extras)

    def _loss_inputs(
        self, sim_arr: np.ndarray, replicate: int, sim_extras: Mapping[str, np.ndarray] | None = None
    ) -> LossInputs:
        """The loss's inputs for one replicate's aligned simulated values (value columns concatenated in order)."""
        bad = ~np.isfinite(sim_arr)
        if bad.any():
            raise TargetError(
                self.name,
                f"output {self.output!r} of replicate {replicate} has {int(bad.sum())} missing, NaN or infinite "
                "value(s) at observed points",
            )
        obs_arr, extras = self._observed_arrays
        return LossInputs(sim_arr, obs_arr, {**extras, **(sim_extras or {})})

    def evaluate(self, replicates: Sequence[Mapping[str, Any]]) -> TargetScore:
        """Score all replicates of one parameter set against this target."""
        if not replicates:
            raise TargetError(self.name, "no replicates to evaluate")
        inputs = self._inputs_all(replicates)
        impossible: list[str] = []
        penalise = self.on_impossible == "penalty"

        def scored(x: LossInputs) -> float:
            try:
                return self.loss(x, self.loss_options)
            except ImpossibleError as exc:
                if not penalise:
                    raise
                impossible.append(str(exc))
                return IMPOSSIBLE_PENALTY + self._rescued(x, lambda y, o: self.loss(y, o))

        try:
            if self.combine == "mean_signal":
                mean_sim = np.mean(np.stack([x.sim for x in inputs]), axis=0)
                first = inputs[0]
                loss = scored(LossInputs(mean_sim, first.obs, first.extras))
                per_rep: tuple[float, ...] = ()
            elif self.combine == "mean_loss":
                per_rep = tuple(scored(x) for x in inputs)
                loss = float(np.mean(per_rep))
            else:
                logliks = np.array([self._loglik(x, impossible) for x in inputs])
                # An impossible replicate has likelihood 0 and counts as such in the mean; all of them: the penalty.
                if np.all(np.isneginf(logliks)):
                    rescued = np.array([-self._rescued(x, self.loss.log_likelihood) for x in inputs])
                    per_rep = tuple(float(IMPOSSIBLE_PENALTY + v) for v in rescued)
                    loss = IMPOSSIBLE_PENALTY + neg_log_mean_exp(-rescued)
                else:
                    per_rep = tuple(float(-v) if np.isfinite(v) else IMPOSSIBLE_PENALTY for v in logliks)
                    loss = neg_log_mean_exp(logliks)
        except LossError as exc:
            raise TargetError(self.name, str(exc)) from None
        if not math.isfinite(loss):
            raise TargetError(self.name, f"the loss is {loss!r}")
        sims = np.stack([x.sim for x in inputs])
        summary: dict[str, Any] = {
            "points": int(inputs[0].obs.size),
            "obs_mean": float(np.mean(inputs[0].obs)),
            "sim_mean": float(np.mean(sims)),
        }
        if impossible:
            summary["impossible"] = {"count": len(impossible), "first": impossible[0]}
        return TargetScore(loss, per_rep, summary)

    def _rescued(self, x: LossInputs, score: Any) -> float:
        """``score`` of inputs made possible (rates floored, probabilities clipped), 0 when the loss cannot be."""
        if self.loss.rescue is None:
            return 0.0
        y, opts = self.loss.rescue(x, self.loss_options)
        try:
            value = float(score(y, opts))
        except LossError:
            return 0.0
        return value if math.isfinite(value) else 0.0

    def _loglik(self, x: LossInputs, impossible: list[str]) -> float:
        try:
            return self.loss.log_likelihood(x, self.loss_options)
        except ImpossibleError as exc:
            if self.on_impossible != "penalty":
                raise
            impossible.append(str(exc))
            return -math.inf


def _check_unique_keys(observed: pl.DataFrame, join_cols: Sequence[str], fail: Any) -> None:
    """Each observed key must appear once: a duplicate would be scored twice against one simulated value."""
    if not join_cols:
        return
    dupes = observed.select(join_cols).is_duplicated()
    if not dupes.any():
        return
    rows = [int(i) for i in np.flatnonzero(dupes.to_numpy())]
    example = observed.row(rows[0], named=True)
    key = {c: example[c] for c in join_cols}
    same = [r for r in rows if observed.row(r, named=True)[join_cols[0]] == key[join_cols[0]]]
    same = [r for r in same if {c: observed.row(r, named=True)[c] for c in join_cols} == key][:5]
    raise fail(
        f"the observed data have {len(rows)} rows with a repeated key {list(join_cols)}; e.g. key {key} at rows "
        f"{same} (counted from 0; lines {[r + 2 for r in same]} of a CSV with a header); aggregate or drop "
        "duplicates so each key appears once"
    )


@dataclass(frozen=True)
class TargetScore:
    """One target's loss, its per-replicate losses (empty for ``mean_signal``) and a small summary."""

    loss: float
    replicate_losses: tuple[float, ...]
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class TargetSet:
    """Several targets; the loss of a parameter set is the weighted sum of the targets' losses."""

    targets: tuple[Target, ...]

    def __post_init__(self) -> None:
        targets = tuple(self.targets)
        if not targets:
            raise ValueError("a target set needs at least one target")
        names = [t.name for t in targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"target names must be unique; {dupes} appear more than once")
        object.__setattr__(self, "targets", targets)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TargetSet:
        """Build and validate a target set from its JSON-able config (``{"targets": [...], "base_dir": ...}``).

        Everything checkable without running a model is checked here: loss names and options, columns of the observed
        data, weights, combination rules. Raises ValueError (TargetError for a named target) on the first problem.
        """
        if not isinstance(config, Mapping):
            raise ValueError(f"the targets config must be a mapping, got {type(config).__name__}")
        unknown = sorted(set(config) - {"targets", "base_dir"})
        if unknown:
            raise ValueError(f"unknown keys {unknown} in the targets config; allowed are 'targets' and 'base_dir'")
        targets = config.get("targets")
        if not isinstance(targets, Sequence) or isinstance(targets, str) or not targets:
            raise ValueError("the targets config needs 'targets': a non-empty list of targets")
        base_dir = config.get("base_dir")
        return cls(tuple(Target.from_config(t, base_dir) for t in targets))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    def evaluate(self, replicates: Sequence[Mapping[str, Any]]) -> TargetEvaluation:
        """Score one parameter set's replicates (``replicates[i]``: output name -> table) against every target."""
        replicates = list(replicates)
        scores = {t.name: t.evaluate(replicates) for t in self.targets}
        total = sum(t.weight * scores[t.name].loss for t in self.targets)
        per_rep_targets = [t.name for t in self.targets if scores[t.name].replicate_losses]
        replicate_losses = (
            [{name: scores[name].replicate_losses[i] for name in per_rep_targets} for i in range(len(replicates))]
            if per_rep_targets
            else []
        )
        return TargetEvaluation(
            loss=total,
            target_losses={name: s.loss for name, s in scores.items()},
            replicate_losses=replicate_losses,
            summaries={name: dict(s.summary) for name, s in scores.items()},
        )
