"""The notebook's model: a stochastic SIR with seasonal transmission, in a module of its own next to the notebook.

ModelOps runs the model on worker processes by reference (``"seasonal_sir:simulate"``), so it lives in a file the
workers can import, not in a notebook cell. The calibration notebook (calibrate_sir.ipynb) fits ``beta`` and
``gamma`` to the SIR example's observed incidence; ``amplitude`` (seasonal forcing) is fixed at 0 there, and a
forward run turns it on to ask what a seasonal winter would have done.

Chain-binomial dynamics in daily steps: each susceptible is infected with probability
``1 - exp(-beta(t) * I / N)``, ``beta(t) = beta * (1 + amplitude * cos(2 pi (t - peak_day) / 365))``, and each
infectious person recovers with probability ``1 - exp(-gamma)``. The same seed gives the same epidemic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

DEFAULTS: dict[str, Any] = {
    "population": 100_000,
    "initial_infected": 100,
    "days": 100,
    "amplitude": 0.0,
    "peak_day": 0,
}


def simulate(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    """One epidemic: daily new infections (``incidence``: day, cases) and prevalence (``prevalence``: day, infected)."""
    p = {**DEFAULTS, **params}
    n, days = int(p["population"]), int(p["days"])
    beta, gamma, amplitude = float(p["beta"]), float(p["gamma"]), float(p["amplitude"])
    rng = np.random.default_rng(seed)
    s, i = n - int(p["initial_infected"]), int(p["initial_infected"])
    p_recover = 1.0 - math.exp(-gamma)
    cases = np.zeros(days, dtype=np.int64)
    infected = np.zeros(days, dtype=np.int64)
    for day in range(days):
        beta_t = beta * (1.0 + amplitude * math.cos(2 * math.pi * (day - float(p["peak_day"])) / 365.0))
        new = rng.binomial(s, 1.0 - math.exp(-beta_t * i / n)) if i else 0
        recovered = rng.binomial(i, p_recover) if i else 0
        s -= new
        i += new - recovered
        cases[day], infected[day] = new, i
    day_index = np.arange(days, dtype=np.int64)
    return {
        "incidence": pl.DataFrame({"day": day_index, "cases": cases}),
        "prevalence": pl.DataFrame({"day": day_index, "infected": infected}),
    }
