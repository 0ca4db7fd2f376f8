"""A stochastic SIR model as a plain function: the simplest model ModelOps calibrates.

Chain-binomial (Reed-Frost style) dynamics in daily steps: each susceptible is infected with probability
``1 - exp(-beta * I / N)`` and each infectious recovers with probability ``1 - exp(-gamma)``. The model returns the
daily count of new infections, the observable a surveillance system reports.

The function takes ``(params, seed)`` and returns ``{output name: polars.DataFrame}``; the same seed gives the same
epidemic, which is what makes replicates, caching and resume exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

DEFAULTS = {"population": 100_000, "initial_infected": 100, "days": 100}


def simulate(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    """Simulate one epidemic; ``params`` needs ``beta`` and ``gamma`` (per day), the rest has defaults."""
    p = {**DEFAULTS, **params}
    beta, gamma = float(p["beta"]), float(p["gamma"])
    n, days = int(p["population"]), int(p["days"])
    rng = np.random.default_rng(seed)
    s, i = n - int(p["initial_infected"]), int(p["initial_infected"])
    p_recover = 1.0 - np.exp(-gamma)
    cases = np.zeros(days, dtype=np.int64)
    prevalence = np.zeros(days, dtype=np.int64)
    for day in range(days):
        new_infections = rng.binomial(s, 1.0 - np.exp(-beta * i / n)) if i else 0
        recoveries = rng.binomial(i, p_recover) if i else 0
        s -= new_infections
        i += new_infections - recoveries
        cases[day] = new_infections
        prevalence[day] = i
    day_index = np.arange(days, dtype=np.int64)
    return {
        "incidence": pl.DataFrame({"day": day_index, "cases": cases}),
        "prevalence": pl.DataFrame({"day": day_index, "infected": prevalence}),
    }
