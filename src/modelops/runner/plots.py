"""Plots of a run: loss by trial, parameters coloured by loss rank, parallel coordinates, a 2-D sweep heatmap, and the
best fit against the data.

Every function returns a :class:`matplotlib.figure.Figure` built directly, never through ``pyplot``: importing this
module changes no global state (no backend switch, no figure registered with pyplot), so it is safe in a notebook,
in a pod without a display and in a script that uses pyplot for its own figures. The figures show inline in Jupyter
(they render themselves as PNG) and :func:`plot_run` writes them as PNG files.

Conventions a modeller can rely on:
- a parameter searched on a log scale (``log: true``) is drawn on a log axis, its histograms on log-spaced bins;
- points are coloured by their loss *rank* (0 = best, 1 = worst), which separates good from bad whatever the loss's
  scale; the best trial is a red star;
- the histograms on a pair plot's diagonal show where the sampler looked (sampling density), not a posterior;
- posterior plots (ABC, draws in posterior.parquet) have their own section at the end of this module.

The fit plot needs the best trial's simulated replicates. They are not stored by default (outputs: summaries), so
they are simulated again here, in this process, with the trial's recorded seeds: simulations are deterministic in
their seed, and the run's cache usually serves them without simulating at all.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from modelops.runner.study import ResolvedStudy
from modelops.store.results import LOSS_PREFIX, PARAM_PREFIX, STUDY, RunStore

MAX_PAIR_PARAMS = 6
RANK_CMAP = "viridis"  # rank 0 (best) darkest, the worst a pale yellow: the eye goes to the best region
RANK_LABEL = "loss rank (0 = best, 1 = worst)"
# Most distinct values per axis for a sweep to count as a grid (a Sobol or Optuna cloud has one value per point).
MAX_GRID_STEPS = 200


class PlotError(RuntimeError):
    """A plot cannot be drawn (no completed trial, the model cannot be re-run...); the message says why."""


class RunFigure(Figure):
    """A Figure that renders itself as PNG in Jupyter without pyplot or a global backend."""

    def _repr_png_(self) -> bytes:
        return figure_png(self)


def new_figure(**kwargs: Any) -> Figure:
    return RunFigure(**kwargs)


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


@dataclass(frozen=True)
class PlotFiles:
    loss: str
    pairs: str | None
    fit: str | None
    fit_error: str | None = None
    parallel: str | None = None
    heatmap: str | None = None
    posterior: str | None = None


def _save(fig: Figure, store: RunStore | None, out_dir: str | None, name: str) -> str:
    data = figure_png(fig)
    if out_dir is not None:
        import fsspec

        fs, root = fsspec.core.url_to_fs(out_dir)
        fs.makedirs(root, exist_ok=True)
        path = f"{root.rstrip('/')}/{name}"
        fs.pipe_file(path, data)
        return path if "://" not in out_dir else f"{out_dir.rstrip('/')}/{name}"
    assert store is not None
    store.write_bytes(f"plots/{name}", data)
    return store.url_of("plots", name)


# -- helpers shared by the parameter plots --------------------------------------------------------------------------


def searched_parameters(study: ResolvedStudy) -> list[str]:
    """The searched parameters of a study, in the spec's order (fixed ones hold one value and are not plotted)."""
    return [n for n, d in study.space.items() if n != "fixed" and isinstance(d, dict)]


def log_scaled(study: ResolvedStudy) -> set[str]:
    """The parameters the study searched on a log scale (``log: true``)."""
    return {n for n, d in study.space.items() if n != "fixed" and isinstance(d, dict) and d.get("log")}


def loss_rank(loss: np.ndarray) -> np.ndarray:
    """Each loss's rank scaled to [0, 1] (0 = best); ties share the lower rank."""
    if loss.size <= 1:
        return np.zeros(loss.size)
    order = np.argsort(loss, kind="stable")
    ranks = np.empty(loss.size, dtype=float)
    ranks[order] = np.arange(loss.size, dtype=float)
    # ties: every member of a run of equal losses takes the first rank of the run
    sorted_loss = loss[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_loss)) + 1]
    run_start = np.repeat(first, np.diff(np.r_[first, loss.size]))
    ranks[order] = run_start.astype(float)
    return ranks / (loss.size - 1)


