"""A tiny, fast stochastic model for the runner's tests: a noisy line, with a failure switch.

``y(t) = slope * t + intercept + noise``; parameters with ``fail_above`` set fail when slope exceeds it, so tests can
check that failed simulations become FAILED trials while the run goes on. ``sleep_s`` burns CPU for that long (not
sleep: a busy worker), so kill/interrupt tests have time to act mid-run; with ``slow_above`` set, slopes above it
burn ``slow_s`` seconds instead (a slow region, for time limits).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl


def simulate(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    slope, intercept = float(params["slope"]), float(params.get("intercept", 1.0))
    if params.get("fail_above") is not None and slope > float(params["fail_above"]):
        raise ValueError(f"slope {slope} is above fail_above {params['fail_above']} (a deliberate test failure)")
    busy = float(params.get("sleep_s", 0.0))
    if params.get("slow_above") is not None and slope > float(params["slow_above"]):
        busy = float(params.get("slow_s", 5.0))  # a slow region of the parameter space (timeout tests)
    if busy:
        end = time.perf_counter() + busy
        while time.perf_counter() < end:
            pass
    rng = np.random.default_rng(seed)
    t = np.arange(10, dtype=np.int64)
    y = slope * t + intercept + rng.normal(0.0, 0.5, size=t.size)
    return {"line": pl.DataFrame({"t": t, "y": y})}
