"""A real Prometheus (Debian package) scrapes a running `mops run` and answers a query for the trial rate."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from modelops.runner.metrics import RunMetrics
from modelops_testing.real_services import services_required

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _study(folder: Path, n_trials: int) -> Path:
    folder.mkdir()
    (folder / "observed.csv").write_text("t,y\n" + "".join(f"{t},{2 * t + 1}\n" for t in range(10)))
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": "scraped",
        "model": {"fn_ref": "run_toy_model:simulate", "project": str(REPO / "tests" / "runner")},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0, "sleep_s": 0.03}},
        "targets": [{"name": "line", "output": "line", "observed": "observed.csv", "keys": ["t"], "values": ["y"],
                     "loss": "mse"}],
        "algorithm": {"ref": "optuna", "sampler": "random", "n_trials": n_trials, "seed": 2},
        "replicates": 2,
        "execution": {"workers": 0},
    }  # fmt: skip
    (folder / "study.yaml").write_text(yaml.safe_dump(spec))
    return folder / "study.yaml"


@pytest.mark.services
@pytest.mark.slow
def test_cloud_metrics_prometheus_scrapes_a_running_mops_run(tmp_path: Path) -> None:
    exe = shutil.which("prometheus")
    if exe is None:
        message = "prometheus is not installed (apt-get install prometheus)"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    metrics_port, prom_port = _free_port(), _free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "mops", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = subprocess.Popen(
        [exe, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    study = _study(tmp_path / "study", n_trials=400)
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    env["MODELOPS_METRICS_PORT"] = str(metrics_port)  # what the runner pod sets
    run = subprocess.Popen(
        [sys.executable, "-c", "from modelops.cli.app import main; main()", "run", str(study), "--runs-dir",
         str(tmp_path / "runs"), "--run-id", "scraped-1", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    api = f"http://127.0.0.1:{prom_port}/api/v1/query?query="
    query = 'sum by (run_id, study) (rate(modelops_trials_told_total{status="completed"}[10s]))'
    rate, found = 0.0, None
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and run.poll() is None:
            time.sleep(1)
            try:
                answer = _get(api + urllib.parse.quote(query))
            except OSError:
                continue  # Prometheus still starting
            result = answer["data"]["result"]
            if result and float(result[0]["value"][1]) > 0:
                found = result[0]
                rate = float(found["value"][1])
                break
        other = {
            name: _get(api + urllib.parse.quote(name))["data"]["result"]
            for name in ("modelops_groups_in_flight", "modelops_simulation_seconds_count", "modelops_best_loss")
        }
    finally:
        run.terminate()
        run.communicate(timeout=120)
        prom.terminate()
        prom.communicate(timeout=60)
    print(f"\nprometheus: {query} -> {rate:.2f} trials/s {found and found['metric']}")
    assert found is not None, "Prometheus never saw a positive trial rate"
    assert found["metric"] == {"run_id": "scraped-1", "study": "scraped"}
    assert rate > 0
    assert all(other.values()), other  # in flight, the histogram and the best loss are scraped too


def test_cloud_metrics_exposition_counts_statuses_and_durations() -> None:
    from types import SimpleNamespace

    m = RunMetrics("r1", "toy")
    for status, loss in (("completed", 3.0), ("failed", None), ("completed", 1.5)):
        p = SimpleNamespace(
            last={"status": status, "n_replicates": 2, "n_cached": 0, "sim_s": 0.2},
            best_loss=loss if loss else 3.0,
            total=10,
            in_flight=3,
            queued=1,
        )
        m.observe(p)
    text = m.exposition().decode()
    assert 'modelops_trials_told_total{run_id="r1",status="completed",study="toy"} 2.0' in text
    assert 'modelops_trials_told_total{run_id="r1",status="failed",study="toy"} 1.0' in text
    assert 'modelops_simulation_seconds_count{run_id="r1",study="toy"} 6.0' in text
    assert 'modelops_best_loss{run_id="r1",study="toy"} 1.5' in text
    assert 'modelops_groups_in_flight{run_id="r1",study="toy"} 3.0' in text