def _completed(trials: pl.DataFrame) -> pl.DataFrame:
    if "status" not in trials.columns:
        return trials
    return trials.filter((pl.col("status") == "completed") & pl.col("loss").is_not_null())


def _numeric_names(done: pl.DataFrame, names: list[str]) -> list[str]:
    return [n for n in names if PARAM_PREFIX + n in done.columns and done[PARAM_PREFIX + n].dtype.is_numeric()]


def _log_axis(axis: Any) -> None:
    """A log axis labelled at 1, 2 and 5 times each power of ten in plain numbers (matplotlib's default labels
    minor ticks as 3x10^-2, 4x10^-2... which overlap on a range of less than a decade)."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def _set_log(ax: Any, which: str) -> None:
    if which == "x":
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
    else:
        ax.set_yscale("log")
        _log_axis(ax.yaxis)


def _bins(values: np.ndarray, log: bool, n: int = 20) -> np.ndarray | int:
    finite = values[np.isfinite(values)]
    if log and finite.size and finite.min() > 0 and finite.max() > finite.min():
        return np.geomspace(finite.min(), finite.max(), n + 1)
    return n


# -- loss by trial ---------------------------------------------------------------------------------------------------


def plot_loss(trials: pl.DataFrame) -> Figure:
    """Every completed trial's loss by trial number, with the running best as a step line; failures marked."""
    fig = new_figure(figsize=(8, 4.5))
    ax = fig.subplots()
    done = _completed(trials).sort("trial")
    failed = trials.filter(pl.col("status") != "completed")
    if done.height:
        x = done["trial"].to_numpy()
        y = done["loss"].to_numpy()
        ax.scatter(x, y, s=14, alpha=0.6, label="trial loss")
        ax.step(x, np.minimum.accumulate(y), where="post", color="C3", linewidth=2, label="best so far")
        if y.min() > 0 and y.max() / y.min() > 100:
            ax.set_yscale("log")
    if failed.height:
        ymin = ax.get_ylim()[0] if done.height else 0
        ax.scatter(failed["trial"].to_numpy(), np.full(failed.height, ymin), marker="x", color="grey", label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss")
    ax.set_title(f"loss by trial ({done.height} completed, {failed.height} failed)")
    if done.height or failed.height:
        ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig


# -- parameters ------------------------------------------------------------------------------------------------------


def plot_pairs(trials: pl.DataFrame, searched: list[str], log_params: Collection[str] = ()) -> Figure | None:
    """A pair plot of the searched parameters, points coloured by loss rank, best starred; log axes where searched
    on a log scale. The diagonal shows the sampling density (where the sampler looked), not a posterior."""
    done = _completed(trials)
    names = _numeric_names(done, searched)[:MAX_PAIR_PARAMS]
    if not names or done.height == 0:
        return None
    loss = done["loss"].to_numpy()
    rank = loss_rank(loss)
    draw = np.argsort(-rank, kind="stable")  # worst first, so the best points are drawn on top
    best = int(np.argmin(loss))
    k = len(names)
    fig = new_figure(figsize=(2.6 * k + 1.6, 2.6 * k))
    axes = fig.subplots(k, k, squeeze=False)
    points = None
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i][j]
            x = done[PARAM_PREFIX + xj].cast(pl.Float64).to_numpy()
            if xj in log_params:
                _set_log(ax, "x")
            if i == j:
                ax.hist(x, bins=_bins(x, xj in log_params), color="0.55", alpha=0.8)
                ax.axvline(x[best], color="C3", linewidth=1.5)
                ax.set_yticks([])
                ax.set_title(f"{xj}: sampling density", fontsize="small")
            else:
                y = done[PARAM_PREFIX + yi].cast(pl.Float64).to_numpy()
                if yi in log_params:
                    _set_log(ax, "y")
                points = ax.scatter(x[draw], y[draw], c=rank[draw], cmap=RANK_CMAP, vmin=0, vmax=1, s=10)
                ax.scatter([x[best]], [y[best]], marker="*", s=160, color="C3", edgecolor="k", zorder=3)
            if i == k - 1:
                ax.set_xlabel(xj + (" (log)" if xj in log_params else ""))
            if j == 0 and i != j:
                ax.set_ylabel(yi + (" (log)" if yi in log_params else ""))
    if points is not None:
        fig.colorbar(points, ax=axes, label=RANK_LABEL, shrink=0.8)
    fig.suptitle(
        f"{done.height} completed trials by loss rank (star: best)\n"
        "diagonal: where the sampler looked (sampling density), not a posterior",
        fontsize="medium",
    )
    return fig


