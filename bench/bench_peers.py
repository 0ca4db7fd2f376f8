"""Benchmark: `mops run` against the multi-process Optuna loop modellers write themselves, timed from outside.

    uv sync --all-packages --extra starsim --compile-bytecode    # first: timings assume compiled bytecode
    uv run python bench/bench_peers.py                  # the issue's two workloads, 3 interleaved rounds, + probes
    uv run python bench/bench_peers.py --quick          # 60 trials x 10 x 10 ms, 3 rounds, no 100 ms workload
    uv run python bench/bench_peers.py --context        # also (a) optuna threads + SQLite, as context

Every contender runs as a whole, fresh process (interpreter start, imports, worker start and shutdown included),
started and timed from here, and the contenders take turns (A B C A B C ...), so a change in this machine's load hits
them alike. Printed: min/median/max wall seconds per contender and the ratio of medians.

Contenders (same model, target, budget and seed; 2 workers):
- mops run:      `.venv/bin/mops run study.yaml --json` (the console script) with `execution.workers: 2`, TPE
                 multivariate with constant_liar, replicates grouped on the workers, targets scored there.
- optuna mp:     what Starsim's Calibration does and a modeller writes in 20 lines: one script, N processes on one
                 Optuna JournalStorage file, each `study.optimize(objective, n_trials=n/N)`; the objective runs the
                 replicates itself and scores them with the same target code. TPE multivariate with constant_liar,
                 each process seeded seed + rank (the same seed everywhere would propose the same points).
- simulations:   only the simulations, N processes each running its share in a loop (no optimiser, no records):
                 the machine's ideal, measured in the same rounds as the contenders (not once, at another moment).
- (a) threads:   (with --context) `study.optimize(n_jobs=2)` on SQLite, the objective as above: threads share the
                 GIL, so Python models do not overlap.

Then, each in a fresh process:
- startup: a trivial study (2 trials x 1 replicate of a 3-row model) as a whole `mops run` process: its wall time,
  and the time from launch to the first simulation's start (the model writes time.time() to a file);
- runner probe: 0 ms simulations, random sampler, `tell_order: completion`: trials per second between the first and
  the last recorded trial, and the runner process's own CPU per trial minus the time spent in the algorithm's
  ask/tell (RUSAGE_SELF: the workers are other processes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
MOPS = BIN / "mops"
WORKERS = 2
SEED = 42
TRUE_SLOPE = 2.0

sys.path.insert(0, str(HERE))
import bench_calibration as model  # noqa: E402  (the model: `simulate`, `_spin`, the observed line)

# --- study files ---------------------------------------------------------------------------------------------------


def write_study(
    folder: Path,
    *,
    n_trials: int,
    replicates: int,
    iterations: int,
    sampler: str = "tpe",
    tell_order: str = "submission",
    name: str = "bench",
    model_ref: str = "bench_calibration:simulate",
    project: Path = HERE,
    extra_execution: dict | None = None,
) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    obs = model._observed()
    (folder / "observed.csv").write_text(
        "t,y\n" + "".join(f"{t},{y!r}\n" for t, y in zip(obs["t"], obs["y"], strict=True))
    )
    options = {"sampler_options": {"multivariate": True, "constant_liar": True}} if sampler == "tpe" else {}
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": name,
        "model": {"fn_ref": model_ref, "project": str(project)},
        "parameters": {**model.SPACE, "fixed": {"iterations": iterations}},
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
        "algorithm": {"ref": "optuna", "sampler": sampler, "n_trials": n_trials, "seed": SEED, "options": options},
        "replicates": replicates,
        "execution": {"workers": WORKERS, "cache": False, "tell_order": tell_order, **(extra_execution or {})},
        "outputs": "none",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --- the peers, run as their own processes (`bench_peers.py --peer KIND ...`) ----------------------------------------


def _objective_factory(replicates: int, iterations: int, seed: int) -> Callable[[Any], float]:
    from calabaria.targets import TargetSet
    from modelops_contracts import derive_seed, make_param_id

    evaluator = TargetSet.from_config(model._target_config())

    def objective(trial: Any) -> float:
        params = {"slope": trial.suggest_float("slope", 0.0, 4.0), "iterations": iterations}
        pid = make_param_id(params)
        outputs = [model.simulate(params, derive_seed(pid, r, seed)) for r in range(replicates)]
        return evaluator.evaluate(outputs).loss

    return objective


def _optuna_process(journal: str, rank: int, n_trials: int, replicates: int, iterations: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    sampler = optuna.samplers.TPESampler(seed=SEED + rank, multivariate=True, constant_liar=True)
    study = optuna.load_study(study_name="bench", storage=storage, sampler=sampler)
    study.optimize(_objective_factory(replicates, iterations, SEED), n_trials=n_trials)


def peer_optuna_mp(folder: Path, n_trials: int, replicates: int, iterations: int) -> None:
    """N processes on one journal: the study is created once, then every process optimises its share."""
    import multiprocessing as mp

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal = str(folder / "optuna-mp.journal")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    optuna.create_study(study_name="bench", storage=storage, direction="minimize")
    shares = [n_trials // WORKERS + (1 if r < n_trials % WORKERS else 0) for r in range(WORKERS)]
    ctx = mp.get_context("fork")  # the fastest start Linux offers: the peer gets its best shot
    procs = [
        ctx.Process(target=_optuna_process, args=(journal, r, shares[r], replicates, iterations))
        for r in range(1, WORKERS)
    ]
    for p in procs:
        p.start()
    _optuna_process(journal, 0, shares[0], replicates, iterations)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"optuna process exited with {p.exitcode}")
    study = optuna.load_study(study_name="bench", storage=storage)
    done = [t for t in study.trials if t.state.is_finished()]
    print(json.dumps({"trials": len(done), "best": study.best_params["slope"]}))


def peer_optuna_threads(folder: Path, n_trials: int, replicates: int, iterations: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=SEED, multivariate=True, constant_liar=True)
    study = optuna.create_study(
        study_name="bench", storage=f"sqlite:///{folder / 'optuna-threads.db'}", sampler=sampler
    )
    study.optimize(_objective_factory(replicates, iterations, SEED), n_trials=n_trials, n_jobs=WORKERS)
    print(json.dumps({"trials": len(study.trials), "best": study.best_params["slope"]}))


def _spin_share(n: int, iterations: int) -> None:
    for _ in range(n):
        model._spin(iterations)


def peer_simulations(folder: Path, n_trials: int, replicates: int, iterations: int) -> None:
    """Only the simulations' CPU work, split over N processes: what no runner can beat on this machine now."""
    import multiprocessing as mp

    sims = n_trials * replicates
    shares = [sims // WORKERS + (1 if r < sims % WORKERS else 0) for r in range(WORKERS)]
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_spin_share, args=(shares[r], iterations)) for r in range(1, WORKERS)]
    for p in procs:
        p.start()
    _spin_share(shares[0], iterations)
    for p in procs:
        p.join()
    print(json.dumps({"trials": n_trials}))


