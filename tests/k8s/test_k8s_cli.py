"""`mops workspace` and `mops adaptive` through the real app: render, up/down against a stand-in pulumi CLI,
status against a stubbed Kubernetes API (none can run here) and run records in Azurite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops.k8s import cluster
from modelops.k8s.render import REDACTED
from modelops_testing.fake_pulumi import FakePulumi
from modelops_testing.real_services import REPO_ROOT, Azurite

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
WS_OUTPUTS = {
    "scheduler_addr": "tcp://dask-scheduler.modelops-dev:8786",
    "dashboard_url": "http://dask-scheduler.modelops-dev:8787",
    "namespace": "modelops-dev",
    "worker_count": 8,
}


class Env:
    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.fake = FakePulumi.install(tmp / "pulumi")
        monkeypatch.setenv("MODELOPS_HOME", str(tmp / "home"))
        monkeypatch.setenv("MODELOPS_PULUMI_ROOT", str(self.fake.root))
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "the-passphrase-the-stacks-were-made-with")
        for var in ("GHCR_USERNAME", "GHCR_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
            monkeypatch.delenv(var, raising=False)
        self.runner = CliRunner()

    def mops(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(app, list(args), input=input)

    def workspace_spec(self, **spec: Any) -> Path:
        doc = {"apiVersion": "modelops/v1", "kind": "Workspace", "metadata": {"name": "dev"}, "spec": spec}
        path = self.tmp / "workspace.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    def adaptive_spec(self, storage: str = "postgres", **spec: Any) -> Path:
        study = self.tmp / "sir"
        if not study.exists():
            shutil.copytree(REPO_ROOT / "examples" / "sir", study, ignore=shutil.ignore_patterns("__pycache__"))
        doc = yaml.safe_load((study / "study.yaml").read_text())
        doc["storage"] = {"kind": storage}
        (study / "study.yaml").write_text(yaml.safe_dump(doc))
        body = {"study": "sir/study.yaml", "workspace": {"namespace": "modelops-dev"}, "image_pull": {"kind": "none"}}
        doc = {"apiVersion": "modelops/v1", "kind": "Adaptive", "metadata": {"name": "sir"}, "spec": {**body, **spec}}
        path = self.tmp / "adaptive.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return Env(tmp_path, monkeypatch)


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_k8s_cli_workspace_render_redacts_unless_asked(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = env.workspace_spec()
    missing = env.mops("workspace", "render", str(spec))
    assert missing.exit_code == 1
    assert "GHCR_USERNAME and GHCR_TOKEN are not set" in missing.output and "Traceback" not in missing.output
    monkeypatch.setenv("GHCR_USERNAME", "alice")
    monkeypatch.setenv("GHCR_TOKEN", "ghp_secret_value")
    result = env.mops("workspace", "render", str(spec), "--env", "staging")
    assert result.exit_code == 0, result.output
    rendered = docs(result.stdout)
    assert rendered[0]["kind"] == "Namespace" and rendered[0]["metadata"]["name"] == "modelops-staging"
    assert "ghp_secret_value" not in result.stdout and REDACTED in result.stdout
    shown = env.mops("workspace", "render", str(spec), "--show-secrets")
    assert "ghp_secret_value" in shown.stdout


def test_k8s_cli_adaptive_render_and_spec_errors(env: Env) -> None:
    result = env.mops("adaptive", "render", str(env.adaptive_spec(central_store={})), "--run-id", "Exp_01")
    assert result.exit_code == 0, result.output
    rendered = docs(result.stdout)
    kinds = [d["kind"] for d in rendered]
    assert kinds.index("StatefulSet") < kinds.index("Job")  # apply order: database, init Job, runner
    assert rendered[0]["metadata"]["name"] == "modelops-exp-01"
    secrets = [d for d in rendered if d["kind"] == "Secret"]
    assert secrets and all(set(d["stringData"].values()) == {REDACTED} for d in secrets)

    bad = env.mops("adaptive", "render", str(env.adaptive_spec(runners={"replicas": 2})), "--run-id", "x")
    assert bad.exit_code == 2  # invalid input (docs/user-guide.md, exit codes)
    assert "spec.runners" in bad.output or "central_store" in bad.output
    journal = env.mops(
        "adaptive", "render", str(env.adaptive_spec(storage="journal", central_store={})), "--run-id", "x"
    )
    assert journal.exit_code == 2 and "kind: postgres" in journal.output


def test_k8s_cli_workspace_up_needs_a_cluster_then_uses_the_infra_stack(env: Env) -> None:
    spec = env.workspace_spec(image_pull={"kind": "none"})
    no_cluster = env.mops("workspace", "up", str(spec))
    assert no_cluster.exit_code == 1 and "mops infra up" in no_cluster.output
    assert not env.fake.calls_with("up")

    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    env.fake.set_outputs("modelops-workspace-dev", WS_OUTPUTS)
    result = env.mops("workspace", "up", str(spec), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scheduler_addr"] == WS_OUTPUTS["scheduler_addr"]
    (up,) = env.fake.calls_with("up")
    assert up.flag("--stack") == "modelops-workspace-dev"
    assert up.env["PULUMI_BACKEND_URL"] == (env.tmp / "home" / "pulumi" / "backend").as_uri()
    assert up.env["PULUMI_CONFIG_PASSPHRASE"] == "the-passphrase-the-stacks-were-made-with"


def test_k8s_cli_adaptive_up_down(env: Env) -> None:
    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    env.fake.add_stack("modelops-workspace-dev", WS_OUTPUTS)
    stack = "modelops-adaptive-dev-exp-7"
    env.fake.set_outputs(stack, {"run_namespace": "modelops-exp-7", "runner_name": "runner-exp-7"})
    result = env.mops("adaptive", "up", str(env.adaptive_spec(central_store={})), "--run-id", "Exp.7")
    assert result.exit_code == 0, result.output
    assert "modelops-exp-7" in result.output and "runner-exp-7" in result.output
    (up,) = env.fake.calls_with("up")
    assert up.flag("--stack") == stack

    cancelled = env.mops("adaptive", "down", "--run-id", "Exp.7", input="n\n")
    assert cancelled.exit_code == 1 and not env.fake.calls_with("destroy")
    down = env.mops("adaptive", "down", "--run-id", "Exp.7", "--yes")
    assert down.exit_code == 0, down.output
    assert "volumes are kept" in down.output
    (destroy,) = env.fake.calls_with("destroy")
    assert destroy.flag("--stack") == stack
    assert stack not in env.fake.stacks()  # the emptied stack is removed


class StubApi:
    """The handful of Kubernetes API calls status/logs/purge make, answering like a cluster with one run."""

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.core = SimpleNamespace(
            list_namespaced_pod=self._pods,
            read_namespaced_pod_log=lambda name, ns, **kw: f"log of {name}\n",
            delete_namespace=self._delete,
        )
        self.apps = SimpleNamespace(list_namespaced_deployment=self._deployments)
        self.batch = SimpleNamespace(read_namespaced_job=self._job)

    def _pods(self, ns: str, label_selector: str) -> Any:
        state = SimpleNamespace(waiting=None)
        pods = [
            SimpleNamespace(
                metadata=SimpleNamespace(name=f"runner-exp-7-{i}", creation_timestamp=i),
                status=SimpleNamespace(
                    phase="Running", container_statuses=[SimpleNamespace(restart_count=i, state=state)]
                ),
            )
            for i in range(2)
        ]
        return SimpleNamespace(items=pods)

    def _job(self, name: str, ns: str) -> Any:
        return SimpleNamespace(
            spec=SimpleNamespace(completions=2), status=SimpleNamespace(active=2, succeeded=0, failed=0)
        )

    def _deployments(self, ns: str, label_selector: str) -> Any:
        d = SimpleNamespace(
            metadata=SimpleNamespace(name="dask-scheduler"),
            spec=SimpleNamespace(replicas=1),
            status=SimpleNamespace(ready_replicas=1),
        )
        return SimpleNamespace(items=[d])

    def _delete(self, ns: str) -> Any:
        self.deleted.append(ns)
        return SimpleNamespace()


@pytest.fixture
def stub_api(monkeypatch: pytest.MonkeyPatch) -> StubApi:
    api = StubApi()
    seen: list[str] = []

    def clients(kubeconfig: str) -> cluster.Clients:
        seen.append(kubeconfig)
        return cluster.Clients(api.core, api.apps, api.batch)

    monkeypatch.setattr(cluster, "clients", clients)
    api.kubeconfigs = seen  # type: ignore[attr-defined]
    return api


def test_k8s_cli_workspace_status_reads_the_cluster(env: Env, stub_api: StubApi) -> None:
    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    env.fake.add_stack("modelops-workspace-dev", WS_OUTPUTS)
    result = env.mops("workspace", "status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["workloads"] == [{"kind": "Deployment", "name": "dask-scheduler", "desired": 1, "ready": 1}]
    assert stub_api.kubeconfigs == [KUBECONFIG]  # type: ignore[attr-defined]


def test_k8s_cli_adaptive_down_purge_deletes_the_namespace(env: Env, stub_api: StubApi) -> None:
    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    env.fake.add_stack("modelops-adaptive-dev-exp-7", {"run_namespace": "modelops-exp-7"})
    result = env.mops("adaptive", "down", "--run-id", "exp-7", "--purge", "--yes")
    assert result.exit_code == 0, result.output
    assert stub_api.deleted == ["modelops-exp-7"]


def _sir_run_in_azurite(env: Env, azurite: Azurite, run_id: str) -> str:
    """A real `mops run` of examples/sir (small budget, in process) writing its records to Azurite."""
    import fsspec

    fs = fsspec.filesystem("az", connection_string=azurite.connection_string)
    if not fs.exists("runs-k8s"):
        fs.mkdir("runs-k8s")
    study = env.tmp / "sir-small"
    shutil.copytree(REPO_ROOT / "examples" / "sir", study, ignore=shutil.ignore_patterns("__pycache__"))
    doc = yaml.safe_load((study / "study.yaml").read_text())
    doc["algorithm"]["n_trials"] = 4
    doc["replicates"] = 1
    (study / "study.yaml").write_text(yaml.safe_dump(doc))
    url = "az://runs-k8s/runs"
    run_env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(env.tmp),
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    }
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "mops"),
            "run",
            str(study / "study.yaml"),
            "--run-id",
            run_id,
            "--runs-dir",
            url,
            "--workers",
            "0",
            "--json",
        ],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=env.tmp,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return url


@pytest.mark.services
@pytest.mark.slow
def test_k8s_cli_status_and_runs_show_read_records_from_azurite(
    env: Env, stub_api: StubApi, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _sir_run_in_azurite(env, azurite, "exp-7")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)

    shown = env.mops("runs", "show", "exp-7", "--runs-dir", url, "--json")
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report["completed"] == 4 and report["best"]["loss"] is not None

    env.fake.add_stack("modelops-infra-dev", {"kubeconfig": KUBECONFIG}, secret=["kubeconfig"])
    env.fake.add_stack(
        "modelops-adaptive-dev-exp-7",
        {"run_namespace": "modelops-exp-7", "runner_name": "runner-exp-7", "runs_dir": url},
    )
    status = env.mops("adaptive", "status", "exp-7", "--json")
    assert status.exit_code == 0, status.output
    st = json.loads(status.stdout)
    assert st["runners"]["state"] == "running" and len(st["runners"]["pods"]) == 2
    assert st["records"]["completed"] == 4 and st["records"]["n_trials"] == 4
    assert st["records"]["best_loss"] == pytest.approx(report["best"]["loss"])
    human = env.mops("adaptive", "status", "exp-7")
    assert "trials completed 4/4" in human.output

    logs = env.mops("adaptive", "logs", "exp-7")
    assert logs.exit_code == 0 and "log of runner-exp-7-1" in logs.output


def test_k8s_cli_status_of_a_run_applied_without_pulumi(env: Env, stub_api: StubApi) -> None:
    """`render | kubectl apply` leaves no stack: with --kubeconfig, status and logs find the run by its names."""
    kubeconfig = env.tmp / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    result = env.mops("adaptive", "status", "Exp.7", "--kubeconfig", str(kubeconfig), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["namespace"] == "modelops-exp-7" and report["runner"] == "runner-exp-7"
    assert report["runners"]["state"] == "running"
    logs = env.mops("adaptive", "logs", "Exp.7", "--kubeconfig", str(kubeconfig))
    assert logs.exit_code == 0 and "log of runner-exp-7-0" in logs.output
    without = env.mops("adaptive", "status", "Exp.7")
    assert without.exit_code != 0 and "does not exist" in without.output


def test_k8s_cli_workspace_status_without_a_stack(env: Env, stub_api: StubApi) -> None:
    kubeconfig = env.tmp / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    result = env.mops("workspace", "status", "--kubeconfig", str(kubeconfig), "--namespace", "team-a", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outputs"] == {"namespace": "team-a"} and report["workloads"][0]["name"] == "dask-scheduler"
    human = env.mops("workspace", "status", "--kubeconfig", str(kubeconfig))
    assert human.exit_code == 0 and "dask-scheduler" in human.output
