"""A stochastic SEIR (chain binomial, daily steps) seeded with few infections, so some epidemics die out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl


def simulate(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    beta, gamma, sigma = float(params["beta"]), float(params["gamma"]), float(params.get("sigma", 0.25))
    n, days = int(params.get("population", 20_000)), int(params.get("days", 80))
    rng = np.random.default_rng(seed)
    e, i, r = 0, int(params.get("initial_infected", 2)), 0
    s = n - i
    cases = np.zeros(days, dtype=np.int64)
    for day in range(days):
        infect = rng.binomial(s, 1.0 - np.exp(-beta * i / n))
        onset = rng.binomial(e, 1.0 - np.exp(-sigma))
        recover = rng.binomial(i, 1.0 - np.exp(-gamma))
        s, e, i, r = s - infect, e + infect - onset, i + onset - recover, r + recover
        cases[day] = onset
    return {"incidence": pl.DataFrame({"day": np.arange(days), "cases": cases})}
