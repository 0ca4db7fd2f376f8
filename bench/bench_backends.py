"""Local execution backends side by side: the process pool, a Dask LocalCluster, a ProcessPoolExecutor floor.

    uv run python bench/bench_backends.py            # 5 interleaved rounds (about two minutes on 2 cores)
    uv run python bench/bench_backends.py --quick    # 2 rounds, fewer groups

For each round, in turn (A B C A B C ...: this VM's speed drifts by up to 2x within minutes), each contender starts
its workers, runs G groups of 10 simulations of {0, 10} ms of CPU (spinning, not sleeping) as the runner does
(bounded in flight, results as completed), and stops. It prints, min/median/max over the rounds:

- start:    seconds from constructing the service to every worker able to run a task (imports done);
- wall:     seconds for the G groups; ``ideal`` = total simulation CPU / workers;
- overhead: (wall - ideal) / G, milliseconds of orchestration per group;
and the ratio of medians against the pool. Also the worker start alternatives the pool could have used (launcher +
fork, as built; multiprocessing spawn and forkserver; one plain ``python -m`` per worker), each to "imported the task
code and answered".
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = str(ROOT / "tests" / "services")  # exec_models.busy: spins params['ms'] of CPU
REPLICATES = 10


def _context():
    from modelops.services import RunContext

    return RunContext("exec_models:busy", search_path=(MODELS,))


def _groups(n: int, ms: float) -> list:
    from modelops_contracts import derive_seed, make_param_id

    context = _context()
    out = []
    for k in range(n):
        params = {"ms": ms, "k": k}
        pid = make_param_id(params)
        out.append(context.group(params, pid, [derive_seed(pid, i) for i in range(REPLICATES)]))
    return out


def _drive(service, groups: list) -> None:
    from modelops.services import run_groups

    n = sum(1 for r in run_groups(service, groups) if r.ok)
    assert n == len(groups), f"{len(groups) - n} groups failed"


# -- contenders: (start the workers and wait until they can run) -> (run the groups) -> close ------------------------


def run_pool(workers: int, groups: list) -> tuple[float, float]:
    from modelops.services.pool import PoolSimulationService

    t0 = time.perf_counter()
    service = PoolSimulationService(workers)
    service.prepare(_context())  # every worker has imported the model
    start = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        _drive(service, groups)
        return start, time.perf_counter() - t1
    finally:
        service.close()


def run_dask(workers: int, groups: list) -> tuple[float, float]:
    from modelops.services.dask import DaskSimulationService

    t0 = time.perf_counter()
    service = DaskSimulationService(n_workers=workers, memory_limit=None)
    service.wait_for_workers(workers, timeout=120)
    service.prepare(_context())
    start = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        _drive(service, groups)
        return start, time.perf_counter() - t1
    finally:
        service.close()


def _warm_floor() -> int:
    from modelops.services.context import warm

    warm(_context())
    return os.getpid()


def run_floor(workers: int, groups: list) -> tuple[float, float]:
    """ProcessPoolExecutor (forkserver), full groups pickled per task, chunked like the pipeline: the floor."""
    from modelops.services.tasks import run_chunk

    t0 = time.perf_counter()
    executor = ProcessPoolExecutor(workers, mp_context=get_context("forkserver"))
    futures_wait([executor.submit(_warm_floor) for _ in range(workers)])
    start = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        per_task = max(1, len(groups) // (8 * workers))
        chunks = [groups[i : i + per_task] for i in range(0, len(groups), per_task)]
        in_flight: set = set()
        done = 0
        for chunk in chunks:
            if len(in_flight) >= 2 * workers:
                finished, in_flight = futures_wait(in_flight, return_when=FIRST_COMPLETED)
                done += sum(len(f.result()) for f in finished)
            in_flight.add(executor.submit(run_chunk, chunk))
        done += sum(len(f.result()) for f in in_flight)
        assert done == len(groups)
        return start, time.perf_counter() - t1
    finally:
        executor.shutdown()


# -- worker start alternatives ----------------------------------------------------------------------------------


def _ready_child(conn) -> None:
    import modelops.services.tasks  # noqa: F401  (what a pool worker imports before it answers)

    conn.send(os.getpid())
    conn.close()


def start_mp(method: str, workers: int) -> float:
    ctx = get_context(method)
    t0 = time.perf_counter()
    pipes = []
    procs = []
    for _ in range(workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_ready_child, args=(child,))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for parent in pipes:
        parent.recv()
    elapsed = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    return elapsed


def start_subprocess(workers: int) -> float:
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "import modelops.services.tasks; print('ok', flush=True)"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    for proc in procs:
        proc.wait()
    return elapsed


def start_pool(workers: int) -> float:
    from modelops.services.pool import PoolSimulationService

    t0 = time.perf_counter()
    service = PoolSimulationService(workers)
    service.wait_ready()
    elapsed = time.perf_counter() - t0
    service.close()
    return elapsed


# -- report -----------------------------------------------------------------------------------------------------


def _mmm(values: list[float], scale: float = 1.0, fmt: str = "{:.3f}") -> str:
    return " / ".join(fmt.format(v * scale) for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    n_groups = {0.0: 100 if args.quick else 300, 10.0: 20 if args.quick else 40}
    contenders: dict[str, Callable[[int, list], tuple[float, float]]] = {
        "pool": run_pool,
        "dask": run_dask,
        "floor": run_floor,
    }
    print(f"{args.workers} workers, groups of {REPLICATES} simulations, {rounds} interleaved rounds (min/median/max)")
    for ms, n in n_groups.items():
        groups = _groups(n, ms)
        ideal = n * REPLICATES * ms / 1000.0 / args.workers
        starts: dict[str, list[float]] = {k: [] for k in contenders}
        walls: dict[str, list[float]] = {k: [] for k in contenders}
        for _ in range(rounds):
            for name, run in contenders.items():
                start, wall = run(args.workers, groups)
                starts[name].append(start)
                walls[name].append(wall)
        print(f"\n{n} groups x {REPLICATES} x {ms:g} ms   (ideal {ideal:.2f} s)")
        print(f"{'backend':8} {'start s':>24} {'wall s':>24} {'overhead ms/group':>26} {'speed vs pool':>14}")
        pool_median = statistics.median(walls["pool"])
        for name in contenders:
            overhead = [(w - ideal) / n for w in walls[name]]
            ratio = pool_median / statistics.median(walls[name])
            print(
                f"{name:8} {_mmm(starts[name]):>24} {_mmm(walls[name]):>24} "
                f"{_mmm(overhead, 1000.0, '{:.2f}'):>26} {ratio:>13.2f}x"
            )
    print("\nworker start, to 'imported the task code and answered' (seconds, min / median / max):")
    alternatives: dict[str, Callable[[], float]] = {
        "launcher + fork (pool)": lambda: start_pool(args.workers),
        "multiprocessing spawn": lambda: start_mp("spawn", args.workers),
        "multiprocessing forkserver": lambda: start_mp("forkserver", args.workers),
        "python -m per worker": lambda: start_subprocess(args.workers),
    }
    times: dict[str, list[float]] = {k: [] for k in alternatives}
    for _ in range(max(3, rounds)):
        for name, fn in alternatives.items():
            times[name].append(fn())
    for name, values in times.items():
        print(f"  {name:28} {_mmm(values)}")


if __name__ == "__main__":
    main()
