"""Plots a modeller would keep: log axes, colour by loss rank, parallel coordinates, a heatmap for grid sweeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import modelops
from modelops.runner.plots import PlotError, loss_rank, plot_heatmap, plot_pairs, plot_parallel, plot_run

from .conftest import sir_study


def test_loss_rank_spreads_losses_whatever_their_scale() -> None:
    # One huge outlier squashed the old log10(loss - best + 1) colour: everything else looked the same.
    loss = np.array([1.0, 2.0, 3.0, 1e12, 2.0])
    assert loss_rank(loss).tolist() == [0.0, 0.25, 0.75, 1.0, 0.25]
    assert loss_rank(np.array([5.0])).tolist() == [0.0]


def _trials(beta: list[float], gamma: list[float], loss: list[float]) -> pl.DataFrame:
    n = len(loss)
    return pl.DataFrame(
        {"trial": range(n), "status": ["completed"] * n, "loss": loss, "param.beta": beta, "param.gamma": gamma}
    )


def test_pairs_use_log_axes_and_colour_by_rank() -> None:
    rng = np.random.default_rng(0)
    beta = np.exp(rng.uniform(np.log(0.1), np.log(1.0), 50))
    gamma = np.exp(rng.uniform(np.log(0.03), np.log(0.5), 50))
    loss = (np.log(beta) + 1) ** 2 * 1e6 + 1
    fig = plot_pairs(_trials(beta.tolist(), gamma.tolist(), loss.tolist()), ["beta", "gamma"], {"beta"})
    assert fig is not None
    (diag_beta, gamma_beta, beta_gamma, diag_gamma) = fig.axes[:4]  # row by row: y is the row's parameter
    assert diag_beta.get_xscale() == "log" and diag_gamma.get_xscale() == "linear"
    assert (gamma_beta.get_xscale(), gamma_beta.get_yscale()) == ("linear", "log")
    assert (beta_gamma.get_xscale(), beta_gamma.get_yscale()) == ("log", "linear")
    assert "sampling density" in diag_beta.get_title()
    assert "loss rank" in fig.axes[-1].get_ylabel()  # the colour bar
    colours = beta_gamma.collections[0].get_array()
    assert colours.min() == 0.0 and colours.max() == 1.0  # ranks, not raw losses


def test_parallel_coordinates_draw_one_line_per_trial() -> None:
    trials = _trials([0.1, 0.5, 1.0], [0.05, 0.1, 0.4], [3.0, 1.0, 2.0]).with_columns(
        pl.Series("param.kind", ["a", "b", "a"])
    )
    fig = plot_parallel(trials, ["beta", "gamma", "kind"], {"beta"})
    ax = fig.axes[0]
    assert len(ax.lines) >= 4  # three trials and the best again, on top
    assert [t.get_text() for t in ax.get_xticklabels()] == ["beta (log)", "gamma", "kind"]


def test_heatmap_of_a_grid_sweep_and_refusal_for_a_cloud() -> None:
    betas, gammas = np.geomspace(0.1, 1.0, 5), np.linspace(0.05, 0.45, 4)
    grid = [(b, g) for b in betas for g in gammas]
    loss = [(np.log(b / 0.3)) ** 2 + (g - 0.1) ** 2 for b, g in grid]
    trials = _trials([b for b, _ in grid], [g for _, g in grid], loss)
    fig = plot_heatmap(trials, "beta", "gamma", {"beta"})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    mesh = ax.collections[0]
    assert mesh.get_array().shape == (4, 5)
    rng = np.random.default_rng(1)
    cloud = _trials(rng.uniform(0.1, 1, 30).tolist(), rng.uniform(0.05, 0.5, 30).tolist(), rng.random(30).tolist())
    with pytest.raises(PlotError, match="not on a grid"):
        plot_heatmap(cloud, "beta", "gamma")


@pytest.mark.slow
def test_a_grid_sweep_run_gets_a_heatmap(sir_project: Path, tmp_path: Path) -> None:
    study = sir_study(algorithm={"ref": "sweep", "options": {"method": "grid", "grid_points_per_dim": 4}}, replicates=1)
    run = modelops.run(study, workers=0, runs_dir=str(tmp_path / "runs"), base_dir=sir_project)
    assert run.trials.height == 16
    fig = run.plot.heatmap()
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    files = plot_run(run.store)
    assert files.heatmap is not None and Path(files.heatmap).read_bytes().startswith(b"\x89PNG")
    assert files.parallel is None  # two parameters: the pair plot shows them all
