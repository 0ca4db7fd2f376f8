"""Forward simulation studies: a calibration's best 5 trials x 20 replicates x 2 scenarios, read back with DuckDB,
polars and pandas from one glob; resume skips what is done; bad specs are refused clearly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml
from science_helpers import SIR, write_study

from modelops.runner.driver import RunOptions, run_study
from modelops.runner.forward import ForwardError, run_simulation
from modelops.specs.base import SpecError, load_spec
from modelops.specs.simulation import SimulationSpec

pytestmark = pytest.mark.slow


def _calibrate(tmp_path: Path) -> str:
    spec = yaml.safe_load((SIR / "study.yaml").read_text())
    spec["model"]["project"] = str(SIR)
    spec["targets"][0]["observed"] = str(SIR / "data" / "observed.csv")
    spec["algorithm"] = {"ref": "optuna", "sampler": "random", "n_trials": 12, "seed": 1}
    spec["replicates"] = 1
    spec["execution"] = {"workers": 0}
    run_study(write_study(tmp_path / "cal", spec), RunOptions(runs_dir=str(tmp_path / "runs"), run_id="cal",
                                                              handle_signals=False))  # fmt: skip
    return "cal"


def _forward_spec(folder: Path, source: str, **over) -> Path:
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Simulation",
        "name": "sir-forward",
        "model": {"fn_ref": "sir_model:simulate", "project": str(SIR)},
        "parameter_sets": {"from_run": source, "best": 5},
        "scenarios": [
            {"name": "baseline"},
            {"name": "longer", "patch": {"days": 150}},
        ],
        "replicates": 20,
        "seed": 4,
        "execution": {"workers": 2},
        **over,
    }
    return write_study(folder, spec)


def test_forward_from_best_trials_x_replicates_x_scenarios_reads_with_one_glob(tmp_path: Path) -> None:
    import duckdb
    import pandas as pd

    source = _calibrate(tmp_path)
    runs = tmp_path / "runs"
    spec = _forward_spec(tmp_path / "fwd", source)
    summary = run_simulation(spec, run_id="fwd", runs_dir=str(runs))
    assert summary.status == "completed" and summary.groups == 10 and summary.ok == 10
    assert summary.simulations == 10 * 20
    glob = f"{runs}/fwd/outputs/incidence/**/*.parquet"  # the SIR model has two outputs: incidence, prevalence
    counts = duckdb.sql(
        f"select scenario, count(distinct param_id) as sets, count(distinct replicate) as reps, count(*) as rows, "
        f"max(day) as last_day from '{glob}' group by scenario order by scenario"
    ).fetchall()
    print("duckdb:", counts)
    assert counts == [("baseline", 5, 20, 5 * 20 * 100, 99), ("longer", 5, 20, 5 * 20 * 150, 149)]
    every = duckdb.sql(
        f"select output, count(*), count(cases), count(infected) from read_parquet('{runs}/fwd/outputs/**/*.parquet',"
        " union_by_name=true) group by output order by output"
    ).fetchall()
    print("duckdb, every output:", every)
    assert every == [("incidence", 25000, 25000, 0), ("prevalence", 25000, 0, 25000)]
    frame = pl.read_parquet(glob)
    assert frame.height == 5 * 20 * (100 + 150)
    assert set(frame.columns) >= {"day", "cases", "output", "scenario", "param_id", "replicate", "seed"}
    assert len(pd.read_parquet(runs / "fwd" / "outputs" / "incidence")) == frame.height
    # The five sets are the calibration's five best trials.
    best = pl.read_parquet(runs / "cal" / "trials.parquet").sort("loss").head(5)
    sims = pl.read_parquet(runs / "fwd" / "simulations.parquet")
    assert sorted(sims.filter(pl.col("scenario") == "baseline")["param_id"].to_list()) == sorted(best["param_id"])

    again = run_simulation(spec, run_id="fwd", runs_dir=str(runs), resume=True)
    assert again.skipped == 10 and again.simulations == 0


def test_forward_design_and_composed_scenarios(tmp_path: Path) -> None:
    spec = _forward_spec(
        tmp_path / "d",
        "unused",
        parameters={"beta": {"low": 0.2, "high": 0.5}, "fixed": {"gamma": 0.1, "days": 30}},
        parameter_sets={"design": {"method": "lhs", "n_points": 3, "seed": 2}},
        scenarios=[
            {"name": "a", "patch": {"days": 20}},
            {"name": "b", "patch": {"population": 5000}},
            {"name": "ab", "compose": ["a", "b"], "patch": {"initial_infected": 5}},
        ],
        replicates=2,
        execution={"workers": 0},
    )
    summary = run_simulation(spec, run_id="d", runs_dir=str(tmp_path / "runs"))
    assert summary.groups == 9 and summary.ok == 9
    sims = pl.read_parquet(tmp_path / "runs" / "d" / "simulations.parquet")
    ab = sims.filter(pl.col("scenario") == "ab").row(0, named=True)
    assert (ab["param.days"], ab["param.population"], ab["param.initial_infected"]) == (20, 5000, 5)


def test_forward_specs_are_checked(tmp_path: Path) -> None:
    def load(**over) -> SimulationSpec:
        return load_spec(SimulationSpec, _forward_spec(tmp_path / "bad", "x", **over))

    with pytest.raises(SpecError, match="exactly one of design, list, csv or from_run"):
        load(parameter_sets={"from_run": "x", "best": 2, "list": [{"a": 1}]})
    with pytest.raises(SpecError, match="exactly one of best"):
        load(parameter_sets={"from_run": "x"})
    with pytest.raises(SpecError, match="cycle"):
        load(scenarios=[{"name": "a", "compose": ["b"]}, {"name": "b", "compose": ["a"]}])
    with pytest.raises(SpecError, match="unknown scenarios"):
        load(scenarios=[{"name": "a", "compose": ["zz"]}])
    with pytest.raises(ForwardError, match="there is no run 'x'"):
        run_simulation(_forward_spec(tmp_path / "nr", "x"), run_id="n", runs_dir=str(tmp_path / "runs"))


def test_study_priors_and_abc_smc_load_through_the_spec(tmp_path: Path) -> None:
    from modelops.runner.driver import RunError

    spec = yaml.safe_load((SIR / "abc.yaml").read_text())
    spec["model"]["project"] = str(SIR)
    spec["targets"][0]["observed"] = str(SIR / "data" / "observed.csv")
    spec["parameters"]["beta"]["prior"] = {"dist": "lognormal", "mu": -1.0, "sigma": 0.3}
    spec["algorithm"]["options"] = {"population_size": 10, "generations": 1}
    spec["execution"] = {"workers": 0}
    summary = run_study(write_study(tmp_path / "p", spec), RunOptions(runs_dir=str(tmp_path / "runs"), run_id="p",
                                                                      handle_signals=False))  # fmt: skip
    # 10 particles make the population; candidates already asked when it closed (the window asks ahead) are
    # recorded too but not used, so a run records at least 10.
    assert summary.status == "completed" and summary.recorded >= 10
    study = yaml.safe_load((tmp_path / "runs" / "p" / "study.json").read_text())
    assert study["space"]["beta"]["prior"] == {"dist": "lognormal", "mu": -1.0, "sigma": 0.3}
    spec["parameters"]["beta"]["prior"] = {"dist": "gamma", "k": 2}
    with pytest.raises(RunError, match="prior dist must be one of"):
        run_study(write_study(tmp_path / "q", spec), RunOptions(runs_dir=str(tmp_path / "runs"), run_id="q",
                                                                handle_signals=False))  # fmt: skip
