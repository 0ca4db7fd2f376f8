"""modelops_testing.pod: the kubelet's rules the pod-equivalent tests rely on, and broken references caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops_testing.pod import PodEmulationError, container_process, resolve_env


def _manifests() -> list[dict]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "ns"},
        "stringData": {"PGPASSWORD": "s3cret", "PGUSER": "from-secret"},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "files", "namespace": "ns"},
        "data": {"data__a.csv": "x\n1\n", "study.yaml": "kind: Study\n"},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {
                            "name": "study",
                            "configMap": {
                                "name": "files",
                                "items": [
                                    {"key": "data__a.csv", "path": "data/a.csv"},
                                    {"key": "study.yaml", "path": "study.yaml"},
                                ],
                            },
                        },
                        {"name": "runs", "persistentVolumeClaim": {"claimName": "runs-x"}},
                    ],
                    "containers": [
                        {
                            "name": "c",
                            "command": ["mops", "run"],
                            "args": [
                                "/etc/study/study.yaml",
                                "--name",
                                "$(POD_NAME)",
                                "--keep",
                                "$(UNDEFINED)",
                                "--runs-dir",
                                "file:///tmp/elsewhere",
                                "--out",
                                "/var/runs",
                            ],
                            "envFrom": [{"secretRef": {"name": "creds"}}],
                            "env": [
                                {"name": "HOME", "value": "/tmp"},
                                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "PGUSER", "value": "from-env"},
                                {"name": "GREETING", "value": "pod $(POD_NAME)"},
                                {"name": "ADDR", "value": "tcp://svc.ns:8786"},
                            ],
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "study", "mountPath": "/etc/study"},
                                {"name": "runs", "mountPath": "/var/runs"},
                            ],
                        }
                    ],
                }
            }
        },
    }
    return [secret, config, job]


def test_k8s_pod_env_follows_kubelet_rules() -> None:
    m = _manifests()
    env = resolve_env(m[2]["spec"]["template"]["spec"]["containers"][0], m, pod_name="j-0", namespace="ns")
    assert env["PGPASSWORD"] == "s3cret"
    assert env["PGUSER"] == "from-env"  # env wins over envFrom
    assert env["POD_NAME"] == "j-0" and env["GREETING"] == "pod j-0"


def test_k8s_pod_process_materialises_volumes_and_translates(tmp_path: Path) -> None:
    m = _manifests()
    proc = container_process(
        m[2],
        m,
        tmp_path / "pods",
        pod_name="j-0",
        shared=tmp_path / "pvcs",
        rewrite={"svc.ns": "127.0.0.1"},
        flag_values={"--name": "override"},
        executables={"mops": "/venv/bin/mops"},
        base_env={"PATH": "/venv/bin"},
    )
    study = Path(proc.argv[2])
    assert proc.argv[:2] == ["/venv/bin/mops", "run"]
    assert study.read_text() == "kind: Study\n" and (study.parent / "data" / "a.csv").read_text() == "x\n1\n"
    assert proc.argv[proc.argv.index("--name") + 1] == "override"
    assert "$(UNDEFINED)" in proc.argv  # undefined references stay as written, like the kubelet
    assert "file:///tmp/elsewhere" in proc.argv  # not a mount path: left alone
    assert proc.argv[-1] == str(tmp_path / "pvcs" / "runs-x")
    assert proc.env["HOME"] == str(proc.mounts["/tmp"]) and proc.env["ADDR"] == "tcp://127.0.0.1:8786"
    assert proc.env["PATH"] == "/venv/bin"


def test_k8s_pod_broken_references_fail(tmp_path: Path) -> None:
    m = _manifests()
    without_secret = m[1:]
    with pytest.raises(PodEmulationError, match="creds"):
        container_process(m[2], without_secret, tmp_path, pod_name="p", shared=tmp_path)
    without_config = [m[0], m[2]]
    with pytest.raises(PodEmulationError, match="files"):
        container_process(m[2], without_config, tmp_path, pod_name="p", shared=tmp_path)
