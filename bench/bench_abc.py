"""Benchmark: calabaria's ABC-SMC against pyABC on a toy model with an analytic posterior, same budget.

    uv run python bench/bench_abc.py              # population 1000, 8 generations, 3 interleaved rounds
    uv run python bench/bench_abc.py --quick      # population 300, 6 generations, 2 rounds

The toy: n = 20 observations of a normal with known sd 1 and unknown mean theta, prior theta ~ U(-5, 5). The sample
mean is sufficient, so the exact posterior is N(mean(obs), 1/sqrt(n)) (truncation to [-5, 5] is negligible here) and
the ABC distance |mean(sim) - mean(obs)| converges to it as epsilon -> 0. Both algorithms use the same population
size, number of generations and epsilon schedule (the median of the previous generation's distances: pyABC's
default MedianEpsilon, calabaria's quantile 0.5), a multivariate-normal perturbation kernel, one core, in this
process: calabaria's AbcSmcAlgorithm driven by a minimal ask/tell loop (no runner, no cluster), pyABC with its
SingleCoreSampler and an SQLite history in a temp dir (its normal mode of operation).

Reported per contender: the error of the posterior mean and sd against the analytic ones (relative to the analytic
sd), simulations used, wall time (min/median/max over interleaved rounds A B A B ...), and the wall-time ratio.
pyABC is not a dependency: install it into the environment (`uv pip install pyabc`) or it is skipped.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from calabaria.algorithms import AbcSmcAlgorithm
from modelops_contracts import TrialResult, TrialStatus

N_OBS, SD, PRIOR = 20, 1.0, (-5.0, 5.0)
OBS = np.random.default_rng(1).normal(1.3, SD, N_OBS)
EXACT_MEAN, EXACT_SD = float(OBS.mean()), SD / math.sqrt(N_OBS)


def simulate_mean(theta: float, rng: np.random.Generator) -> float:
    return float(rng.normal(theta, SD, N_OBS).mean())


def run_calabaria(pop: int, gens: int, seed: int) -> tuple[float, float, int]:
    algo = AbcSmcAlgorithm({"theta": {"low": PRIOR[0], "high": PRIOR[1]}}, seed=seed, population_size=pop,
                           generations=gens)  # fmt: skip
    rng = np.random.default_rng(seed + 1000)
    sims = 0
    while not algo.finished():
        batch = algo.ask(64)
        results = []
        for ups in batch:
            sims += 1
            d = abs(simulate_mean(ups.params["theta"], rng) - EXACT_MEAN)
            results.append(TrialResult(ups.param_id, d, {}, TrialStatus.COMPLETED))
        algo.tell(results)
    post = algo.posterior()
    assert post is not None
    x, w = post.particles[:, 0], post.weights
    mean = float(w @ x)
    return mean, math.sqrt(float(w @ (x - mean) ** 2)), sims


def run_pyabc(pop: int, gens: int, seed: int, workdir: Path) -> tuple[float, float, int]:
    import logging

    import pyabc

    logging.getLogger("ABC").setLevel(logging.WARNING)
    for name in ("ABC.Sampler", "ABC.Epsilon", "ABC.Population", "ABC.Distance", "ABC.History", "ABC.Transition"):
        logging.getLogger(name).setLevel(logging.WARNING)
    np.random.seed(seed)
    rng = np.random.default_rng(seed + 1000)

    def model(p: dict) -> dict:
        return {"m": simulate_mean(float(p["theta"]), rng)}

    prior = pyabc.Distribution(theta=pyabc.RV("uniform", PRIOR[0], PRIOR[1] - PRIOR[0]))
    abc = pyabc.ABCSMC(
        model,
        prior,
        lambda a, b: abs(a["m"] - b["m"]),
        population_size=pop,
        eps=pyabc.MedianEpsilon(),
        sampler=pyabc.sampler.SingleCoreSampler(),
    )
    abc.new(f"sqlite:///{workdir / f'pyabc-{seed}.db'}", {"m": EXACT_MEAN})
    history = abc.run(max_nr_populations=gens)
    df, w = history.get_distribution(m=0, t=history.max_t)
    x = df["theta"].to_numpy()
    mean = float(np.sum(w * x))
    sims = int(history.total_nr_simulations)
    return mean, math.sqrt(float(np.sum(w * (x - mean) ** 2))), sims


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    pop, gens, rounds = (300, 6, 2) if args.quick else (1000, 8, 3)
    try:
        import pyabc  # noqa: F401

        have_pyabc = True
    except ImportError:
        have_pyabc = False
        print("pyabc is not installed (uv pip install pyabc): measuring calabaria alone")
    print(f"toy: {N_OBS} obs, sd {SD}, prior U{PRIOR}; analytic posterior mean {EXACT_MEAN:.4f} sd {EXACT_SD:.4f}")
    print(f"budget: population {pop}, {gens} generations (prior included), median epsilon; {rounds} rounds")
    rows: dict[str, list[tuple[float, float, int, float]]] = {"calabaria": [], "pyabc": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):  # interleaved: A B A B ...
            for name in ("calabaria", "pyabc"):
                if name == "pyabc" and not have_pyabc:
                    continue
                t0 = time.perf_counter()
                if name == "calabaria":
                    mean, sd, sims = run_calabaria(pop, gens, seed=r)
                else:
                    mean, sd, sims = run_pyabc(pop, gens, seed=r, workdir=Path(tmp))
                rows[name].append((mean, sd, sims, time.perf_counter() - t0))
    print(f"{'':10} {'mean err/sd':>12} {'sd err':>8} {'sims':>7} {'wall s min/med/max':>24}")
    for name, results in rows.items():
        if not results:
            continue
        mean_err = statistics.mean(abs(m - EXACT_MEAN) / EXACT_SD for m, _, _, _ in results)
        sd_err = statistics.mean(abs(s - EXACT_SD) / EXACT_SD for _, s, _, _ in results)
        sims = statistics.mean(n for _, _, n, _ in results)
        walls = sorted(t for *_, t in results)
        wall = f"{walls[0]:.2f}/{statistics.median(walls):.2f}/{walls[-1]:.2f}"
        print(f"{name:10} {mean_err:>11.1%} {sd_err:>8.1%} {sims:>7.0f} {wall:>24}")
    if rows["pyabc"]:
        ratio = statistics.median(t for *_, t in rows["calabaria"]) / statistics.median(t for *_, t in rows["pyabc"])
        print(f"wall-time ratio calabaria / pyabc (medians): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
