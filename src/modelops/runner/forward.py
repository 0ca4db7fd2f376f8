"""Forward simulation studies (`kind: Simulation`): parameter sets x scenarios x replicates, every output kept.

The same execution path as a calibration: the spec's execution (local Dask cluster, a scheduler, or in process),
the bundle, the simulation cache in the run directory, :class:`SimulationGroup` per parameter set with its replicates'
seeds derived from the param_id and the base seed. There is no algorithm and no target: groups are submitted in a
fixed order, their outputs come back to the runner and are written as Parquet::

    <run>/outputs/<output>/<scenario>/<param_id>/replicate-0000.parquet  (+ output, scenario, param_id, replicate, seed)
    <run>/simulations.parquet   one row per (scenario, parameter set): status, error, parameters
    <run>/manifest.json         kind: Simulation, status, counts

One output table: ``duckdb.sql("select ... from '<run>/outputs/**/*.parquet'")``. Several tables (different
columns): glob one, ``'<run>/outputs/incidence/**/*.parquet'``, or all with ``read_parquet('<run>/outputs/**/*.parquet',
union_by_name=true)`` and filter on the ``output`` column (a plain glob over mixed tables lines columns up by
position).

Resume (``--resume RUN_ID`` or the same ``--run-id``): groups recorded as ok in simulations.parquet are skipped, the
rest run again (their files are rewritten with identical content: simulations are deterministic in their seed).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from modelops.runner.ids import check_run_id, new_run_id
from modelops.runner.posterior import load_posterior
from modelops.runner.services import open_service, service_description
from modelops.specs.base import SpecError, load_spec
from modelops.specs.simulation import SimulationSpec
from modelops.specs.study import resolve_path
from modelops.store import manifest as manifests
from modelops.store.results import MANIFEST, PARAM_PREFIX, SPEC, RunNotFound, RunStore, runs_dir_url
from modelops_contracts import SeedInfo, UniqueParameterSet

SIMULATIONS = "simulations.parquet"
FLUSH_EVERY = 50  # groups between rewrites of simulations.parquet (a kill loses at most this much bookkeeping)
SWEEP_REF = "calabaria.algorithms:SweepAlgorithm"  # by reference: modelops never imports the science package


class ForwardError(RuntimeError):
    """The simulation study cannot run as written; the message says what to change."""


@dataclass(frozen=True)
class ForwardSummary:
    run_id: str
    url: str
    status: str
    groups: int
    ok: int
    failed: int
    skipped: int
    simulations: int
    elapsed_s: float
    outputs_url: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Job:
    scenario: str
    set_index: int
    ups: UniqueParameterSet
    seeds: tuple[int, ...]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def base_parameter_sets(spec: SimulationSpec, spec_path: str | Path, runs_dir: str | None) -> list[dict[str, Any]]:
    """The parameter sets before scenario patches, fixed values included, in a deterministic order."""
    sets = spec.parameter_sets
    fixed = dict(spec.parameters.get("fixed") or {})
    if sets.sets is not None:
        rows = [dict(r) for r in sets.sets]
    elif sets.csv is not None:
        path = resolve_path(spec_path, sets.csv)
        try:
            rows = pl.read_csv(path).to_dicts()
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise ForwardError(f"parameter_sets.csv: cannot read {path}: {exc}") from None
        if not rows:
            raise ForwardError(f"parameter_sets.csv: {path} has no rows")
    elif sets.design is not None:
        rows = _design(spec)
    else:
        rows = _from_run(spec, runs_dir)
    return [{**fixed, **{k: _plain(v) for k, v in row.items()}} for row in rows]


def _design(spec: SimulationSpec) -> list[dict[str, Any]]:
    from modelops.core.fnref import resolve

    design = spec.parameter_sets.design
    assert design is not None
    space = {k: v for k, v in spec.parameters.items() if k != "fixed"}
    try:
        sweep = resolve(SWEEP_REF)(
            space,
            seed=design.seed,
            method=design.method,
            grid_points_per_dim=design.grid_points_per_dim,
            **({"n_points": design.n_points} if design.n_points else {}),
        )
    except ImportError as exc:
        raise ForwardError(f"parameter_sets.design needs the science package ({exc})") from None
    except (TypeError, ValueError) as exc:
        raise ForwardError(f"parameter_sets.design: {exc}") from None
    return [dict(p.params) for p in sweep.points]


def _from_run(spec: SimulationSpec, runs_dir: str | None) -> list[dict[str, Any]]:
    sets = spec.parameter_sets
    assert sets.from_run is not None
    source = RunStore(runs_dir_url(sets.runs_dir or runs_dir), sets.from_run)
    try:
        source.manifest()
    except RunNotFound:
        raise ForwardError(
            f"parameter_sets.from_run: there is no run {sets.from_run!r} under {source.runs_dir}; see `mops runs "
            "list` or set parameter_sets.runs_dir"
        ) from None
    trials = source.load_trials()
    done = trials.filter(pl.col("status") == "completed") if trials.height else trials
    if sets.best is not None:
        if done.height < sets.best:
            raise ForwardError(
                f"parameter_sets.best: {sets.best} asked but run {sets.from_run!r} has {done.height} completed trials"
            )
        best = done.sort(["loss", "trial"]).head(sets.best)
        return [json.loads(p) for p in best["params_json"].to_list()]
    posterior = load_posterior(source)
    if posterior is None or posterior.height == 0:
        raise ForwardError(
            f"parameter_sets.posterior_draws: run {sets.from_run!r} has no posterior.parquet (run it with "
            "algorithm abc-smc), or take its best trials with best: K"
        )
    last = posterior.filter(pl.col("generation") == posterior["generation"].max())
    weights = last["weight"].to_numpy().astype(float)
    rng = np.random.default_rng(sets.seed)
    assert sets.posterior_draws is not None
    picks = rng.choice(last.height, size=sets.posterior_draws, replace=True, p=weights / weights.sum())
    params_of = dict(zip(trials["param_id"].to_list(), trials["params_json"].to_list(), strict=True))
    return [json.loads(params_of[last["param_id"][int(i)]]) for i in picks]


def plan(spec: SimulationSpec, spec_path: str | Path, runs_dir: str | None) -> list[_Job]:
    """Every (scenario, parameter set) group in submission order: scenarios in spec order, then the sets."""
    base = base_parameter_sets(spec, spec_path, runs_dir)
    jobs = []
    for scenario, patch in spec.scenario_patches().items():
        for i, params in enumerate(base):
            full = {**params, **patch}
            try:
                ups = UniqueParameterSet.from_dict(full)
            except Exception as exc:  # the contract refuses non-JSON values, NaN...
                raise ForwardError(f"scenario {scenario!r}, parameter set {i}: {exc}") from None
            seeds = SeedInfo.for_replicates(ups.param_id, spec.replicates, spec.seed).replicate_seeds
            jobs.append(_Job(scenario, i, ups, tuple(seeds)))
    return jobs


def _write_outputs(store: RunStore, job: _Job, replicate: int, seed: int, outputs: dict[str, bytes]) -> int:
    written = 0
    for name, payload in outputs.items():
        frame = pl.read_ipc_stream(io.BytesIO(payload)).with_columns(
            pl.lit(name).alias("output"),
            pl.lit(job.scenario).alias("scenario"),
            pl.lit(job.ups.param_id).alias("param_id"),
            pl.lit(replicate, dtype=pl.Int32).alias("replicate"),
            pl.lit(seed, dtype=pl.UInt64).alias("seed"),
        )
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        store.write_bytes(f"outputs/{name}/{job.scenario}/{job.ups.param_id}/replicate-{replicate:04d}.parquet",
                          buffer.getvalue())  # fmt: skip
        written += 1
    return written


def _row(job: _Job, status: str, error: str | None, n_ok: int, duration: float) -> dict[str, Any]:
    params = dict(job.ups.params)
    return {
        "scenario": job.scenario,
        "set": job.set_index,
        "param_id": job.ups.param_id,
        "status": status,
        "error": error,
        "replicates_ok": n_ok,
        "duration_s": round(duration, 4),
        "params_json": json.dumps(params, sort_keys=True),
        **{PARAM_PREFIX + k: v if isinstance(v, int | float | str) else json.dumps(v) for k, v in params.items()},
    }


def _flush(store: RunStore, rows: dict[tuple[str, str], dict[str, Any]], order: list[tuple[str, str]]) -> None:
    frame = pl.DataFrame([rows[k] for k in order if k in rows], infer_schema_length=None)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    store.write_bytes(SIMULATIONS, buffer.getvalue())


def run_simulation(
    spec_path: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    run_id: str | None = None,
    resume: bool = False,
    runs_dir: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ForwardSummary:
    """Run (or continue) a forward simulation study; returns its summary."""
    try:
        spec = load_spec(SimulationSpec, spec_path)
    except SpecError as exc:
        raise ForwardError(str(exc)) from None
    name = spec.name or Path(spec_path).stem
    run_id = run_id or new_run_id(name)
    try:
        check_run_id(run_id)
    except ValueError as exc:
        raise ForwardError(str(exc)) from None
    store = RunStore(runs_dir_url(runs_dir), run_id)
    existing = store.exists()
    if resume and not existing:
        raise ForwardError(f"there is no run {run_id!r} under {store.runs_dir} to resume; see `mops runs list`")
    if existing and store.manifest().get("kind") != "Simulation":
        raise ForwardError(f"run {run_id!r} is a calibration run, not a simulation study; choose another --run-id")
    jobs = plan(spec, spec_path, runs_dir)
    search_path: tuple[str, ...] = ()
    if spec.model.project is not None:
        project = resolve_path(spec_path, spec.model.project)
        if not project.is_dir():
            raise ForwardError(f"model.project {project} is not a directory")
        search_path = (str(project),)
    bundle_ref = None
    if spec.bundle is not None:
        from modelops.runner.study import StudyError, bundle_ref_for

        try:
            bundle_ref, _ = bundle_ref_for(spec, spec_path)
        except StudyError as exc:
            raise ForwardError(str(exc)) from None

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if existing and store.fs.exists(store.path(SIMULATIONS)):
        for row in pl.read_parquet(io.BytesIO(store.read_bytes(SIMULATIONS))).to_dicts():
            rows[(row["scenario"], row["param_id"])] = row
    order = [(j.scenario, j.ups.param_id) for j in jobs]
    todo = [j for j in jobs if rows.get((j.scenario, j.ups.param_id), {}).get("status") != "ok"]
    remote, description = service_description(spec.execution, workers, scheduler)
    if not existing:
        store.write_bytes(SPEC, Path(spec_path).read_bytes())
    manifest = {
        "kind": "Simulation",
        "run_id": run_id,
        "study": name,
        "spec_file": str(Path(spec_path).resolve()),
        "base_seed": spec.seed,
        "replicates": spec.replicates,
        "n_groups": len(jobs),
        "scenarios": list(spec.scenario_patches()),
        "model_ref": spec.model.ref,
        "bundle_ref": bundle_ref,
        "execution": {"service": description},
        "status": "running",
        "started_at": manifests.utc_now(),
        "runner": manifests.runner_identity(),
    }
    store.write_json(MANIFEST, manifest)
    cache_url = store.url_of("cache") if store.is_local and not remote and spec.execution.cache is True else None
    if isinstance(spec.execution.cache, str):
        cache_url = spec.execution.cache
    started = time.perf_counter()
    # Scenarios that end with identical parameters share one group (same param_id, same seeds): simulated once,
    # written under each scenario.
    jobs_of: dict[str, list[_Job]] = {}
    for job in todo:
        jobs_of.setdefault(job.ups.param_id, []).append(job)
    ok = failed = sims = done = flushed = 0
    status = "failed"
    try:
        from modelops.services.pipeline import run_groups
        from modelops.services.tasks import SimulationGroup

        def groups() -> Iterator[SimulationGroup]:
            for param_id, same in jobs_of.items():
                yield SimulationGroup(
                    fn_ref=spec.model.ref,
                    params=dict(same[0].ups.params),
                    param_id=param_id,
                    seeds=same[0].seeds,
                    bundle_ref=bundle_ref,
                    cache_url=cache_url,
                    return_outputs=True,
                    search_path=search_path,
                )

        with open_service(spec.execution, workers, scheduler) as service:
            for result in run_groups(service, groups(), spec.execution.max_in_flight):
                sims += len(result.replicates)
                for job in jobs_of.get(result.param_id, []):
                    n_ok = 0
                    for outcome in result.replicates:
                        if outcome.ok and outcome.outputs is not None:
                            _write_outputs(store, job, outcome.replicate, outcome.seed, dict(outcome.outputs))
                            n_ok += 1
                    rows[(job.scenario, job.ups.param_id)] = _row(
                        job, "ok" if result.ok else "failed", result.error, n_ok, result.duration_s
                    )
                    ok += result.ok
                    failed += not result.ok
                    done += 1
                if done - flushed >= FLUSH_EVERY:
                    _flush(store, rows, order)
                    flushed = done
                if progress is not None:
                    progress(done, len(todo))
        status = "completed" if failed == 0 else "completed_with_failures"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if rows:
            _flush(store, rows, order)
        manifest.update(
            status=status,
            ended_at=manifests.utc_now(),
            summary={"groups": len(jobs), "ok": ok, "failed": failed, "skipped": len(jobs) - len(todo),
                     "simulations": sims},
        )  # fmt: skip
        store.write_json(MANIFEST, manifest)
    return ForwardSummary(
        run_id=run_id,
        url=store.url,
        status=status,
        groups=len(jobs),
        ok=ok,
        failed=failed,
        skipped=len(jobs) - len(todo),
        simulations=sims,
        elapsed_s=time.perf_counter() - started,
        outputs_url=store.url_of("outputs"),
    )