PEERS = {"optuna-mp": peer_optuna_mp, "optuna-threads": peer_optuna_threads, "simulations": peer_simulations}


# --- timing from outside -------------------------------------------------------------------------------------------


def _timed_process(argv: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {done.returncode}:\n{done.stderr[-3000:]}")
    return wall, done.stdout


def contender_argv(kind: str, folder: Path, n_trials: int, replicates: int, iterations: int) -> list[str]:
    if kind == "mops run":
        study = write_study(folder, n_trials=n_trials, replicates=replicates, iterations=iterations)
        return [str(MOPS), "run", str(study), "--runs-dir", str(folder / "runs"), "--json"]
    peer = {"optuna mp": "optuna-mp", "(a) threads": "optuna-threads", "simulations": "simulations"}[kind]
    folder.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--peer",
        peer,
        "--dir",
        str(folder),
        "--trials",
        str(n_trials),
        "--replicates",
        str(replicates),
        "--iterations",
        str(iterations),
    ]


def _best(kind: str, stdout: str) -> float | None:
    try:
        data = json.loads(stdout[stdout.index("{") :]) if kind == "mops run" else json.loads(stdout.splitlines()[-1])
    except (ValueError, IndexError):
        return None
    if kind == "mops run":
        best = data.get("best") or {}
        return best.get("param.slope")
    return data.get("best")


