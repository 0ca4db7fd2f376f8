"""Benchmark (context): `mops run` in process against older ways to calibrate, same model, same budget, 2 workers.

The headline comparison, against the multi-process Optuna loop modellers write themselves, timed as whole processes
and interleaved, is bench/bench_peers.py; this one keeps the older contenders for context.

    uv run python bench/bench_calibration.py            # 200 trials x 10 replicates of a 10 ms simulation
    uv run python bench/bench_calibration.py --quick    # a smaller smoke run

Contenders (one run each, all on the same machine in the same invocation):
- mops run:   the runner (`modelops.runner.run_study`) on a 2-worker Dask cluster: one task per parameter set's
              replicates, targets scored on the worker, a bounded as-completed pipeline, an Optuna journal.
- (a) optuna: `study.optimize(objective, n_jobs=2)` with a SQLite storage; the objective runs the replicates itself
              and scores them (what modellers write today). Threads share the GIL, so Python models do not overlap.
- (b) barrier: one Dask task per replicate on the same cluster; ask a batch of 4 parameter sets, submit every
              replicate, gather all raw outputs to the runner, score them there, tell, repeat (the upstream pattern,
              the runner loop of the design documents). Two variants: "upstream loop" is that loop verbatim on this
              project's own APIs (the same OptunaAlgorithm and journal as mops run, SimulationService.submit per
              replicate, outputs as Arrow IPC), so only the execution pattern differs from mops run; "lean" is the
              same pattern hand-written on raw Dask (client.submit of the model itself, outputs pickled, stock Optuna
              with its journal file).

All three use TPE with the same seed, the same model (a fixed amount of pure-Python CPU work per simulation, not a
sleep: sleeping threads would overlap under the GIL and flatter (a)), the same target and loss. "Ideal" is the total
simulation CPU time divided by 2 workers ("nominal"); the machine's real ideal under its load of the moment is
measured interleaved with the contenders by bench/bench_peers.py (a one-off measurement here, at another moment than
the contenders, misled: the same spin took 10 ms and 19 ms per call within 15 minutes). Then the runner alone, at 0 ms
simulations, for 200 and 2,000 trials, each in a fresh process: its peak memory (RSS of the runner process; workers
are separate processes) and its per-trial overhead. The scale probe uses Optuna's random sampler so the runner's
own cost is what is measured (TPE's ask cost grows with the number of trials whatever runs it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODEL_REF = "bench_calibration:simulate"
WORKERS = 2
TRUE_SLOPE = 2.0

# --- the model (imported by name on the workers: keep it at module level, cheap to import) ----------------------

_ITERS_PER_MS: float | None = None


def _spin(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc += i & 7
    return acc


def iterations_per_ms() -> float:
    """How many loop iterations take 1 ms of CPU here (calibrated once per process, best of 5)."""
    global _ITERS_PER_MS
    if _ITERS_PER_MS is None:
        n = 200_000
        best = min(_timed(lambda: _spin(n)) for _ in range(5))
        _ITERS_PER_MS = n / (best * 1000.0)
    return _ITERS_PER_MS


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def simulate(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``cost_ms`` of CPU work (a number of loop iterations), then a noisy line y = slope * t + 1.

    With ``spread`` > 0 the work of each simulation is the nominal cost times a lognormal factor of mean 1 and that
    coefficient of variation, drawn from the seed (deterministic): stochastic models rarely take the same time twice.
    """
    import numpy as np
    import polars as pl

    iterations = int(params["iterations"])
    spread = float(params.get("spread", 0.0))
    if spread > 0:
        sigma = float(np.sqrt(np.log1p(spread**2)))
        iterations = round(iterations * np.exp(sigma * np.random.default_rng([seed, 1]).normal() - sigma**2 / 2))
    if iterations:
        _spin(iterations)
    rng = np.random.default_rng(seed)
    t = np.arange(20, dtype=np.int64)
    y = float(params["slope"]) * t + 1.0 + rng.normal(0.0, 0.5, t.size)
    return {"line": pl.DataFrame({"t": t, "y": y})}


def _observed() -> dict[str, list[Any]]:
    import numpy as np

    t = np.arange(20)
    y = TRUE_SLOPE * t + 1.0 + np.random.default_rng(0).normal(0.0, 0.5, t.size)
    return {"t": t.tolist(), "y": y.tolist()}


def _target_config() -> dict[str, Any]:
    return {
        "targets": [
            {
                "name": "line",
                "output": "line",
                "observed": {"columns": _observed()},
                "keys": ["t"],
                "values": ["y"],
                "loss": "mse",
                "combine": "mean_signal",
            }
        ],
        "base_dir": None,
    }


SPACE = {"slope": {"low": 0.0, "high": 4.0}}


# --- contenders -------------------------------------------------------------------------------------------------