def plot_parallel(trials: pl.DataFrame, searched: list[str], log_params: Collection[str] = ()) -> Figure | None:
    """Parallel coordinates: one line per completed trial across the searched parameters (each axis spans its
    range, log-scaled where searched on a log scale), coloured by loss rank; the best trial in red."""
    done = _completed(trials)
    names = [n for n in searched if PARAM_PREFIX + n in done.columns]
    if not names or done.height == 0:
        return None
    columns: list[np.ndarray] = []
    ticks: list[tuple[list[float], list[str]]] = []
    for name in names:
        series = done[PARAM_PREFIX + name]
        if series.dtype.is_numeric():
            raw = series.cast(pl.Float64).to_numpy()
            values = np.log10(raw) if name in log_params and np.all(raw > 0) else raw
            lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
            span = hi - lo or 1.0
            columns.append((values - lo) / span)
            ticks.append(([0.0, 1.0], [f"{np.nanmin(raw):.3g}", f"{np.nanmax(raw):.3g}"]))
        else:  # choices: one position per category, in the order first seen
            labels = [str(v) for v in series.unique(maintain_order=True).to_list()]
            index = {v: k for k, v in enumerate(labels)}
            step = 1.0 / max(1, len(labels) - 1)
            columns.append(np.array([index[str(v)] * step for v in series.to_list()]))
            ticks.append(([k * step for k in range(len(labels))], labels))
    matrix = np.vstack(columns).T
    loss = done["loss"].to_numpy()
    rank = loss_rank(loss)
    best = int(np.argmin(loss))
    x = np.arange(len(names))
    fig = new_figure(figsize=(max(6.0, 1.8 * len(names) + 2), 4.5))
    ax = fig.subplots()
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap = colormaps[RANK_CMAP]
    fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=cmap), ax=ax, label=RANK_LABEL)
    for row in np.argsort(-rank, kind="stable"):  # worst first, the best on top
        ax.plot(x, matrix[row], color=cmap(rank[row]), alpha=0.45, linewidth=0.8)
    ax.plot(x, matrix[best], color="C3", linewidth=2.5, label=f"best (trial {done['trial'][best]})")
    for k, (positions, labels) in enumerate(ticks):
        ax.axvline(k, color="0.3", linewidth=0.8)
        for pos, label in zip(positions, labels, strict=True):
            ax.annotate(label, (k, pos), xytext=(3, 0), textcoords="offset points", fontsize="x-small", va="center")
    ax.set_xticks(x, [n + (" (log)" if n in log_params else "") for n in names])
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(names) - 0.6 if len(names) > 1 else 0.8)
    ax.set_title(f"parallel coordinates of {done.height} completed trials")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def grid_axes(trials: pl.DataFrame, x: str, y: str) -> bool:
    """True when the completed trials' (x, y) values lie on a grid (a grid sweep, not a cloud of samples)."""
    done = _completed(trials)
    if done.height == 0:
        return False
    nx, ny = done[PARAM_PREFIX + x].n_unique(), done[PARAM_PREFIX + y].n_unique()
    pairs = done.select(PARAM_PREFIX + x, PARAM_PREFIX + y).unique().height
    return nx <= MAX_GRID_STEPS and ny <= MAX_GRID_STEPS and nx > 1 and ny > 1 and pairs >= 0.5 * nx * ny


