"""An agent-based SIR model in Starsim, calibrated exactly like the plain-function SIR example.

Starsim (https://starsim.org) is an optional extra: `uv sync --extra starsim` (or `pip install starsim`). The model
is a plain ``simulate(params, seed)`` returning tables, so ModelOps treats it like any other model: Starsim's own
random streams are seeded from ``seed``, which makes replicates, caching and resume exact.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

os.environ.setdefault("STARSIM_INSTALL_FONTS", "0")  # workers need no fonts: skip Starsim's first-import font build

DEFAULTS = {"n_agents": 5000, "n_contacts": 10, "init_prev": 0.002, "days": 140}


def simulate(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    """``beta`` (transmission per contact per day) and ``dur_inf`` (days infectious); returns weekly new infections."""
    import starsim as ss

    p = {**DEFAULTS, **params}
    sim = ss.Sim(
        n_agents=int(p["n_agents"]),
        diseases=ss.SIR(
            beta=ss.perday(float(p["beta"])), dur_inf=ss.days(float(p["dur_inf"])), init_prev=p["init_prev"]
        ),
        networks=ss.RandomNet(n_contacts=int(p["n_contacts"])),
        start=ss.date("2020-01-01"),
        stop=ss.date("2020-01-01") + ss.days(int(p["days"])),
        dt=ss.days(1),
        rand_seed=int(seed % (2**32)),  # Starsim seeds numpy streams: 32 bits
        verbose=0,
    )
    sim.run()
    daily = np.asarray(sim.results.sir.new_infections, dtype=np.int64)
    weeks = len(daily) // 7
    weekly = daily[: weeks * 7].reshape(weeks, 7).sum(axis=1)
    return {"incidence": pl.DataFrame({"week": np.arange(weeks, dtype=np.int64), "cases": weekly})}
