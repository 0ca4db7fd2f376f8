"""The pod-equivalent end-to-end test: the workspace and a run, started as local processes FROM their manifests.

The scheduler, the two worker pods, the PostgreSQL init Job and the two runner pods are started with the command,
arguments and environment the manifest builders produce (resolved the kubelet's way by modelops_testing.pod: env,
Secrets through envFrom, ConfigMap volumes at their paths). Only what a single machine cannot have is translated,
visibly: cluster DNS names to 127.0.0.1, the scheduler's fixed ports to free ones, and the Service port of
PostgreSQL to the local server's. The in-cluster PostgreSQL itself is the machine's server (the `postgres`
fixture); the init Job creates the run's role in it, and the runners use it through the PG* Secret.

examples/sir's study runs to completion through two cooperating runners: exactly n_trials trials, no parameter
set twice, the run records on disk.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from modelops.core import naming
from modelops.k8s.adaptive import AdaptivePlan, StudyFiles, build_adaptive, generate_secrets
from modelops.k8s.workspace import build_workspace, scheduler_address
from modelops.specs.adaptive import check_study_storage, load_adaptive_spec, study_path
from modelops.specs.base import parse_spec
from modelops.specs.workspace import WorkspaceSpec
from modelops_testing.pod import LocalProcess, container_process
from modelops_testing.real_services import (
    REPO_ROOT,
    Postgres,
    free_port,
    services_required,
    stop_process,
    wait_for_port,
)

N_TRIALS = 12
REPLICATES = 2
WORKSPACE_NS = "modelops-e2e"
BIN = Path(sys.executable).parent
# The image's programs, as this environment has them.
EXECUTABLES = {"dask": str(BIN / "dask"), "mops": str(BIN / "mops"), "sh": "/bin/sh"}


def _one(manifests: list[dict], kind: str, name: str) -> dict:
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def _log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    """Processes to stop at the end, in reverse start order (workers before the scheduler, as FIELD-NOTES say)."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in reversed(started):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(started):
        stop_process(proc, timeout=15)