def workload(label: str, n_trials: int, replicates: int, cost_ms: float, rounds: int, kinds: list[str]) -> dict:
    iterations = round(cost_ms * model.iterations_per_ms())
    print(
        f"\n{label}: {n_trials} trials x {replicates} replicates x {cost_ms:g} ms ({iterations} loop iterations), "
        f"{WORKERS} workers, {rounds} interleaved rounds; load before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    bests: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        for r in range(rounds):
            order = kinds if r % 2 == 0 else kinds[::-1]  # A B C, C B A, ...: no contender always goes first
            for kind in order:
                folder = Path(tmp) / f"{kind.replace(' ', '-').strip('()')}-{r}"
                wall, out = _timed_process(contender_argv(kind, folder, n_trials, replicates, iterations))
                walls[kind].append(wall)
                best = _best(kind, out)
                if best is not None:
                    bests[kind].append(best)
                print(f"  round {r + 1} {kind:<12} {wall:7.2f} s", flush=True)
    print(f"  load after: {os.getloadavg()[0]:.2f}")
    med = {k: statistics.median(v) for k, v in walls.items()}
    print(f"  {'contender':<14}{'min s':>8}{'median s':>10}{'max s':>8}{'mops speed-up':>15}{'best slope':>12}")
    for k in kinds:
        v = walls[k]
        slope = f"{statistics.median(bests[k]):.3f}" if bests[k] else "-"
        print(f"  {k:<14}{min(v):>8.2f}{med[k]:>10.2f}{max(v):>8.2f}{med[k] / med['mops run']:>14.2f}x{slope:>12}")
    if "optuna mp" in med:
        print(f"  => mops run is {med['optuna mp'] / med['mops run']:.2f}x multi-process Optuna (ratio of medians)")
    return {"walls": walls, "median": med}


# --- startup: a trivial study as a whole process -------------------------------------------------------------------

TINY_MODEL = """\
import os, time


def simulate(params, seed):
    marker = os.environ.get("MOPS_BENCH_FIRST_SIM")
    if marker:
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            pass
        else:
            os.write(fd, repr(time.time()).encode())
            os.close(fd)
    import polars as pl

    return {"line": pl.DataFrame({"t": [0, 1, 2], "y": [float(params["slope"]) * t + 1.0 for t in range(3)]})}
"""


def startup(rounds: int) -> dict:
    print(f"\nstartup: a trivial study (2 trials x 1 replicate of a 3-row model), whole `mops run` process, {rounds}x")
    totals: list[float] = []
    firsts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        (folder / "tiny_model.py").write_text(TINY_MODEL)
        study = write_study(
            folder, n_trials=2, replicates=1, iterations=0, name="tiny", model_ref="tiny_model:simulate", project=folder
        )
        for r in range(rounds):
            marker = folder / f"first-{r}"
            env = {**os.environ, "MOPS_BENCH_FIRST_SIM": str(marker)}
            argv = [str(MOPS), "run", str(study), "--runs-dir", str(folder / "runs"), "--json"]
            launched = time.time()
            wall, _ = _timed_process(argv, env=env, timeout=120)
            first = float(marker.read_text()) - launched
            totals.append(wall)
            firsts.append(first)
            print(
                f"  run {r + 1}: whole process {wall:.2f} s, first simulation started after {first:.2f} s", flush=True
            )
    print(
        f"  whole process min/median/max {min(totals):.2f}/{statistics.median(totals):.2f}/{max(totals):.2f} s; "
        f"first simulation {min(firsts):.2f}/{statistics.median(firsts):.2f}/{max(firsts):.2f} s"
    )
    return {"total": totals, "first": firsts}


# --- runner probe: 0 ms simulations ---------------------------------------------------------------------------------


def probe(n_trials: int, folder: Path) -> None:
    """In a fresh process: run the study through run_study and print throughput and runner CPU per trial as JSON.

    Steady state: from the 10th recorded trial to the last (worker start and the first asks excluded). CPU is this
    process's (every thread; the workers are other processes) minus the CPU the driver's thread spent inside the
    algorithm's ask/tell (``RunProgress.algorithm_cpu_s``): what the runner itself costs per trial.
    """
    from modelops.runner import RunOptions, run_study

    study = write_study(
        folder, n_trials=n_trials, replicates=4, iterations=0, sampler="random", tell_order="completion", name="probe"
    )
    marks: list[tuple[float, float, float, float, int]] = []

    def mark(p: Any) -> None:
        marks.append((time.perf_counter(), time.process_time(), p.algorithm_cpu_s, p.records_s, p.recorded))

    t0 = time.perf_counter()
    summary = run_study(study, RunOptions(runs_dir=str(folder / "runs"), handle_signals=False), progress=mark)
    wall = time.perf_counter() - t0
    k = min(10, len(marks) - 2)
    (ta, ca, aa, ra, na), (tb, cb, ab, rb, nb) = marks[k], marks[-1]
    n = nb - na
    print(
        json.dumps(
            {
                "n_trials": n_trials,
                "recorded": summary.recorded,
                "wall_s": wall,
                "trials_per_s": n / (tb - ta),
                "cpu_ms_per_trial": 1000 * (cb - ca) / n,
                "algorithm_ms_per_trial": 1000 * (ab - aa) / n,
                "records_ms_per_trial": 1000 * (rb - ra) / n,
                "runner_ms_per_trial": 1000 * ((cb - ca) - (ab - aa)) / n,
            }
        )
    )


def run_probes(n_trials: int, rounds: int) -> list[dict]:
    print(f"\nrunner probe: {n_trials} trials x 4 replicates of 0 ms, random sampler, tell_order completion, {rounds}x")
    out = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
            argv = [sys.executable, str(Path(__file__).resolve()), "--probe", str(n_trials), "--dir", tmp]
            _, stdout = _timed_process(argv, timeout=600)
            p = json.loads(stdout.strip().splitlines()[-1])
        out.append(p)
        print(
            f"  {p['trials_per_s']:7.0f} trials/s; runner CPU {p['cpu_ms_per_trial']:.2f} ms/trial, of which ask/tell "
            f"{p['algorithm_ms_per_trial']:.2f} ms (records: {p['records_ms_per_trial']:.2f} ms wall): "
            f"{p['runner_ms_per_trial']:.2f} ms/trial excluding ask/tell",
            flush=True,
        )
    rates = [p["trials_per_s"] for p in out]
    own = [p["runner_ms_per_trial"] for p in out]
    print(
        f"  trials/s min/median/max {min(rates):.0f}/{statistics.median(rates):.0f}/{max(rates):.0f}; runner CPU "
        f"excluding ask/tell {min(own):.2f}/{statistics.median(own):.2f}/{max(own):.2f} ms/trial"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="60 trials x 10 x 10 ms only, then the probes.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds per workload (default 3).")
    parser.add_argument("--context", action="store_true", help="Also time (a) optuna n_jobs=2 threads + SQLite.")
    parser.add_argument("--only", choices=("10ms", "100ms", "startup", "probe"), action="append", default=None)
    parser.add_argument("--probe-trials", type=int, default=2000)
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trials", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--replicates", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--iterations", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        PEERS[args.peer](args.dir, args.trials, args.replicates, args.iterations)
        return
    if args.probe is not None:
        probe(args.probe, args.dir)
        return

    print(f"bench_peers: {os.cpu_count()} cores, load {os.getloadavg()}, python {sys.version.split()[0]}")
    kinds = ["mops run", "optuna mp", "simulations"] + (["(a) threads"] if args.context else [])
    only = set(args.only or ("10ms", "100ms", "startup", "probe"))
    if args.quick and ("10ms" in only or "100ms" in only):
        workload("quick", 60, 10, 10.0, args.rounds, kinds)
    elif not args.quick:
        if "10ms" in only:
            workload("10 ms", 200, 10, 10.0, args.rounds, kinds)
        if "100ms" in only:
            workload("100 ms", 100, 10, 100.0, args.rounds, kinds)
    if "startup" in only:
        startup(max(3, args.rounds))
    if "probe" in only:
        run_probes(args.probe_trials, args.rounds)


if __name__ == "__main__":
    main()