def _write_study(
    folder: Path,
    filename: str,
    *,
    name: str,
    fixed: Mapping[str, Any],
    algorithm: dict,
    replicates: int,
    execution: dict,
) -> Path:
    """Write the benchmark's study (the line model, its observed data, an mse target) into ``folder``."""
    import polars as pl
    import yaml

    pl.DataFrame(_observed()).write_csv(folder / "observed.csv")
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": name,
        "model": {"fn_ref": MODEL_REF, "project": str(HERE)},
        "parameters": {**SPACE, "fixed": dict(fixed)},
        "targets": [
            {
                "name": "line",
                "output": "line",
                "observed": "observed.csv",
                "keys": ["t"],
                "values": ["y"],
                "loss": "mse",
            }
        ],
        "algorithm": algorithm,
        "replicates": replicates,
        "execution": execution,
        "outputs": "none",
    }
    path = folder / filename
    path.write_text(yaml.safe_dump(spec))
    return path


def run_mops(folder: Path, n_trials: int, replicates: int, fixed: dict, scheduler: str | None, seed: int) -> dict:
    """`mops run` (the runner itself, in this process) on the given scheduler (or its own local cluster)."""
    import polars as pl

    from modelops.runner import RunOptions, run_study

    path = _write_study(
        folder,
        f"study-{n_trials}.yaml",
        name="bench",
        fixed=fixed,
        algorithm={"ref": "optuna", "sampler": "tpe", "n_trials": n_trials, "seed": seed},
        replicates=replicates,
        execution={"cache": False} if scheduler else {"cache": False, "workers": WORKERS},
    )
    t0 = time.perf_counter()
    summary = run_study(path, RunOptions(runs_dir=str(folder / "runs"), scheduler=scheduler, handle_signals=False))
    wall = time.perf_counter() - t0
    assert summary.status == "completed" and summary.recorded == n_trials, summary
    trials = pl.read_parquet(summary.trials_url)
    return {
        "wall_s": wall,
        "best": summary.best["param.slope"],
        "trials": summary.recorded,
        "algorithm_s": summary.algorithm_s,
        # What the simulations really cost under this machine's load (other processes slow them down too).
        "sim_s": float(trials["sim_s"].sum()),
        "sims": int(trials["n_replicates"].sum()),
    }


def run_optuna_threads(folder: Path, n_trials: int, replicates: int, fixed: dict, seed: int) -> dict:
    """(a) Optuna's own loop: study.optimize(n_jobs=2), SQLite storage, replicates inside the objective."""
    import optuna

    from modelops.core.fnref import resolve
    from modelops_contracts import derive_seed, make_param_id

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluator = resolve("calabaria.targets:TargetSet.from_config")(_target_config())
    storage = f"sqlite:///{folder / 'optuna-threads.db'}"
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    study = optuna.create_study(study_name="bench", storage=storage, sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        params = {"slope": trial.suggest_float("slope", 0.0, 4.0), **fixed}
        pid = make_param_id(params)
        outputs = [simulate(params, derive_seed(pid, r, seed)) for r in range(replicates)]
        return evaluator.evaluate(outputs).loss

    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_trials, n_jobs=WORKERS)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "best": study.best_params["slope"], "trials": len(study.trials)}


BARRIER_BATCH = 4  # the design documents' runner loop: algo.ask(n=4)


def run_upstream_loop(folder: Path, address: str, n_trials: int, replicates: int, fixed: dict, seed: int) -> dict:
    """(b) The design documents' runner loop on this project's APIs: ask 4, submit every replicate, gather, tell."""
    from calabaria.algorithms import OptunaAlgorithm
    from calabaria.targets import TargetSet
    from modelops.services.dask import DaskSimulationService
    from modelops_contracts import TrialResult, TrialStatus, derive_seed

    evaluator = TargetSet.from_config(_target_config())
    algo = OptunaAlgorithm(
        {**SPACE, "fixed": fixed},
        storage=f"journal://{folder / 'upstream.journal'}",
        study_name="bench",
        seed=seed,
        n_trials=n_trials,
        sampler="tpe",
    )
    with DaskSimulationService(address, search_path=(str(HERE),)) as sim:
        t0 = time.perf_counter()
        while not algo.finished():
            batch = algo.ask(BARRIER_BATCH)
            if not batch:
                continue
            futures = [
                sim.submit(MODEL_REF, p.params, derive_seed(p.param_id, i, seed))
                for p in batch
                for i in range(replicates)
            ]
            outputs = sim.gather(futures)  # the barrier
            algo.tell(
                [
                    TrialResult(
                        p.param_id,
                        evaluator.evaluate(outputs[k * replicates : (k + 1) * replicates]).loss,
                        {},
                        TrialStatus.COMPLETED,
                    )
                    for k, p in enumerate(batch)
                ]
            )
        wall = time.perf_counter() - t0
    best = min(algo.study.best_trials, key=lambda t: t.value)
    algo.close()
    return {"wall_s": wall, "best": best.params["slope"], "trials": n_trials}