def plot_heatmap(trials: pl.DataFrame, x: str, y: str, log_params: Collection[str] = ()) -> Figure:
    """The loss over a 2-D sweep as a heatmap: each cell is the lowest loss at that (x, y) (over the other
    parameters, if any), on log axes where searched on a log scale; the best cell starred."""
    done = _completed(trials)
    for name in (x, y):
        if PARAM_PREFIX + name not in done.columns or not done[PARAM_PREFIX + name].dtype.is_numeric():
            raise PlotError(f"parameter {name!r} is not a numeric parameter of this run")
    if not grid_axes(trials, x, y):
        raise PlotError(
            f"the trials' ({x}, {y}) values are not on a grid (a heatmap needs a grid sweep: algorithm sweep with "
            "method: grid); use the parameter pair plot instead"
        )
    cells = done.group_by(PARAM_PREFIX + x, PARAM_PREFIX + y).agg(pl.col("loss").min())
    xs = np.sort(cells[PARAM_PREFIX + x].unique().cast(pl.Float64).to_numpy())
    ys = np.sort(cells[PARAM_PREFIX + y].unique().cast(pl.Float64).to_numpy())
    grid = np.full((ys.size, xs.size), np.nan)
    for xv, yv, loss in cells.iter_rows():
        grid[np.searchsorted(ys, float(yv)), np.searchsorted(xs, float(xv))] = loss
    fig = new_figure(figsize=(7, 5.5))
    ax = fig.subplots()
    norm = None
    finite = grid[np.isfinite(grid)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        from matplotlib.colors import LogNorm

        norm = LogNorm(vmin=finite.min(), vmax=finite.max())
    mesh = ax.pcolormesh(
        _edges(xs, x in log_params), _edges(ys, y in log_params), grid, cmap=RANK_CMAP, norm=norm, shading="flat"
    )
    fig.colorbar(mesh, ax=ax, label="loss (lowest at each cell)" + (", log scale" if norm is not None else ""))
    best = np.unravel_index(np.nanargmin(grid), grid.shape)
    ax.scatter([xs[best[1]]], [ys[best[0]]], marker="*", s=220, color="C3", edgecolor="k", zorder=3)
    if x in log_params:
        _set_log(ax, "x")
    if y in log_params:
        _set_log(ax, "y")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"loss over the {xs.size} x {ys.size} sweep (star: best)")
    return fig


def _edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around grid centres (midpoints, in log space for a log axis)."""
    values = np.log10(centres) if log and np.all(centres > 0) else centres
    if values.size == 1:
        edges = np.array([values[0] - 0.5, values[0] + 0.5])
    else:
        mid = (values[1:] + values[:-1]) / 2
        edges = np.r_[values[0] - (mid[0] - values[0]), mid, values[-1] + (values[-1] - mid[-1])]
    return 10**edges if log and np.all(centres > 0) else edges


# -- the best fit ----------------------------------------------------------------------------------------------------


def simulate_trial(
    study: ResolvedStudy, params: dict[str, Any], param_id: str, seeds: list[int], cache_url: str | None
) -> list[dict[str, pl.DataFrame]]:
    """Re-run one trial's replicates in this process (cache first); returns each replicate's output tables."""
    from modelops.services.ipc import from_ipc
    from modelops.services.tasks import SimulationGroup, run_group

    result = run_group(
        SimulationGroup(
            fn_ref=study.model_ref,
            params=params,
            param_id=param_id,
            seeds=tuple(int(s) for s in seeds),
            bundle_ref=study.bundle_ref,
            cache_url=cache_url,
            return_outputs=True,
            search_path=study.search_path,
        )
    )
    if not result.ok:
        raise PlotError(f"re-running the best trial failed:\n{result.error}")
    return [from_ipc(r.outputs or {}) for r in result.replicates]


def plot_fit(study: ResolvedStudy, replicates: list[dict[str, pl.DataFrame]], title: str) -> Figure:
    """Each target's observed data against the simulated replicates: every replicate, their mean, 5-95% band."""
    targets = study.evaluator_config["targets"]
    fig = new_figure(figsize=(8, 3.8 * len(targets)))
    axes = fig.subplots(len(targets), 1, squeeze=False)
    for ax, target in zip((a[0] for a in axes), targets, strict=True):
        observed = pl.DataFrame(target["observed"]["columns"])
        keys = target["keys"]
        x_col = target.get("asof") or keys[-1]
        values = target["values"]
        pairs = list(values.items()) if isinstance(values, dict) else [(v, v) for v in values]
        obs_col, sim_col = pairs[0]
        sims = []
        for rep in replicates:
            table = rep.get(target["output"])
            if table is None or sim_col not in table.columns or x_col not in table.columns:
                raise PlotError(f"target {target['name']!r}: output {target['output']!r} has no {sim_col!r}/{x_col!r}")
            sims.append(table.sort(x_col))
        x = sims[0][x_col].to_numpy()
        matrix = np.vstack([s[sim_col].cast(pl.Float64).to_numpy() for s in sims])
        for row in matrix:
            ax.plot(x, row, color="C0", alpha=0.25, linewidth=0.8)
        if len(sims) > 1:
            ax.fill_between(x, *np.percentile(matrix, [5, 95], axis=0), color="C0", alpha=0.2, label="5-95%")
        ax.plot(x, matrix.mean(axis=0), color="C0", linewidth=2, label=f"simulated mean ({len(sims)} replicates)")
        ax.scatter(observed[x_col].to_numpy(), observed[obs_col].to_numpy(), s=12, color="k", label="observed")
        ax.set_xlabel(x_col)
        ax.set_ylabel(obs_col)
        ax.set_title(f"{target['name']} ({target['loss']})")
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def best_trial(trials: pl.DataFrame) -> dict[str, Any]:
    done = _completed(trials)
    if done.height == 0:
        raise PlotError("the run has no completed trial yet; nothing to plot")
    return done.sort("loss").row(0, named=True)