def _study(tmp: Path) -> Path:
    """examples/sir's study, with the central store the runners share and a smaller budget for CI."""
    study_dir = tmp / "spec" / "sir"
    shutil.copytree(REPO_ROOT / "examples" / "sir", study_dir, ignore=shutil.ignore_patterns("__pycache__"))
    doc = yaml.safe_load((study_dir / "study.yaml").read_text())
    doc["storage"] = {"kind": "postgres"}
    doc["algorithm"]["n_trials"] = N_TRIALS
    doc["replicates"] = REPLICATES
    (study_dir / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return study_dir / "study.yaml"


def _adaptive_spec(tmp: Path, pg: Postgres, role: str) -> Path:
    path = tmp / "spec" / "adaptive.yaml"
    doc = {
        "apiVersion": "modelops/v1",
        "kind": "Adaptive",
        "metadata": {"name": "sir-e2e"},
        "spec": {
            "study": "sir/study.yaml",
            "workspace": {"namespace": WORKSPACE_NS},
            "runners": {"replicas": 2},
            # The fixture's fresh database; the init Job makes the run's role its owner.
            "central_store": {"user": role, "database": pg.dbname},
            "results": {"url": f"file://{tmp / 'object-store' / 'runs'}"},
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _drop_role(pg: Postgres, role: str) -> None:
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{pg.dbname}" OWNER TO {pg.user}')
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=pg.dbname, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.timeout(600)
def test_e2e_pods_run_the_sir_study(tmp_path: Path, postgres: Postgres, procs: list[subprocess.Popen]) -> None:
    if shutil.which("psql") is None or shutil.which("pg_isready") is None:
        message = "the init Job needs psql and pg_isready (apt-get install postgresql-client)"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    logs = tmp_path / "logs"
    logs.mkdir()
    shared = tmp_path / "pvcs"
    base_env = {"PATH": f"{BIN}:{'/usr/bin:/bin:/usr/local/bin'}"}
    common = {"shared": shared, "executables": EXECUTABLES, "base_env": base_env}

    # --- the workspace: scheduler and worker pods from build_workspace ------------------------------------------
    ws_spec = parse_spec(
        WorkspaceSpec,
        {
            "apiVersion": "modelops/v1",
            "kind": "Workspace",
            "metadata": {"name": "e2e"},
            "spec": {
                "namespace": WORKSPACE_NS,
                "image_pull": {"kind": "none"},
                "workers": {
                    "replicas": 2,
                    "processes": 1,
                    "threads": 1,
                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
                },
            },
        },
    )
    ws = build_workspace(ws_spec, ws_spec.namespace_for("e2e"))
    port, dashboard = free_port(), free_port()
    local_scheduler = f"tcp://127.0.0.1:{port}"
    network = {scheduler_address(WORKSPACE_NS): local_scheduler}  # cluster DNS -> loopback

    scheduler = container_process(
        _one(ws, "Deployment", "dask-scheduler"),
        ws,
        tmp_path / "pods",
        pod_name="dask-scheduler-0",
        flag_values={"--port": str(port), "--dashboard-address": f"127.0.0.1:{dashboard}"},
        **common,
    )
    assert scheduler.argv[1:3] == ["scheduler", "--port"]
    procs.append(scheduler.popen(logs / "scheduler.log"))
    wait_for_port(port, timeout=60, proc=procs[-1])
    # The scheduler's probes, as the kubelet would run them (ports mapped like the flags above).
    sched_container = _one(ws, "Deployment", "dask-scheduler")["spec"]["template"]["spec"]["containers"][0]
    assert sched_container["readinessProbe"]["tcpSocket"]["port"] == 8786  # checked by wait_for_port(port)
    liveness = sched_container["livenessProbe"]["httpGet"]
    deadline = time.monotonic() + 30
    while not _http_ok(f"http://127.0.0.1:{dashboard}{liveness['path']}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _http_ok(f"http://127.0.0.1:{dashboard}{liveness['path']}"), _log_tail(logs / "scheduler.log")

    worker_deployment = _one(ws, "Deployment", "dask-worker-default")
    worker_names: list[str] = []
    worker_http: list[int] = []
    for i in range(worker_deployment["spec"]["replicas"]):
        pod = f"dask-worker-default-{i}"
        http = free_port()
        worker = container_process(
            worker_deployment,
            ws,
            tmp_path / "pods",
            pod_name=pod,
            rewrite=network,
            flag_values={"--dashboard-address": f"127.0.0.1:{http}"},
            **common,
        )
        assert worker.argv[2] == local_scheduler and pod in worker.argv  # $(POD_NAME) expanded from the fieldRef
        assert worker.env["HOME"].startswith(str(tmp_path))  # /tmp is the emptyDir
        procs.append(worker.popen(logs / f"{pod}.log"))
        worker_names.append(pod)
        worker_http.append(http)

    from distributed import Client

    with Client(local_scheduler, timeout=30) as client:
        client.wait_for_workers(2, timeout=90)
        info = client.scheduler_info()["workers"].values()
        assert sorted(w["name"] for w in info) == worker_names
        assert all(w["nthreads"] == 1 for w in info)
        expected_limit = int(2 * 2**30 * 0.9)
        assert all(w["memory_limit"] == expected_limit for w in info)
    # The workers' readiness and liveness probe (HTTP /health on the --dashboard-address port) answers.
    worker_probe = worker_deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    for http in worker_http:
        assert _http_ok(f"http://127.0.0.1:{http}{worker_probe['path']}")

    # --- the run: PostgreSQL init Job, then two runner pods, from build_adaptive -------------------------------
    role = f"mops_e2e_{uuid.uuid4().hex[:8]}"
    _study(tmp_path)
    spec_path = _adaptive_spec(tmp_path, postgres, role)
    spec = load_adaptive_spec(spec_path)
    study_file = study_path(spec_path, spec)
    check_study_storage(spec, study_file)  # what `mops adaptive up` checks first
    run_id = f"e2e-{uuid.uuid4().hex[:6]}"
    plan = AdaptivePlan.for_run(
        spec, run_id, naming.run_slug(run_id), naming.run_namespace(run_id), StudyFiles.from_path(study_file)
    )
    base, init, runners = build_adaptive(spec, plan, pg_secrets=generate_secrets(spec))
    manifests = base + init + runners
    pg_service = plan.postgres.service
    network_run = {
        **network,
        f"{pg_service}.{plan.namespace}.svc": postgres.host,  # the runtime Secret's PGHOST
        pg_service: postgres.host,  # the init Job's PGHOST (same namespace, short name)
    }

    try:
        init_job = _one(manifests, "Job", plan.postgres.init_job)
        job = container_process(
            init_job, manifests, tmp_path / "pods", pod_name="init-0", rewrite=network_run, **common
        )
        job.env["PGPORT"] = str(postgres.port)  # the Service's port 5432 -> the local server's port
        assert job.argv[:2] == ["/bin/sh", "-c"]
        rc = job.run(logs / "init.log", timeout=120)
        assert rc == 0, _log_tail(logs / "init.log")
        # Idempotent: a retried Job pod converges.
        assert job.run(logs / "init.log", timeout=120) == 0, _log_tail(logs / "init.log")

        runner_job = _one(manifests, "Job", plan.runner_name)
        runner_procs: list[tuple[str, LocalProcess, subprocess.Popen]] = []
        for i in range(runner_job["spec"]["parallelism"]):
            pod = f"{plan.runner_name}-{i}"
            runner = container_process(
                runner_job, manifests, tmp_path / "pods", pod_name=pod, rewrite=network_run, **common
            )
            runner.env["PGPORT"] = str(postgres.port)
            # Each pod has its own network namespace; processes on one machine share ports: a free one each.
            assert runner.env["MODELOPS_METRICS_PORT"] == "9464"
            runner.env["MODELOPS_METRICS_PORT"] = str(free_port())
            # What the pod gets: the scheduler from a plain value, the PG* set (password included) from the Secret.
            assert runner.env["DASK_SCHEDULER_ADDRESS"] == local_scheduler
            assert {"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"} <= set(runner.env)
            assert runner.env["PGUSER"] == role and runner.env["PGDATABASE"] == postgres.dbname
            assert runner.argv[1] == "run"
            assert Path(runner.argv[2]).is_file()  # the ConfigMap volume, materialised at the mount path
            proc = runner.popen(logs / f"{pod}.log", cwd=tmp_path)
            procs.append(proc)
            runner_procs.append((pod, runner, proc))

        for pod, _, proc in runner_procs:
            try:
                rc = proc.wait(timeout=420)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{pod} did not finish:\n{_log_tail(logs / f'{pod}.log')}")
            assert rc == 0, f"{pod} exited {rc}:\n{_log_tail(logs / f'{pod}.log')}"

        # --- the results: exactly n_trials, none twice, written to the run's storage ------------------------------
        from modelops.store.results import RunStore

        store = RunStore(plan.runs_dir, run_id)
        trials = store.load_trials()
        assert trials.height == N_TRIALS, trials
        assert trials["param_id"].n_unique() == N_TRIALS
        assert (trials["status"] == "completed").sum() == N_TRIALS
        run_dir = Path(plan.runs_dir.removeprefix("file://")) / run_id
        assert (run_dir / "manifest.json").is_file()
        assert list(run_dir.rglob("*.parquet")), sorted(p.name for p in run_dir.rglob("*"))
    finally:
        _drop_role(postgres, role)
