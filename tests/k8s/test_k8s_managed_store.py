"""A run on the managed store: no password in any manifest or Secret, the admin password only where the bootstrap
runs, TLS verified, egress only to the server's port."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from modelops.k8s.managed_store import SECRETS_MOUNT, ManagedStoreError, ManagedStoreTarget
from modelops.specs.adaptive import ManagedStore


def _managed(study_dir: Path, pick) -> list[dict]:
    return pick.adaptive_variants(study_dir / "study.yaml")["managed"]


def test_k8s_managed_store_has_no_password_anywhere(study_dir: Path, pick) -> None:
    manifests = _managed(study_dir, pick)
    assert pick.by_kind(manifests, "Secret") == []
    text = yaml.safe_dump_all(manifests)
    assert "PGPASSWORD:" not in text and "password:" not in text.lower().replace("-password", "")
    spcs = {m["metadata"]["name"]: m["spec"]["parameters"] for m in pick.by_kind(manifests, "SecretProviderClass")}
    boot, runtime = spcs["pg-mg-run-bootstrap"], spcs["pg-mg-run-runtime"]
    # The admin password is mounted only for the bootstrap, as the store admin identity.
    assert "pg-admin-password" in boot["objects"] and "pg-runtime-mg-run" in boot["objects"]
    assert boot["clientID"] == "33333333-3333-3333-3333-333333333333"
    assert "pg-admin-password" not in runtime["objects"] and "pg-runtime-mg-run" in runtime["objects"]
    assert runtime["clientID"] == "22222222-2222-2222-2222-222222222222"
    assert boot["usePodIdentity"] == "false" and boot["keyvaultName"] == "modelopsdevkvab12cd34"


def test_k8s_managed_store_pods(study_dir: Path, pick) -> None:
    manifests = _managed(study_dir, pick)
    jobs = {m["metadata"]["name"]: m["spec"]["template"]["spec"] for m in pick.by_kind(manifests, "Job")}
    boot, runner = jobs["pg-mg-run-bootstrap"], jobs["runner-mg-run"]
    assert boot["serviceAccountName"] == "modelops-store-admin"
    assert runner["serviceAccountName"] == "modelops-workload"
    (bc,) = boot["containers"]
    benv = {e["name"]: e["value"] for e in bc["env"]}
    assert bc["command"] == ["mops"] and bc["args"][:2] == ["adaptive", "bootstrap-store"]
    assert benv["PGUSER"] == "modelops_admin" and benv["PGHOST"].endswith(".postgres.database.azure.com")
    assert benv["PGSSLMODE"] == "verify-full" and benv["PGSSLROOTCERT"] == "system"
    (rc,) = runner["containers"]
    renv = {e["name"]: e.get("value") for e in rc["env"]}
    assert renv["PGUSER"] == "optuna_mg_run" and renv["PGDATABASE"] == "optuna_mg_run"
    assert renv["PGSSLMODE"] == "verify-full" and "PGPASSWORD" not in renv
    assert "envFrom" not in rc
    csi = [v for v in runner["volumes"] if "csi" in v]
    assert csi[0]["csi"]["volumeAttributes"]["secretProviderClass"] == "pg-mg-run-runtime"
    (sa,) = [m for m in pick.by_kind(manifests, "ServiceAccount") if m["metadata"]["name"] == "modelops-store-admin"]
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"].startswith("3333")
    (egress,) = [
        m for m in pick.by_kind(manifests, "NetworkPolicy") if m["metadata"]["name"] == "allow-egress-to-postgres"
    ]
    assert egress["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.20.3.0/24"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    ]


def test_k8s_managed_runner_command_hands_the_file_to_libpq(study_dir: Path, pick, tmp_path: Path) -> None:
    """The runner's `sh -c` wrapper, run as written in the manifest against a stand-in `mops`."""
    (runner,) = [m for m in _managed(study_dir, pick) if m["metadata"]["name"] == "runner-mg-run"]
    c = runner["spec"]["template"]["spec"]["containers"][0]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "runtime-password").write_text("pa ss'word\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mops"
    fake.write_text('#!/bin/sh\nprintf "%s|" "$PGPASSWORD" "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    script = c["command"][2].replace(SECRETS_MOUNT, str(secrets))
    out = subprocess.run(
        [c["command"][0], c["command"][1], script, *c["command"][3:], *c["args"]],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    parts = out.split("|")
    assert parts[0] == "pa ss'word"  # the file's content, newline dropped, spaces and quotes intact
    assert parts[1] == "run" and parts[2].endswith("/study.yaml") and "--run-id" in parts


def test_k8s_managed_target_names_what_is_missing() -> None:
    store = ManagedStore(kind="managed")
    with pytest.raises(ManagedStoreError, match="host, admin_user, key_vault, admin_client_id"):
        ManagedStoreTarget.resolve(store, "r1")
    target = ManagedStoreTarget.resolve(
        ManagedStore(kind="managed", database="mine", sslmode="require"),
        "r-1",
        host="h",
        admin_user="a",
        key_vault="kv-one",
        admin_client_id="c",
    )
    assert (target.database, target.user) == ("mine", "optuna_r_1")
    assert {"name": "PGSSLROOTCERT", "value": "system"} not in target.libpq_env("u")