def trial_seeds(replicates: pl.DataFrame, param_id: str) -> list[int]:
    """The recorded replicate seeds of one trial, in replicate order."""
    return replicates.filter(pl.col("param_id") == param_id).sort("replicate")["seed"].to_list()


def run_cache_url(store: RunStore) -> str | None:
    """The run's simulation cache, if it has one this process can read."""
    return store.url_of("cache") if store.is_local and store.fs.exists(store.path("cache")) else None


def fit_figure(store: RunStore, study: ResolvedStudy, trials: pl.DataFrame, replicates: pl.DataFrame) -> Figure:
    """The best trial's fit (re-simulated in this process from its recorded seeds, the run's cache first)."""
    best = best_trial(trials)
    seeds = trial_seeds(replicates, best["param_id"])
    outputs = simulate_trial(study, json.loads(best["params_json"]), best["param_id"], seeds, run_cache_url(store))
    target_losses = ", ".join(
        f"{c.removeprefix(LOSS_PREFIX)} {best[c]:.4g}"
        for c in trials.columns
        if c.startswith(LOSS_PREFIX) and best[c] is not None and math.isfinite(best[c])
    )
    return plot_fit(study, outputs, f"best trial {best['trial']}: loss {best['loss']:.6g} ({target_losses})")


def plot_run(store: RunStore, out_dir: str | None = None) -> PlotFiles:
    """Write the run's PNGs (to ``out_dir``, default <run>/plots/) and return where they are."""
    trials, replicates = store.load()
    if trials.height == 0:
        raise PlotError(f"run {store.run_id!r} has no trials yet; nothing to plot")
    study = ResolvedStudy.from_json(store.read_json(STUDY))
    loss_path = _save(plot_loss(trials), store, out_dir, "loss_by_trial.png")
    searched = searched_parameters(study)
    logs = log_scaled(study)
    pairs_fig = plot_pairs(trials, searched, logs)
    pairs_path = _save(pairs_fig, store, out_dir, "parameters.png") if pairs_fig is not None else None
    parallel_path: str | None = None
    if len(searched) > 2:  # with one or two parameters the pair plot already shows everything
        parallel_fig = plot_parallel(trials, searched, logs)
        parallel_path = _save(parallel_fig, store, out_dir, "parallel.png") if parallel_fig is not None else None
    heatmap_path: str | None = None
    numeric = _numeric_names(_completed(trials), searched)
    if len(numeric) == 2 and grid_axes(trials, *numeric):
        heatmap = plot_heatmap(trials, numeric[0], numeric[1], log_params=logs)
        heatmap_path = _save(heatmap, store, out_dir, "heatmap.png")
    fit_path: str | None = None
    fit_error: str | None = None
    posterior_path: str | None = None
    from modelops.runner.posterior import load_posterior

    posterior = load_posterior(store)
    posterior_fig = plot_posterior(posterior) if posterior is not None else None
    if posterior_fig is not None:
        posterior_path = _save(posterior_fig, store, out_dir, "posterior.png")
    try:
        fit_path = _save(fit_figure(store, study, trials, replicates), store, out_dir, "best_fit.png")
    except (PlotError, ImportError, ValueError) as exc:
        fit_error = str(exc)
    return PlotFiles(
        loss=loss_path,
        pairs=pairs_path,
        fit=fit_path,
        fit_error=fit_error,
        parallel=parallel_path,
        heatmap=heatmap_path,
        posterior=posterior_path,
    )


