"""Simulations and evaluators the execution tests run, imported by reference ("exec_models:...") on workers.

Workers find this module through the groups' search_path (this directory), the mechanism a model project uses.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from modelops_contracts import TargetEvaluation


def walk(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """A seeded random walk: deterministic in (params, seed), two outputs of different kinds."""
    rng = np.random.default_rng(seed)
    steps = int(params.get("steps", 20))
    drift = float(params.get("drift", 0.0))
    values = np.cumsum(rng.normal(drift, 1.0, steps))
    series = pl.DataFrame({"t": np.arange(steps, dtype=np.int64), "x": values})
    summary = pa.table({"final": [float(values[-1])], "seed": pa.array([seed], pa.uint64())})
    return {"series": series, "summary": summary}


def busy(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Spin the CPU for params['ms'] milliseconds, then return a one-row table."""
    end = time.perf_counter() + float(params.get("ms", 0)) / 1000.0
    n = 0
    while time.perf_counter() < end:
        n += 1
    return {"out": pl.DataFrame({"seed": [seed], "n": [n]}, schema={"seed": pl.UInt64, "n": pl.Int64})}


def explode(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    if params.get("fail_seed") is None or seed == params["fail_seed"]:
        raise ZeroDivisionError(f"model blew up for seed {seed}")
    return walk(params, seed)


def not_a_mapping(params: Mapping[str, Any], seed: int) -> list[int]:
    return [1, 2, 3]


def pandas_like(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {"good": pl.DataFrame({"a": [1]}), "bad": [1, 2, 3]}


class CountingModel:
    """A model class: resolved to the bound ``simulate`` of one instance per process."""

    instances = 0

    def __init__(self) -> None:
        type(self).instances += 1
        self.offset = 100

    def simulate(self, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
        return {"out": pl.DataFrame({"v": [self.offset + int(params["k"])], "instances": [type(self).instances]})}


class MeanFinalEvaluator:
    """Loss = (mean final value across replicates - target)^2."""

    def __init__(self, target: float):
        self.target = target

    def evaluate(self, replicates: Sequence[Mapping[str, Any]]) -> TargetEvaluation:
        finals = [float(r["summary"]["final"][0]) for r in replicates]
        per = [{"final": (f - self.target) ** 2} for f in finals]
        mean = sum(finals) / len(finals)
        return TargetEvaluation(
            loss=(mean - self.target) ** 2,
            target_losses={"final": (mean - self.target) ** 2},
            replicate_losses=per,
            summaries={"mean_final": mean, "n": len(finals)},
        )


def make_evaluator(config: Mapping[str, Any]) -> MeanFinalEvaluator:
    return MeanFinalEvaluator(float(config["target"]))


def make_broken_evaluator(config: Mapping[str, Any]) -> Any:
    class Broken:
        def evaluate(self, replicates: Sequence[Mapping[str, Any]]) -> TargetEvaluation:
            raise KeyError("observed series 'cases' is missing")

    return Broken()


def crash(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Kill the worker process outright (a segfaulting or OOM-killed model)."""
    import os

    os._exit(17)