def run_dask_barrier(folder: Path, client: Any, n_trials: int, replicates: int, fixed: dict, seed: int) -> dict:
    """(b) lean: the same pattern on raw Dask: the model itself as the task, outputs pickled, stock Optuna."""
    import optuna

    from modelops.core.fnref import resolve
    from modelops_contracts import derive_seed, make_param_id

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluator = resolve("calabaria.targets:TargetSet.from_config")(_target_config())
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "barrier.journal"))
    )
    study = optuna.create_study(
        study_name="bench", storage=journal, sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    )
    batch = BARRIER_BATCH
    t0 = time.perf_counter()
    done = 0
    while done < n_trials:
        trials = [study.ask() for _ in range(min(batch, n_trials - done))]
        futures = []
        for trial in trials:
            params = {"slope": trial.suggest_float("slope", 0.0, 4.0), **fixed}
            pid = make_param_id(params)
            futures.append(
                [client.submit(simulate, params, derive_seed(pid, r, seed), pure=False) for r in range(replicates)]
            )
        gathered = client.gather(futures)  # the barrier: the slowest replicate of the batch holds everyone
        for trial, outputs in zip(trials, gathered, strict=True):
            study.tell(trial, evaluator.evaluate(outputs).loss)
        done += len(trials)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "best": study.best_params["slope"], "trials": done}


# --- runner scale probe (each size in a fresh process) -----------------------------------------------------------


def probe(n_trials: int) -> None:
    """Run the runner alone at 0 ms simulations; print its peak RSS growth and per-trial overhead as JSON."""
    import psutil

    process = psutil.Process()
    peak = baseline = process.memory_info().rss
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)

    from modelops.runner import RunOptions, run_study

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_study(
            folder,
            "study.yaml",
            name="probe",
            fixed={"iterations": 0},
            algorithm={"ref": "optuna", "sampler": "random", "n_trials": n_trials, "seed": 1},
            replicates=4,
            execution={"workers": WORKERS, "cache": False},
        )
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        progress_times: list[float] = []
        t0 = time.perf_counter()
        summary = run_study(
            folder / "study.yaml",
            RunOptions(runs_dir=str(folder / "runs"), handle_signals=False),
            progress=lambda p: progress_times.append(time.perf_counter()),
        )
        wall = time.perf_counter() - t0
        stop.set()
        thread.join()
    # Per-trial overhead: the steady-state time between recorded trials (cluster start-up excluded).
    steady = (progress_times[-1] - progress_times[0]) / max(1, len(progress_times) - 1)
    print(
        json.dumps(
            {
                "n_trials": n_trials,
                "recorded": summary.recorded,
                "wall_s": wall,
                "per_trial_ms": steady * 1000,
                "rss_growth_mb": (peak - baseline) / 2**20,
                "peak_rss_mb": peak / 2**20,
            }
        )
    )


def run_probe(n_trials: int) -> dict:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--probe", str(n_trials)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe {n_trials} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- main -------------------------------------------------------------------------------------------------------