# -- posterior -------------------------------------------------------------------------------------------------------
# Posterior plots (draws from posterior.parquet, e.g. ABC-SMC) belong here, next to the sampling-density plots they
# must not be confused with; they take the posterior frame and return a Figure like the functions above.


def plot_posterior(posterior: pl.DataFrame, truth: dict[str, float] | None = None) -> Figure | None:
    """The last generation's weighted marginals (diagonal, with the 90% credible interval) and pairwise particle
    clouds (size by weight); earlier generations' marginals as faint outlines show epsilon shrinking."""
    from modelops.runner.posterior import CREDIBLE, POSTERIOR_META, weighted_quantiles

    names = [c for c in posterior.columns if c not in POSTERIOR_META][:MAX_PAIR_PARAMS]
    if not names or posterior.height == 0:
        return None
    last_gen = int(cast("int", posterior["generation"].max()))  # an integer column
    last = posterior.filter(pl.col("generation") == last_gen)
    w = last["weight"].to_numpy().astype(float)
    w = w / w.sum()
    k = len(names)
    fig = new_figure(figsize=(2.8 * k + 1, 2.8 * k))
    axes = fig.subplots(k, k, squeeze=False)
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i][j]
            x = last[xj].to_numpy().astype(float)
            if i == j:
                for g in range(max(0, last_gen - 3), last_gen):
                    earlier = posterior.filter(pl.col("generation") == g)
                    ax.hist(
                        earlier[xj].to_numpy(), weights=earlier["weight"].to_numpy(), bins=30, density=True,
                        histtype="step", color="grey", alpha=0.3 + 0.15 * (g - last_gen + 3),
                    )  # fmt: skip
                ax.hist(x, weights=w, bins=30, density=True, color="C0", alpha=0.75)
                lo, med, hi = weighted_quantiles(x, w, [(1 - CREDIBLE) / 2, 0.5, 1 - (1 - CREDIBLE) / 2])
                ax.axvspan(lo, hi, color="C0", alpha=0.12)
                ax.axvline(med, color="C0", linewidth=1.5)
                if truth and xj in truth:
                    ax.axvline(truth[xj], color="C3", linestyle="--", linewidth=1.5)
                ax.set_title(f"{xj}: {med:.3g} [{lo:.3g}, {hi:.3g}]", fontsize=9)
            else:
                y = last[yi].to_numpy().astype(float)
                ax.scatter(x, y, s=4 + 400 * w, alpha=0.5, color="C0")
                if truth and xj in truth and yi in truth:
                    ax.scatter([truth[xj]], [truth[yi]], marker="*", s=160, color="C3", edgecolor="k")
            if i == k - 1:
                ax.set_xlabel(xj)
            if j == 0:
                ax.set_ylabel(yi)
    eps = float(last["epsilon"][0])
    fig.suptitle(
        f"ABC-SMC posterior: generation {last_gen}, {last.height} particles, epsilon {eps:.4g} "
        f"(shaded: {round(CREDIBLE * 100)}% credible interval)"
    )
    return fig


__all__ = [
    "PlotError",
    "PlotFiles",
    "RunFigure",
    "plot_fit",
    "plot_heatmap",
    "plot_loss",
    "plot_pairs",
    "plot_parallel",
    "plot_posterior",
    "plot_run",
]
