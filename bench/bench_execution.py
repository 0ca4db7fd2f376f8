"""Execution overhead: our grouped, chunked Dask service against the usual ways of running many simulations.

    uv run python bench/bench_execution.py            # the full run (one to two minutes on 2 cores)
    uv run python bench/bench_execution.py --quick    # a small smoke run

On ONE LocalCluster (processes, one thread each), for N simulations of fixed cost (0, 10, 100 ms of CPU spinning,
not sleeping), it measures:

- ours:    DaskSimulationService + run_groups: one group per parameter set (R replicates), chunked adaptively,
           a bounded number of tasks in flight, results as completed;
- map:     raw ``client.map``, one Dask task per simulation, then gather (the upstream pattern);
- pool:    ``concurrent.futures.ProcessPoolExecutor`` with chunking, same number of processes (the one-machine floor);
- ideal:   total simulation time / workers.

Every approach runs the same simulation function and encodes its outputs as Arrow IPC, and ships those bytes back,
so the differences are orchestration only. Then the cache: the same batch again with a simulation cache, the
repeat's wall time against the first. Times are wall-clock seconds; efficiency = ideal / wall.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl

BENCH_DIR = str(Path(__file__).resolve().parent)
FN_REF = "bench_execution:busy_sim"


def busy_sim(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    """Spin the CPU for params['ms'] milliseconds (work, not sleep), then return a small table."""
    end = time.perf_counter() + float(params["ms"]) / 1000.0
    n = 0
    while time.perf_counter() < end:
        n += 1
    return {"out": pl.DataFrame({"seed": [seed], "spins": [n], "k": [params["k"]]})}


def one_simulation(
    fn_ref: str, params: Mapping[str, Any], seed: int, search_path: tuple[str, ...]
) -> tuple[dict[str, bytes], float]:
    """One simulation as the baselines run it: resolve (memoised per process), simulate, encode as Arrow IPC.

    Returns the outputs and the seconds the simulation took where it ran (as our replicates report theirs).
    """
    from modelops.services.tasks import _function, simulate_one

    fn = _function(fn_ref, search_path)
    t0 = time.perf_counter()
    outputs = simulate_one(fn, fn_ref, params, seed)
    return outputs, time.perf_counter() - t0


def _pool_item(item: tuple) -> tuple[dict[str, bytes], float]:
    return one_simulation(*item)


def workload(n_sims: int, replicates: int, ms: float) -> list[tuple[dict, str, tuple[int, ...]]]:
    from modelops_contracts import derive_seed, make_param_id

    out = []
    for k in range(n_sims // replicates):
        params = {"ms": ms, "k": k}
        pid = make_param_id(params)
        out.append((params, pid, tuple(derive_seed(pid, i) for i in range(replicates))))
    return out


def run_ours(service: Any, work: list, cache_url: str | None = None) -> tuple[float, float, int]:
    """(wall s, summed simulation s, cache hits)."""
    from modelops.services import SimulationGroup, run_groups

    groups = [
        SimulationGroup(FN_REF, p, pid, seeds, search_path=(BENCH_DIR,), return_outputs=True, cache_url=cache_url)
        for p, pid, seeds in work
    ]
    t0 = time.perf_counter()
    results = list(run_groups(service, groups))
    wall = time.perf_counter() - t0
    bad = [r for r in results if not r.ok]
    if bad or len(results) != len(groups):
        raise SystemExit(f"benchmark groups failed: {bad[0].error if bad else 'missing results'}")
    busy = sum(rep.duration_s for r in results for rep in r.replicates)
    return wall, busy, sum(r.n_cached for r in results)


def run_map(client: Any, work: list) -> tuple[float, float]:
    """(wall s, summed simulation s)."""
    params, seeds = [], []
    for p, _pid, ss in work:
        for s in ss:
            params.append(p)
            seeds.append(s)
    n = len(seeds)
    t0 = time.perf_counter()
    futures = client.map(one_simulation, [FN_REF] * n, params, seeds, [(BENCH_DIR,)] * n, pure=False)
    results = client.gather(futures)
    wall = time.perf_counter() - t0
    assert len(results) == n
    del futures
    return wall, sum(d for _, d in results)


def run_pool(pool: ProcessPoolExecutor, work: list, workers: int) -> tuple[float, float]:
    """(wall s, summed simulation s)."""
    items = [(FN_REF, p, s, (BENCH_DIR,)) for p, _pid, ss in work for s in ss]
    chunksize = max(1, math.ceil(len(items) / (workers * 4)))
    t0 = time.perf_counter()
    results = list(pool.map(_pool_item, items, chunksize=chunksize))
    wall = time.perf_counter() - t0
    assert len(results) == len(items)
    return wall, sum(d for _, d in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds, not a minute)")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers and pool processes (default 2)")
    parser.add_argument("--replicates", type=int, default=4, help="replicates per parameter set (default 4)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)

    sys.path.insert(0, BENCH_DIR)
    from modelops.services.dask import DaskSimulationService

    w, r = args.workers, args.replicates
    cases = [(0.0, 2000), (10.0, 800), (100.0, 160)]
    cache_case = (10.0, 400)
    if args.quick:
        cases = [(0.0, 400), (10.0, 160), (100.0, 40)]
        cache_case = (10.0, 80)

    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    print(f"starting a LocalCluster with {w} workers x 1 thread and a process pool of {w} ...", flush=True)
    with (
        DaskSimulationService(n_workers=w) as service,
        ProcessPoolExecutor(max_workers=w, mp_context=get_context("spawn")) as pool,
    ):
        warm = workload(8 * r, r, 0.0)
        run_ours(service, warm)
        run_map(service.client, warm)
        run_pool(pool, warm, w)
        for ms, n in cases:
            work = workload(n, r, ms)
            ideal = n * ms / 1000.0 / w
            ours, ours_busy, _ = run_ours(service, work)
            dmap, map_busy = run_map(service.client, work)
            ppe, pool_busy = run_pool(pool, work, w)
            row = {
                "ms": ms,
                "n": n,
                "ours_s": ours,
                "map_s": dmap,
                "pool_s": ppe,
                "ideal_s": ideal,
                # Measured simulation time over worker time: the share of the workers' time spent simulating,
                # which machine load (stretching every simulation) does not lower. 1.0 = no orchestration cost.
                "busy_ours": ours_busy / (ours * w),
                "busy_map": map_busy / (dmap * w),
                "busy_pool": pool_busy / (ppe * w),
                "stretch": ours_busy / (n * ms / 1000.0) if ms else None,
            }
            rows.append(row)
            print(f"  {ms:>5.0f} ms x {n}: ours {ours:.3f} s, map {dmap:.3f} s, pool {ppe:.3f} s", flush=True)

        ms, n = cache_case
        work = workload(n, r, ms)
        with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache_dir:
            first, _, hits_first = run_ours(service, work, cache_url=cache_dir)
            repeat, _, hits_repeat = run_ours(service, work, cache_url=cache_dir)

    load_after = os.getloadavg()
    print()
    # Other processes on the machine stretch every simulation (a spin preempted near its deadline overshoots it),
    # so efficiencies below 1 on a busy machine are not all orchestration overhead: check the load.
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"Execution benchmark: {w} workers, {r} replicates per parameter set (wall seconds; eff = ideal / wall)")
    header = (
        f"{'cost':>7} {'sims':>6} | {'ours':>7} {'map':>7} {'pool':>7} {'ideal':>7} | "
        f"{'map/ours':>8} {'ours/pool':>9} | {'eff ours':>8} {'eff map':>8} {'eff pool':>8} | "
        f"{'busy ours':>9} {'busy map':>8} {'busy pool':>9} {'stretch':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ideal = row["ideal_s"]

        def eff(wall: float, ideal: float = ideal) -> str:
            return f"{ideal / wall:8.3f}" if ideal > 0 else f"{'-':>8}"

        stretch = f"{row['stretch']:7.3f}" if row["stretch"] else f"{'-':>7}"
        print(
            f"{row['ms']:>5.0f}ms {row['n']:>6} | {row['ours_s']:7.3f} {row['map_s']:7.3f} {row['pool_s']:7.3f} "
            f"{ideal:7.3f} | {row['map_s'] / row['ours_s']:7.1f}x {row['ours_s'] / row['pool_s']:8.2f}x | "
            f"{eff(row['ours_s'])} {eff(row['map_s'])} {eff(row['pool_s'])} | "
            f"{row['busy_ours']:9.3f} {row['busy_map']:8.3f} {row['busy_pool']:9.3f} {stretch}"
        )
    print(
        "busy = measured simulation time / (wall x workers): the workers' share of time spent simulating.\n"
        "stretch = measured / nominal simulation time (ours): above 1, other processes on the machine slowed the\n"
        "simulations themselves, which lowers every eff column but not the busy columns."
    )
    print()
    print(
        f"cache: {n} x {ms:.0f} ms simulations: first run {first:.3f} s ({hits_first} hits), repeat {repeat:.3f} s "
        f"({hits_repeat} hits) -> repeat / first = {repeat / first:.3f}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "workers": w,
                    "load_average": [load_before[0], load_after[0]],
                    "replicates": r,
                    "cases": rows,
                    "cache": {"n": n, "ms": ms, "first_s": first, "repeat_s": repeat, "hits_repeat": hits_repeat},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