def _warm(client: Any, iterations: int) -> None:
    # Import the model, numpy, polars and calabaria on every worker before timing anything.
    from modelops.services.tasks import SimulationGroup, run_group

    group = SimulationGroup(
        fn_ref=MODEL_REF,
        params={"slope": 1.0, "iterations": iterations},
        param_id="warm",
        seeds=(1,),
        evaluator_ref="calabaria.targets:TargetSet.from_config",
        evaluator_config=_target_config(),
        search_path=(str(HERE),),
    )
    client.gather([client.submit(run_group, group, pure=False, workers=[w]) for w in client.nthreads()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A smaller smoke run (fewer trials, no 2,000 probe).")
    parser.add_argument("--cost-ms", type=float, default=10.0, help="CPU time of one simulation (default 10 ms).")
    # 10 replicates per parameter set: the design's default group size (REPLICATES_PER_PARAM).
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="Coefficient of variation of simulation durations (default 0: every simulation costs the same).",
    )
    parser.add_argument("--trials", type=int, default=None, help="Trials per contender (default 200, quick 60).")
    parser.add_argument("--no-probe", action="store_true", help="Skip the runner scale probe.")
    parser.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe is not None:
        probe(args.probe)
        return

    sys.path.insert(0, str(HERE))  # so cloudpickle ships `simulate` by reference for (b), like the runner does
    from distributed import Client, LocalCluster

    n_trials = args.trials or (60 if args.quick else 200)
    iterations = round(args.cost_ms * iterations_per_ms())
    fixed: dict[str, Any] = {"iterations": iterations}
    if args.spread > 0:
        fixed["spread"] = args.spread
    seed = 42
    sims = n_trials * args.replicates
    ideal = sims * args.cost_ms / 1000.0 / WORKERS
    print(
        f"calibration benchmark: {n_trials} trials x {args.replicates} replicates of a {args.cost_ms:g} ms simulation "
        f"({iterations} loop iterations"
        + (f", durations spread lognormally with CV {args.spread:g}" if args.spread > 0 else ", every one the same")
        + f"), {WORKERS} workers, TPE seed {seed}; ideal {ideal:.2f} s"
    )
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with (
            LocalCluster(
                n_workers=WORKERS,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda p=str(HERE): sys.path.insert(0, p) if p not in sys.path else None)
            _warm(client, iterations)
            # Every contender needs optuna, numpy, polars and the target code (calabaria imports scipy.stats, ~0.5 s,
            # seconds when bytecode is not cached): import them here, so no contender's time includes the imports.
            import optuna  # noqa: F401

            import calabaria.targets  # noqa: F401

            print("running mops run ...", flush=True)
            results["mops run"] = run_mops(folder, n_trials, args.replicates, fixed, cluster.scheduler_address, seed)
            print("running (b) dask task per replicate + batch barrier: the upstream loop ...", flush=True)
            results["(b) upstream loop"] = run_upstream_loop(
                folder, cluster.scheduler_address, n_trials, args.replicates, fixed, seed
            )
            print("running (b) dask task per replicate + batch barrier: lean, on raw Dask ...", flush=True)
            results["(b) lean dask loop"] = run_dask_barrier(folder, client, n_trials, args.replicates, fixed, seed)
        print("running (a) optuna optimize(n_jobs=2) + sqlite ...", flush=True)
        results["(a) optuna n_jobs=2"] = run_optuna_threads(folder, n_trials, args.replicates, fixed, seed)
        print("running mops run end to end (starting its own local cluster) ...", flush=True)
        (folder / "own").mkdir()
        results["mops run, own cluster"] = run_mops(folder / "own", n_trials, args.replicates, fixed, None, seed)

    ours = results["mops run"]["wall_s"]
    print()
    print(f"{'contender':<24}{'wall s':>9}{'efficiency':>12}{'vs mops run':>13}{'best slope':>12}")
    for name, r in results.items():
        print(
            f"{name:<24}{r['wall_s']:>9.2f}{ideal / r['wall_s']:>12.2f}{r['wall_s'] / ours:>12.2f}x{r['best']:>12.3f}"
        )
    print(f"{'ideal (nominal)':<24}{ideal:>9.2f}{1.0:>12.2f}")
    mine = results["mops run"]
    measured_ms = 1000 * mine["sim_s"] / max(1, mine["sims"])
    print(
        f"\nmops run: simulations measured at {measured_ms:.1f} ms each under this machine's load (nominal "
        f"{args.cost_ms:g} ms); workers busy simulating {mine['sim_s'] / WORKERS / mine['wall_s']:.0%} of the wall "
        f"time; {1000 * mine['algorithm_s'] / mine['trials']:.1f} ms per trial in the algorithm's ask/tell"
    )
    print(
        f"\nmops run is {results['(a) optuna n_jobs=2']['wall_s'] / ours:.2f}x faster than (a), "
        f"{results['(b) upstream loop']['wall_s'] / ours:.2f}x faster than (b) the upstream loop and "
        f"{results['(b) lean dask loop']['wall_s'] / ours:.2f}x faster than (b) on raw Dask; efficiency "
        f"{ideal / ours:.2f} against the nominal ideal (true slope {TRUE_SLOPE})"
    )

    if args.no_probe:
        return
    sizes = (200, 600) if args.quick else (200, 2000)
    print(f"\nrunner scale probe (0 ms simulations, random sampler, {WORKERS} workers, fresh process each):")
    print(f"{'trials':>8}{'wall s':>9}{'ms/trial':>10}{'RSS growth MB':>15}{'peak RSS MB':>13}")
    probes = [run_probe(n) for n in sizes]
    for p in probes:
        print(
            f"{p['n_trials']:>8}{p['wall_s']:>9.2f}{p['per_trial_ms']:>10.2f}{p['rss_growth_mb']:>15.1f}"
            f"{p['peak_rss_mb']:>13.1f}"
        )
    growth = probes[-1]["peak_rss_mb"] - probes[0]["peak_rss_mb"]
    print(
        f"runner memory from {sizes[0]} to {sizes[-1]} trials: {growth:+.1f} MB peak RSS; per-trial overhead "
        f"{probes[0]['per_trial_ms']:.2f} -> {probes[-1]['per_trial_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
