"""A real Dask cluster started with the commands a Kubernetes pod runs: `dask scheduler` and `dask worker`.

Tests use it to check that what works on a LocalCluster works on separately started processes (the workspace's
scheduler and worker Deployments run exactly these commands). A plain context manager so any test (the cloud
end-to-end ones too) or script can use it; tests/services/conftest.py wraps it in a fixture.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelops_testing.real_services import free_port, stop_process, wait_for_port


class DaskClusterError(RuntimeError):
    """The scheduler or a worker did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class DaskCliCluster:
    address: str  # tcp://127.0.0.1:<port>
    dashboard_address: str  # 127.0.0.1:<port>
    worker_names: tuple[str, ...]
    log_dir: Path


def dask_command() -> list[str]:
    """The `dask` CLI of this environment (the venv's script, else `python -m dask`)."""
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


def scheduler_command(port: int, dashboard_port: int, host: str = "127.0.0.1") -> list[str]:
    return [*dask_command(), "scheduler", "--host", host, "--port", str(port), "--dashboard-address",
            f"{host}:{dashboard_port}"]  # fmt: skip


def worker_command(address: str, name: str, *, nthreads: int = 1, memory_limit: str = "2GiB") -> list[str]:
    return [*dask_command(), "worker", address, "--nthreads", str(nthreads), "--nworkers", "1", "--no-dashboard",
            "--name", name, "--memory-limit", memory_limit]  # fmt: skip


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _stop(proc: subprocess.Popen, timeout: float) -> None:
    # SIGTERM lets the nanny close its worker cleanly; stop_process escalates to SIGKILL if it hangs.
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    stop_process(proc, timeout=timeout)


@contextlib.contextmanager
def dask_cli_cluster(
    n_workers: int = 2,
    *,
    nthreads: int = 1,
    memory_limit: str = "2GiB",
    env: Mapping[str, str] | None = None,
    worker_env: Sequence[Mapping[str, str] | None] | None = None,
    timeout: float = 90.0,
) -> Iterator[DaskCliCluster]:
    """Start a scheduler and ``n_workers`` workers on loopback; stop workers first, then the scheduler.

    ``env`` is added to every process's environment; ``worker_env[i]`` to worker i's only (e.g. to give one worker
    a different package set). Waits until every worker has registered (up to ``timeout`` seconds).
    """
    from distributed import Client

    port, dash = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    base_env = {**os.environ, **(env or {})}
    names = tuple(f"w{i}" for i in range(n_workers))
    procs: list[subprocess.Popen] = []
    handles: list = []
    with tempfile.TemporaryDirectory(prefix="dask-cli-") as tmp:
        logs = Path(tmp)

        def start(cmd: list[str], log: str, extra: Mapping[str, str] | None = None) -> subprocess.Popen:
            fh = open(logs / log, "wb")  # noqa: SIM115 - closed after the process stops
            handles.append(fh)
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**base_env, **(extra or {})},
                                    cwd=tmp)  # fmt: skip
            procs.append(proc)
            return proc

        try:
            scheduler = start(scheduler_command(port, dash), "scheduler.log")
            try:
                wait_for_port(port, timeout=timeout, proc=scheduler)
            except Exception as exc:
                raise DaskClusterError(
                    f"dask scheduler did not start: {exc}\n{_tail(logs / 'scheduler.log')}"
                ) from None
            for i, name in enumerate(names):
                extra = worker_env[i] if worker_env and i < len(worker_env) else None
                start(worker_command(address, name, nthreads=nthreads, memory_limit=memory_limit), f"{name}.log", extra)
            deadline = time.monotonic() + timeout
            with Client(address, timeout=timeout) as client:
                while len(client.scheduler_info(n_workers=-1)["workers"]) < n_workers:
                    dead = [(n, p) for n, p in zip(names, procs[1:], strict=True) if p.poll() is not None]
                    if dead or time.monotonic() > deadline:
                        which = dead[0][0] if dead else names[-1]
                        raise DaskClusterError(
                            f"dask worker {which} did not register within {timeout:.0f} s"
                            f"{' (it exited)' if dead else ''}:\n{_tail(logs / f'{which}.log')}"
                        )
                    time.sleep(0.2)
            yield DaskCliCluster(address, f"127.0.0.1:{dash}", names, logs)
        finally:
            for proc in reversed(procs[1:]):  # workers first: a scheduler gone first makes nannies wait 8 s
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            for proc in procs[1:]:
                _stop(proc, timeout=15)
            if procs:
                _stop(procs[0], timeout=15)
            for fh in handles:
                fh.close()
