"""The driver on the local process pool: any batch size, determinism across backends, time limits, the model
loaded only on the workers, completion order, and the start-up order that lets workers import while the runner builds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from modelops.runner import RunError, RunOptions, driver, run_study
from modelops.store import results
from modelops.store.results import VOLATILE_COLUMNS, RunStore


def _run(spec: Path, runs: Path, run_id: str, **kwargs) -> object:
    return run_study(spec, RunOptions(runs_dir=str(runs), run_id=run_id, handle_signals=False, **kwargs))


def _trials(runs: Path, run_id: str):
    frame = RunStore(str(runs), run_id).load_trials()
    return frame.select([c for c in frame.columns if c not in VOLATILE_COLUMNS])


def test_the_driver_uses_the_record_layout_names_of_the_store() -> None:
    # The driver repeats these names so that importing it does not import polars; they must not drift apart.
    for name in ("MANIFEST", "SPEC", "STUDY"):
        assert getattr(driver, name) == getattr(results, name)


def test_importing_the_runner_does_not_import_polars_or_the_execution_layer() -> None:
    import subprocess

    code = (
        "import sys, modelops.runner, modelops.cli.run; "
        "print(sorted(m for m in ('polars', 'pyarrow', 'optuna', 'distributed', 'fsspec') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("batch_size", [1, 3, 5, 8, 16])
def test_any_batch_size_completes_on_two_workers_and_repeats_exactly(toy_study, tmp_path: Path, batch_size) -> None:
    # Issue 20: a batch larger than the window of trials in flight (2 workers: 4) used to wait at 0 trials for ever.
    spec = toy_study(
        algorithm={"ref": "optuna", "sampler": "tpe", "n_trials": 10, "seed": 4},
        batch_size=batch_size,
        execution={"workers": 2, "cache": False},
    )
    runs = tmp_path / "runs"
    first = _run(spec, runs, "a")
    assert first.status == "completed" and first.recorded == 10
    if batch_size in (5, 16):  # determinism in submission order, with a batch above the window
        _run(spec, runs, "b")
        assert _trials(runs, "a").equals(_trials(runs, "b"))


def test_submission_order_gives_the_same_trials_on_every_backend(toy_study, tmp_path: Path) -> None:
    # The same window (max_in_flight) on each backend: the ask/tell sequence, hence every trial, depends on the seeds.
    runs = tmp_path / "runs"
    frames = []
    for name, execution in (
        ("inprocess", {"workers": 0, "max_in_flight": 3}),
        ("pool", {"workers": 2, "max_in_flight": 3}),
        ("dask", {"workers": 2, "backend": "dask", "max_in_flight": 3}),
    ):
        spec = toy_study(algorithm={"ref": "optuna", "sampler": "tpe", "n_trials": 12, "seed": 9}, execution=execution)
        summary = _run(spec, runs, name)
        assert summary.status == "completed" and summary.recorded == 12, name
        frames.append(_trials(runs, name))
    assert frames[0].equals(frames[1]) and frames[0].equals(frames[2])


def test_a_simulation_over_its_time_limit_is_a_timeout_trial_and_the_run_goes_on(toy_study, tmp_path: Path) -> None:
    spec = toy_study(
        parameters={"slope": {"low": 0.0, "high": 4.0}, "fixed": {"slow_above": 2.0, "slow_s": 30.0}},
        algorithm={"ref": "optuna", "sampler": "random", "n_trials": 12, "seed": 1},
        replicates=1,
        execution={"workers": 2, "timeout_s": 0.5, "retries": 0, "cache": False},
    )
    t0 = time.monotonic()
    summary = _run(spec, tmp_path / "runs", "t")
    assert time.monotonic() - t0 < 25  # nowhere near one 30 s simulation, let alone several
    trials = RunStore(str(tmp_path / "runs"), "t").load_trials()
    slow = trials.filter(trials["param.slope"] > 2.0)
    assert summary.recorded == 12 and slow.height >= 1
    assert set(slow["status"]) == {"timeout"}
    assert all("timeout" in e for e in slow["error"])
    assert set(trials.filter(trials["param.slope"] <= 2.0)["status"]) == {"completed"}


def test_the_model_is_imported_by_the_workers_never_by_the_runner(toy_study, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    module = "h2_only_on_workers_model"
    (project / f"{module}.py").write_text((Path(__file__).parent / "run_toy_model.py").read_text())
    spec = toy_study(
        model={"fn_ref": f"{module}:simulate", "project": str(project)},
        execution={"workers": 2, "cache": False},
    )
    summary = _run(spec, tmp_path / "runs", "w")
    assert summary.status == "completed" and summary.completed == 12
    assert module not in sys.modules


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("import no_such_dependency_xyz\n", "No module named 'no_such_dependency_xyz'"),
        ("import os\nos._exit(3)\n", "code 3"),
    ],
)
def test_a_model_that_cannot_load_on_the_workers_fails_the_run_before_any_record(
    toy_study, tmp_path: Path, body: str, expected: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "broken_model.py").write_text(body + "def simulate(params, seed):\n    return {}\n")
    spec = toy_study(
        model={"fn_ref": "broken_model:simulate", "project": str(project)},
        execution={"workers": 2, "cache": False},
    )
    with pytest.raises(RunError, match=expected):
        _run(spec, tmp_path / "runs", "broken")
    assert not RunStore(str(tmp_path / "runs"), "broken").exists()


def test_completion_order_records_every_trial_once(toy_study, tmp_path: Path) -> None:
    spec = toy_study(
        algorithm={"ref": "optuna", "sampler": "random", "n_trials": 60, "seed": 2},
        execution={"workers": 2, "tell_order": "completion", "cache": False},
    )
    seen = []
    summary = run_study(
        spec,
        RunOptions(runs_dir=str(tmp_path / "runs"), run_id="c", handle_signals=False),
        progress=lambda p: seen.append((p.recorded, p.algorithm_cpu_s)),
    )
    trials = RunStore(str(tmp_path / "runs"), "c").load_trials()
    assert summary.recorded == 60 and trials.height == 60 and trials["param_id"].n_unique() == 60
    assert [n for n, _ in seen] == list(range(1, 61))
    assert seen[-1][1] > 0 and summary.algorithm_cpu_s >= seen[-1][1]


def test_the_manifest_code_digest_is_the_cache_identity_found_without_importing(tmp_path: Path) -> None:
    from modelops.store.cache import code_identity

    package = tmp_path / "proj" / "h2_pkg_model"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "model.py").write_text("def simulate(params, seed):\n    return {}\n")
    (package / "helpers.py").write_text("X = 1\n")
    here = str(Path(__file__).parent)
    cases = [
        ("h2_pkg_model.sub.model:simulate", (str(tmp_path / "proj"),)),
        ("run_toy_model:simulate", (here,)),
        ("polars:DataFrame", ()),
    ]
    static = [driver.static_code_identity(ref, None, search_path) for ref, search_path in cases]
    assert "h2_pkg_model" not in sys.modules  # found and hashed, never imported
    for (ref, search_path), found in zip(cases, static, strict=True):
        assert found is not None and found == code_identity(ref, None, search_path), ref
    assert driver.static_code_identity("no_such_module_h2:f", None, ()) is None


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the pool's processes")
def test_mops_run_exits_without_waiting_for_the_pool_and_leaves_no_process(toy_study, tmp_path: Path, mops_cmd):
    import json
    import os
    import subprocess
    import uuid

    marker = f"H2_POOL_MARK={uuid.uuid4().hex}"
    spec = toy_study(execution={"workers": 2, "cache": False})
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    done = subprocess.run(
        [*mops_cmd, "run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recorded"] == 12
    deadline = time.monotonic() + 20
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []  # the launcher and its workers stopped once the runner was gone


def test_an_algorithm_that_refuses_the_study_is_the_error_reported(toy_study, tmp_path: Path) -> None:
    spec = toy_study(
        algorithm={
            "ref": "optuna",
            "sampler": "tpe",
            "n_trials": 5,
            "seed": 1,
            "options": {"sampler_options": {"x": 1}},
        },
        execution={"workers": 2, "cache": False},
    )
    with pytest.raises(RunError, match="refused the study"):
        _run(spec, tmp_path / "runs", "algo")
    assert not RunStore(str(tmp_path / "runs"), "algo").exists()


def test_targets_the_workers_cannot_build_fail_the_run_with_the_reason(toy_study, tmp_path: Path) -> None:
    spec = toy_study(
        targets=[
            {
                "name": "line",
                "output": "line",
                "observed": "observed.csv",
                "keys": ["day"],
                "values": ["y"],
                "loss": "mse",
            }
        ],
        execution={"workers": 2, "cache": False},
    )
    with pytest.raises(RunError, match=r"targets are invalid[\s\S]*day"):
        _run(spec, tmp_path / "runs", "targets")
    assert not RunStore(str(tmp_path / "runs"), "targets").exists()
