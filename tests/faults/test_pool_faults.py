"""Models that kill, crash, stop or hang their worker, on the process pool (real processes, no mocks).

Each costs its own group (retried, then failed with the cause), never the run; workers are replaced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelops.services import ModelLoadError, RunContext
from modelops.services.pipeline import run_groups
from modelops.services.pool import PoolSimulationService
from modelops_contracts import make_param_id

MODELS = str(Path(__file__).resolve().parent / "models")


def _groups(context: RunContext, params: list[dict]) -> list:
    return [context.group(p, make_param_id(p), (1000 + i,)) for i, p in enumerate(params)]


def _run(service: PoolSimulationService, fn: str, params: list[dict]) -> dict:
    context = RunContext(f"fault_models:{fn}", search_path=(MODELS,))
    service.prepare(context)
    results = {r.param_id: r for r in run_groups(service, _groups(context, params))}
    assert len(results) == len(params)
    return {p["k"]: results[make_param_id(p)] for p in params}


@pytest.mark.slow
def test_a_hanging_simulation_times_out_and_the_others_complete() -> None:
    params = [{"k": k, "hang": k in (3, 7)} for k in range(12)]
    with PoolSimulationService(2, timeout_s=2.0, retries=0) as service:
        started = time.monotonic()
        results = _run(service, "hang", params)
        elapsed = time.monotonic() - started
    for k, result in results.items():
        if k in (3, 7):
            assert not result.ok and result.timed_out
            assert result.error.startswith("timeout: the group ran longer than 2.0 s"), result.error
        else:
            assert result.ok and not result.timed_out, result.error
    assert elapsed < 15  # two 2-s timeouts on two workers, plus replacements: bounded, not for ever


@pytest.mark.slow
def test_a_stopped_worker_is_killed_at_its_deadline() -> None:
    params = [{"k": k, "stop": k == 2} for k in range(6)]
    with PoolSimulationService(2, timeout_s=1.0, retries=1) as service:
        results = _run(service, "stop_self", params)
    assert results[2].timed_out and "(attempt 2 of 2)" in results[2].error
    assert all(results[k].ok for k in range(6) if k != 2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fn", "bad", "cause"),
    [("exit_some", 0, "exited with code 1"), ("segfault_some", 5, "was killed by SIGSEGV")],
)
def test_crashing_simulations_fail_with_the_cause_after_retries(fn: str, bad: int, cause: str) -> None:
    params = [{"k": k} for k in range(40)]  # 10% crash: k % 10 == bad
    with PoolSimulationService(2, retries=1) as service:
        service.wait_ready()
        first_pids = set(service.worker_pids())
        results = _run(service, fn, params)
        # The last crash's replacement may still be starting when the run ends: it has no pid until it reports one.
        service.wait_ready()
        later_pids = set(service.worker_pids())
        assert len(later_pids) == 2  # replaced, still two
        assert later_pids != first_pids
    for k, result in results.items():
        if k % 10 == bad:
            assert not result.ok and not result.timed_out
            assert f"the worker running this group {cause} (attempt 2 of 2)" in result.error, result.error
        else:
            assert result.ok, result.error


@pytest.mark.slow
def test_a_model_that_kills_its_parent_does_not_end_the_run() -> None:
    params = [{"k": k, "kill": k in (1, 4)} for k in range(10)]
    with PoolSimulationService(2) as service:
        results = _run(service, "kill_parent", params)
        assert all(r.ok for r in results.values()), [r.error for r in results.values() if not r.ok]
        # and the pool still works after its launcher was killed
        again = _run(service, "fine", [{"k": 100 + k} for k in range(6)])
        assert all(r.ok for r in again.values())


@pytest.mark.parametrize(
    ("module", "cause"),
    [("exit_at_import", "exited with code 3"), ("segfault_at_import", "was killed by SIGSEGV")],
)
def test_a_model_that_crashes_at_import_fails_prepare_quickly(module: str, cause: str) -> None:
    with PoolSimulationService(2) as service:
        started = time.monotonic()
        with pytest.raises(ModelLoadError) as info:
            service.prepare(RunContext(f"{module}:simulate", search_path=(MODELS,)))
        assert time.monotonic() - started < 10
    message = str(info.value)
    assert f"the worker {cause} while importing the model" in message, message
    assert f"{module}:simulate" in message
    assert info.value.stage == "model"


def test_an_import_error_is_reported_with_its_text() -> None:
    with PoolSimulationService(1) as service, pytest.raises(ModelLoadError) as info:
        service.prepare(RunContext("no_such_module_xyz:simulate", search_path=(MODELS,)))
    assert "ModuleNotFoundError: cannot import module 'no_such_module_xyz'" in str(info.value)


@pytest.mark.slow
def test_a_model_that_hangs_at_import_fails_prepare_at_its_bound() -> None:
    with PoolSimulationService(1) as service, pytest.raises(ModelLoadError) as info:
        service.prepare(RunContext("hang_at_import:simulate", search_path=(MODELS,)), timeout_s=2.0)
    assert "within 2 s" in str(info.value)


def test_workers_ignore_sigint_and_live_in_their_own_session() -> None:
    with PoolSimulationService(2) as service:
        service.wait_ready()
        pids = service.worker_pids()
        for pid in pids:
            assert os.getsid(pid) != os.getsid(0)  # a terminal's Ctrl-C goes to the runner's group only
            os.kill(pid, signal.SIGINT)
        results = _run(service, "fine", [{"k": k} for k in range(4)])
        assert all(r.ok for r in results.values())
        assert set(service.worker_pids()) == set(pids)  # none died of the SIGINT


@pytest.mark.slow
def test_ctrl_c_to_the_runners_process_group_leaves_the_workers_running(tmp_path: Path) -> None:
    script = tmp_path / "runner.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import signal, threading
            from modelops.services import RunContext
            from modelops.services.pipeline import run_groups
            from modelops.services.pool import PoolSimulationService
            interrupted = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: interrupted.set())  # the runner's own Ctrl-C handling
            service = PoolSimulationService(2)
            service.wait_ready()
            pids = service.worker_pids()
            print("ready", flush=True)
            assert interrupted.wait(30)
            ctx = RunContext("fault_models:fine", search_path=({MODELS!r},))
            groups = [ctx.group({{"k": k}}, str(k), (k,)) for k in range(4)]
            ok = all(r.ok for r in run_groups(service, groups))
            print("after", ok, sorted(service.worker_pids()) == sorted(pids), flush=True)
            service.close()
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert out.strip() == "after True True"


@pytest.mark.slow
def test_works_from_a_script_without_a_main_guard(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(
        textwrap.dedent(
            f"""
            print("top of script", flush=True)
            from modelops.services import RunContext
            from modelops.services.pipeline import run_groups
            from modelops.services.pool import PoolSimulationService
            with PoolSimulationService(2) as service:
                ctx = RunContext("fault_models:fine", search_path=({MODELS!r},))
                service.prepare(ctx)
                results = list(run_groups(service, [ctx.group({{"k": k}}, str(k), (k,)) for k in range(8)]))
            print("done", sum(r.ok for r in results), flush=True)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # The script ran once: workers never re-import the user's __main__.
    assert out.stdout.splitlines() == ["top of script", "done 8"]


@pytest.mark.slow
def test_workers_and_launcher_exit_when_the_runner_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "runner.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from modelops.services.pool import PoolSimulationService
            service = PoolSimulationService(2)
            service.wait_ready()
            print(*service.worker_pids(), service._engine.launcher.proc.pid, flush=True)
            time.sleep(60)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 3
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_when_no_worker_can_start_the_outstanding_groups_fail_with_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "crash-now"
    monkeypatch.setenv("CRASH_LATER_MARKER", str(marker))
    context = RunContext("crash_later:simulate", search_path=(MODELS,))
    with PoolSimulationService(2, retries=1) as service:
        service.prepare(context)  # imports fine now
        marker.touch()  # from now on every new worker dies importing the model
        started = time.monotonic()
        results = list(run_groups(service, [context.group({"k": k}, str(k), (k,)) for k in range(8)]))
        assert time.monotonic() - started < 30
    assert len(results) == 8 and not any(r.ok for r in results)
    gave_up = [r for r in results if "the process pool gave up" in r.error]
    assert gave_up, [r.error for r in results]
    assert "was killed by SIGSEGV" in gave_up[0].error
