"""What the manifests must say: security on every pod, the Dask topology, GPUs, secrets never in plain env."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.k8s.adaptive import (
    AdaptivePlan,
    StudyFiles,
    StudyFilesError,
    build_adaptive,
    generate_secrets,
    runner_args,
)
from modelops.k8s.render import REDACTED, to_yaml
from modelops.k8s.workspace import K8sConfigError, registry_credentials, worker_args
from modelops.specs.adaptive import AdaptiveSpec
from modelops.specs.base import SpecError, parse_spec
from modelops.specs.workspace import ImagePull, WorkspaceSpec


def test_k8s_every_pod_runs_restricted(all_manifests: list[dict], pick) -> None:
    pods = pick.pod_specs(all_manifests)
    # scheduler, 2 worker groups; postgres, init, runner; a solo runner; the same 3 + 3 with workload identity;
    # a managed-store run's bootstrap Job and runner; with PgBouncer: in-cluster (4) and managed (3); an autoscaled
    # group and its scaler in both workspaces (4); the EKS workspace (5) and run (postgres, init, runner)
    assert len(pods) == 34
    for pod in pods:
        # Only the scaler talks to the Kubernetes API (through a Role limited to scaling its worker Deployments).
        assert pod["automountServiceAccountToken"] is (pod.get("serviceAccountName") == "modelops-scaler")
        sc = pod["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}} in pod["volumes"]
        for c in [*pod["containers"], *pod.get("initContainers", [])]:
            csc = c["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False
            assert csc["readOnlyRootFilesystem"] is True
            assert csc["capabilities"] == {"drop": ["ALL"]}
            assert csc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert set(c["resources"]) == {"requests", "limits"}
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_k8s_long_running_pods_have_probes(all_manifests: list[dict], pick) -> None:
    for m in all_manifests:
        if m["kind"] in ("Deployment", "StatefulSet"):
            for c in m["spec"]["template"]["spec"]["containers"]:
                assert "readinessProbe" in c and "livenessProbe" in c, m["metadata"]["name"]


def test_k8s_no_secret_value_in_plain_env(all_manifests: list[dict], pick) -> None:
    secret_values = {
        str(v) for m in pick.by_kind(all_manifests, "Secret") for v in m["stringData"].values() if len(str(v)) > 6
    }
    for pod in pick.pod_specs(all_manifests):
        for c in pod["containers"]:
            for e in c["env"]:
                assert not e["name"].endswith("PASSWORD") or "value" not in e, e
                assert str(e.get("value")) not in secret_values, e["name"]


def test_k8s_workspace_topology(pick) -> None:
    manifests = pick.workspace_manifests()
    ns = "modelops-dev"
    assert manifests[0] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": manifests[0]["metadata"]["labels"]},
    }
    svc = pick.one(manifests, "Service", "dask-scheduler")
    assert svc["spec"]["type"] == "ClusterIP"
    assert {p["port"] for p in svc["spec"]["ports"]} == {8786, 8787}
    sched = pick.one(manifests, "Deployment", "dask-scheduler")
    assert svc["spec"]["selector"] == sched["spec"]["selector"]["matchLabels"]
    pdb = pick.one(manifests, "PodDisruptionBudget", "dask-scheduler")
    assert pdb["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    worker = pick.one(manifests, "Deployment", "dask-worker-default")
    c = worker["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["dask", "worker"]
    assert c["args"][0] == f"tcp://dask-scheduler.{ns}:8786"
    args = c["args"]
    assert args[args.index("--nworkers") + 1] == "2" and args[args.index("--nthreads") + 1] == "1"
    # 90% of the 8Gi pod limit, split over 2 processes.
    assert int(args[args.index("--memory-limit") + 1]) == int(8 * 2**30 * 0.9) // 2
    assert worker["spec"]["replicas"] == 3
    pod = worker["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"modelops.io/role": "cpu"}
    assert pod["imagePullSecrets"] == [{"name": "modelops-registry"}]
    assert c["envFrom"] == [{"secretRef": {"name": "modelops-object-store"}}]
    pull = pick.one(manifests, "Secret", "modelops-registry")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    assert '"ghcr.io"' in pull["stringData"][".dockerconfigjson"]


def test_k8s_gpu_group_requests_gpus_and_tolerates_their_taint(pick) -> None:
    gpu = pick.one(pick.workspace_manifests(), "Deployment", "dask-worker-gpu")
    pod = gpu["spec"]["template"]["spec"]
    res = pod["containers"][0]["resources"]
    assert res["limits"]["nvidia.com/gpu"] == "2" and res["requests"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"modelops.io/role": "gpu"}
    cpu = pick.one(pick.workspace_manifests(), "Deployment", "dask-worker-default")
    assert "nvidia.com/gpu" not in cpu["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_k8s_network_policies(all_manifests: list[dict], pick) -> None:
    ws = pick.workspace_manifests()
    names = {m["metadata"]["name"] for m in pick.by_kind(ws, "NetworkPolicy")}
    assert {"default-deny", "allow-dns", "allow-same-namespace", "allow-scheduler-from-adaptive"} <= names
    deny = pick.one(ws, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress = pick.one(ws, "NetworkPolicy", "allow-scheduler-from-adaptive")["spec"]["ingress"][0]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8786}]
    assert ingress["from"][0]["namespaceSelector"]["matchLabels"] == {"modelops.io/plane": "adaptive"}
    run_ns = next(m for m in all_manifests if m["kind"] == "Namespace" and m["metadata"]["name"] == "modelops-exp-001")
    assert run_ns["metadata"]["labels"]["modelops.io/plane"] == "adaptive"
    egress = next(
        m
        for m in all_manifests
        if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "allow-egress-to-scheduler"
    )
    to = egress["spec"]["egress"][0]["to"][0]
    assert to["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "modelops-dev"}
    sched = pick.one(ws, "Deployment", "dask-scheduler")
    assert to["podSelector"]["matchLabels"] == sched["spec"]["selector"]["matchLabels"]


def test_k8s_adaptive_with_central_store(study_dir: Path, pick) -> None:
    m = pick.adaptive_variants(study_dir / "study.yaml")["shared"]
    ns = "modelops-exp-001"
    assert all(x["metadata"].get("namespace", ns) == ns for x in m)
    sts = pick.one(m, "StatefulSet", "postgres-exp-001")
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "managed-csi-premium" and claim["resources"]["requests"]["storage"] == "20Gi"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    pg = sts["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "POSTGRES_PASSWORD_FILE", "value": "/etc/modelops/pg-admin/POSTGRES_PASSWORD"} in pg["env"]
    assert pg["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    runtime = pick.one(m, "Secret", "postgres-exp-001-runtime")["stringData"]
    assert set(runtime) == {"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"}
    assert runtime["PGHOST"] == f"postgres-exp-001.{ns}.svc"
    admin = pick.one(m, "Secret", "postgres-exp-001-admin")["stringData"]["POSTGRES_PASSWORD"]
    assert admin != runtime["PGPASSWORD"] and len(admin) >= 24
    init_sql = pick.one(m, "Secret", "postgres-exp-001-init")["stringData"]["init.sql"]
    assert runtime["PGPASSWORD"] in init_sql
    job = pick.one(m, "Job", "postgres-exp-001-init")
    assert m.index(job) > m.index(sts)  # the init Job comes after the database it initialises
    runner = pick.one(m, "Job", "runner-exp-001")
    assert runner["spec"]["parallelism"] == 2 and runner["spec"]["completions"] == 2
    c = runner["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["mops", "run"]
    assert c["args"] == ["/etc/modelops/study/study.yaml", "--run-id", "exp-001", "--runs-dir", "az://results/runs"]
    assert {"name": "DASK_SCHEDULER_ADDRESS", "value": "tcp://dask-scheduler.modelops-dev:8786"} in c["env"]
    assert c["envFrom"] == [
        {"secretRef": {"name": "postgres-exp-001-runtime"}},
        {"secretRef": {"name": "object-store-exp-001"}},
    ]
    cm = pick.one(m, "ConfigMap", "study-exp-001")
    assert set(cm["data"]) == {"study.yaml", "data__observed.csv", "model.py"}
    assert set(cm["binaryData"]) == {"data__table.parquet"}
    volume = next(v for v in runner["spec"]["template"]["spec"]["volumes"] if v["name"] == "study")
    assert {"key": "data__observed.csv", "path": "data/observed.csv"} in volume["configMap"]["items"]
    assert len(volume["configMap"]["items"]) == 4
    assert not pick.by_kind(m, "PersistentVolumeClaim")


def test_k8s_adaptive_single_runner_writes_to_a_pvc(study_dir: Path, pick) -> None:
    m = pick.adaptive_variants(study_dir / "study.yaml")["single"]
    assert not pick.by_kind(m, "StatefulSet")
    pvc = pick.one(m, "PersistentVolumeClaim", "runs-solo")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    runner = pick.one(m, "Job", "runner-solo")
    c = runner["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][-1] == "/var/lib/modelops/runs"
    assert {"name": "runs", "mountPath": "/var/lib/modelops/runs"} in c["volumeMounts"]
    assert "envFrom" not in c


def test_k8s_az_results_without_credentials_fail_fast(study_dir: Path, pick) -> None:
    spec = parse_spec(AdaptiveSpec, pick.adaptive_doc(results={"url": "az://results/runs"}))
    plan = AdaptivePlan.for_run(spec, "r1", "r1", "modelops-r1", StudyFiles.from_path(study_dir / "study.yaml"))
    with pytest.raises(K8sConfigError, match="AZURE_STORAGE"):
        build_adaptive(spec, plan)
    assert runner_args(plan)[-1] == "az://results/runs"


def test_k8s_ghcr_pull_secret_from_env_fails_fast() -> None:
    pull = ImagePull()
    assert registry_credentials(pull, "myacr.azurecr.io/modelops:1", {}) is None
    assert registry_credentials(pull, "docker.io/library/x:1", {}) is None
    with pytest.raises(K8sConfigError, match="GHCR_TOKEN"):
        registry_credentials(pull, "ghcr.io/acme/modelops:1", {"GHCR_USERNAME": "me"})
    creds = registry_credentials(pull, "ghcr.io/acme/modelops:1", {"GHCR_USERNAME": "me", "GHCR_TOKEN": "tok"})
    assert creds is not None and creds.username == "me"


def test_k8s_render_redacts_secrets(all_manifests: list[dict], pick) -> None:
    password = pick.by_kind(all_manifests, "Secret")[0]["stringData"]
    hidden = to_yaml(all_manifests)
    shown = to_yaml(all_manifests, show_secrets=True)
    for value in password.values():
        assert str(value) not in hidden or len(str(value)) < 6
        assert str(value) in shown
    assert REDACTED in hidden


def test_k8s_study_files_refuse_oversized_directories(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text("kind: Study\n")
    (tmp_path / "big.csv").write_text("x" * (1024 * 1024))
    with pytest.raises(StudyFilesError, match="ConfigMap"):
        StudyFiles.from_path(tmp_path / "study.yaml")


def test_k8s_several_runners_need_an_object_store(study_dir: Path, pick) -> None:
    spec = parse_spec(AdaptiveSpec, pick.adaptive_doc(runners={"replicas": 2}, central_store={}))
    study = StudyFiles.from_path(study_dir / "study.yaml")
    plan = AdaptivePlan.for_run(spec, "r2", "r2", "modelops-r2", study)
    with pytest.raises(K8sConfigError, match="object store"):
        build_adaptive(spec, plan, pg_secrets=generate_secrets(spec))
    # The storage stack's results container is enough; the spec's results.url would win over it.
    bound = AdaptivePlan.for_run(spec, "r2", "r2", "modelops-r2", study, runs_url="az://results-c/runs")
    _, _, runners = build_adaptive(
        spec, bound, pg_secrets=generate_secrets(spec), results_env={"AZURE_STORAGE_SAS_TOKEN": "x"}
    )
    assert runners[0]["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "az://results-c/runs"


def test_k8s_study_mount_is_where_runner_and_workers_meet(study_dir: Path, pick) -> None:
    spec = parse_spec(AdaptiveSpec, pick.adaptive_doc(study_mount="/app/examples/sir/"))
    plan = AdaptivePlan.for_run(spec, "r", "r", "modelops-r", StudyFiles.from_path(study_dir / "study.yaml"))
    _, _, runners = build_adaptive(spec, plan)
    c = runners[0]["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][0] == "/app/examples/sir/study.yaml"
    assert {"name": "study", "mountPath": "/app/examples/sir", "readOnly": True} in c["volumeMounts"]
    for bad in ("relative/dir", "/tmp", "/tmp/study", "/"):
        with pytest.raises(SpecError, match="study_mount"):
            parse_spec(AdaptiveSpec, pick.adaptive_doc(study_mount=bad))


def test_k8s_worker_args_follow_processes_and_threads(pick) -> None:
    spec = parse_spec(
        WorkspaceSpec,
        pick.workspace_doc(
            workers={
                "processes": 4,
                "threads": 2,
                "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"cpu": "4", "memory": "16Gi"}},
            }
        ),
    )
    args = worker_args(spec.spec.workers, "tcp://s:8786")
    assert args[:5] == ["tcp://s:8786", "--nworkers", "4", "--nthreads", "2"]
    assert int(args[args.index("--memory-limit") + 1]) == int(16 * 2**30 * 0.9) // 4


def test_k8s_workers_run_without_the_dask_profiler(pick) -> None:
    # The profiler measurably slows short simulations (bench/bench_execution.py); the local cluster turns it off too.
    for name in ("dask-worker-default", "dask-worker-gpu"):
        worker = pick.one(pick.workspace_manifests(), "Deployment", name)
        env = {e["name"]: e.get("value") for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"] == "False"
