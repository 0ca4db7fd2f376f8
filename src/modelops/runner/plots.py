"""Plots of a run: loss by trial with the running best, a parameter pair plot, and the best fit against the data.

The fit plot needs the best trial's simulated replicates. They are not stored by default (outputs: summaries), so
they are simulated again here, in this process, with the trial's recorded seeds: simulations are deterministic in
their seed, and the run's cache usually serves them without simulating at all.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, safe in pods and CI

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from modelops.runner.study import ResolvedStudy
from modelops.store.results import LOSS_PREFIX, PARAM_PREFIX, STUDY, RunStore

MAX_PAIR_PARAMS = 6


class PlotError(RuntimeError):
    """A plot cannot be drawn (no completed trial, the model cannot be re-run...); the message says why."""


@dataclass(frozen=True)
class PlotFiles:
    loss: str
    pairs: str | None
    fit: str | None
    fit_error: str | None = None
    posterior: str | None = None


def _save(fig: Any, store: RunStore | None, out_dir: str | None, name: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    if out_dir is not None:
        import fsspec

        fs, root = fsspec.core.url_to_fs(out_dir)
        fs.makedirs(root, exist_ok=True)
        path = f"{root.rstrip('/')}/{name}"
        fs.pipe_file(path, buffer.getvalue())
        return path if "://" not in out_dir else f"{out_dir.rstrip('/')}/{name}"
    assert store is not None
    store.write_bytes(f"plots/{name}", buffer.getvalue())
    return store.url_of("plots", name)


def plot_loss(trials: pl.DataFrame) -> Any:
    """Every completed trial's loss by trial number, with the running best as a step line; failures marked."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    done = trials.filter(pl.col("status") == "completed").sort("trial")
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
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def plot_pairs(trials: pl.DataFrame, searched: list[str]) -> Any | None:
    """A pair plot of the searched parameters, each point coloured by its loss (best = darkest), best marked."""
    done = trials.filter(pl.col("status") == "completed")
    names = [n for n in searched if PARAM_PREFIX + n in done.columns][:MAX_PAIR_PARAMS]
    names = [n for n in names if done[PARAM_PREFIX + n].dtype.is_numeric()]
    if not names or done.height == 0:
        return None
    loss = done["loss"].to_numpy()
    colour = np.log10(loss - loss.min() + 1.0)  # rank-like contrast whatever the loss's scale
    best = int(np.argmin(loss))
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(2.6 * k + 1, 2.6 * k), squeeze=False)
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i][j]
            x = done[PARAM_PREFIX + xj].to_numpy()
            if i == j:
                ax.hist(x, bins=20, color="C0", alpha=0.7)
            else:
                y = done[PARAM_PREFIX + yi].to_numpy()
                points = ax.scatter(x, y, c=colour, cmap="viridis_r", s=10)
                ax.scatter([x[best]], [y[best]], marker="*", s=160, color="C3", edgecolor="k")
            if i == k - 1:
                ax.set_xlabel(xj)
            if j == 0:
                ax.set_ylabel(yi)
    if k > 1:
        fig.colorbar(points, ax=axes, label="log10(loss - best + 1)", shrink=0.8)
    fig.suptitle("parameters coloured by loss (star: best)")
    return fig


def simulate_trial(
    study: ResolvedStudy, params: dict[str, Any], param_id: str, seeds: list[int], cache_url: str | None
):
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


def plot_fit(study: ResolvedStudy, replicates: list[dict[str, pl.DataFrame]], title: str) -> Any:
    """Each target's observed data against the simulated replicates: every replicate, their mean, 5-95% band."""
    targets = study.evaluator_config["targets"]
    fig, axes = plt.subplots(len(targets), 1, figsize=(8, 3.8 * len(targets)), squeeze=False)
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


def plot_posterior(posterior: pl.DataFrame, truth: dict[str, float] | None = None) -> Any | None:
    """The last generation's weighted marginals (diagonal, with the 90% credible interval) and pairwise particle
    clouds (size by weight); earlier generations' marginals as faint outlines show epsilon shrinking."""
    from modelops.runner.posterior import CREDIBLE, POSTERIOR_META, weighted_quantiles

    names = [c for c in posterior.columns if c not in POSTERIOR_META][:MAX_PAIR_PARAMS]
    if not names or posterior.height == 0:
        return None
    last_gen = int(posterior["generation"].max())
    last = posterior.filter(pl.col("generation") == last_gen)
    w = last["weight"].to_numpy().astype(float)
    w = w / w.sum()
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(2.8 * k + 1, 2.8 * k), squeeze=False)
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


def best_trial(trials: pl.DataFrame) -> dict[str, Any]:
    done = trials.filter(pl.col("status") == "completed")
    if done.height == 0:
        raise PlotError("the run has no completed trial yet; nothing to plot")
    return done.sort("loss").row(0, named=True)


def plot_run(store: RunStore, out_dir: str | None = None) -> PlotFiles:
    """Write the run's PNGs (to ``out_dir``, default <run>/plots/) and return where they are."""
    trials, replicates = store.load()
    if trials.height == 0:
        raise PlotError(f"run {store.run_id!r} has no trials yet; nothing to plot")
    study = ResolvedStudy.from_json(store.read_json(STUDY))
    loss_path = _save(plot_loss(trials), store, out_dir, "loss_by_trial.png")
    searched = [n for n, d in study.space.items() if n != "fixed" and isinstance(d, dict)]
    pairs_fig = plot_pairs(trials, searched)
    pairs_path = _save(pairs_fig, store, out_dir, "parameters.png") if pairs_fig is not None else None
    fit_path: str | None = None
    fit_error: str | None = None
    posterior_path: str | None = None
    from modelops.runner.posterior import load_posterior

    posterior = load_posterior(store)
    posterior_fig = plot_posterior(posterior) if posterior is not None else None
    if posterior_fig is not None:
        posterior_path = _save(posterior_fig, store, out_dir, "posterior.png")
    best = best_trial(trials)
    seeds = replicates.filter(pl.col("param_id") == best["param_id"]).sort("replicate")["seed"].to_list()
    try:
        cache = store.url_of("cache") if store.is_local and store.fs.exists(store.path("cache")) else None
        outputs = simulate_trial(study, json.loads(best["params_json"]), best["param_id"], seeds, cache)
        target_losses = ", ".join(
            f"{c.removeprefix(LOSS_PREFIX)} {best[c]:.4g}"
            for c in trials.columns
            if c.startswith(LOSS_PREFIX) and best[c] is not None and math.isfinite(best[c])
        )
        fit_fig = plot_fit(study, outputs, f"best trial {best['trial']}: loss {best['loss']:.6g} ({target_losses})")
        fit_path = _save(fit_fig, store, out_dir, "best_fit.png")
    except (PlotError, ImportError, ValueError) as exc:
        fit_error = str(exc)
    return PlotFiles(loss=loss_path, pairs=pairs_path, fit=fit_path, fit_error=fit_error, posterior=posterior_path)


__all__ = ["PlotError", "PlotFiles", "plot_run"]
