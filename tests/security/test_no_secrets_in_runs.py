"""No secret in anything a run writes or prints (issue 19), and a resume with the password only in PGPASSWORD.

A real study runs as a `mops` process with: a DSN password (a private PostgreSQL that requires it), an Azurite runs
directory reached with a SAS token (in AZURE_STORAGE_SAS_TOKEN and in the connection string), and another secret in a
``*_API_KEY`` variable. Then every byte it wrote (every blob under the runs container, every local file it left), its
stdout/stderr, and the output of `runs show/list --json`, `runs export` and `runs plot` are searched for each secret
(verbatim and URL-quoted): 0 occurrences. The test prints N, the number of files searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import fsspec
import pytest
from hostile_corpus import base_spec, write_spec

from modelops.core.redaction import SPEC_NOTE
from modelops_testing.real_services import AZURITE_ACCOUNT, AZURITE_KEY

MOPS = [sys.executable, "-c", "from modelops.cli.app import main; main()"]
pytestmark = pytest.mark.services


def _sas_token(azurite_account_key: str) -> str:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    return generate_account_sas(
        account_name=AZURITE_ACCOUNT,
        account_key=azurite_account_key,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, delete=True, list=True, add=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=2),
    )


def _mops(cwd: Path, env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*MOPS, *args], cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False)


def _forms(secret: str) -> set[bytes]:
    return {f.encode() for f in (secret, quote(secret, safe=""), quote_plus(secret, safe=""))}


def test_a_run_writes_and_prints_no_secret_and_resumes_with_pgpassword(
    tmp_path: Path, password_postgres, azurite
) -> None:
    sas = _sas_token(AZURITE_KEY)
    api_key = "ak-" + os.urandom(12).hex()
    admin = fsspec.filesystem("az", connection_string=azurite.connection_string)
    container = f"secure{os.urandom(3).hex()}"
    admin.mkdir(container)
    runs = f"az://{container}/runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "MODELOPS_", "AZURE_", "PG"))}
    env.update(
        HOME=str(tmp_path / "home"),
        AZURE_STORAGE_CONNECTION_STRING=f"BlobEndpoint={azurite.account_url};SharedAccessSignature={sas}",
        AZURE_STORAGE_SAS_TOKEN=sas,
        MODELOPS_TEST_API_KEY=api_key,
    )
    study = tmp_path / "study"
    spec = write_spec(
        study,
        base_spec(
            storage={"kind": "postgres", "dsn": password_postgres.dsn()},
            algorithm={"ref": "optuna", "sampler": "random", "n_trials": 6, "seed": 2},
            replicates=2,
        ),
    )
    work = tmp_path / "work"
    work.mkdir()

    printed: list[bytes] = []
    first = _mops(work, env, "run", str(spec), "--runs-dir", runs, "--run-id", "sec-1", "--json")
    printed += [first.stdout, first.stderr]
    assert first.returncode == 0, first.stderr.decode()
    assert json.loads(first.stdout)["recorded"] == 6
    for args in (
        ("runs", "show", "sec-1", "--runs-dir", runs, "--json"),
        ("runs", "list", "--runs-dir", runs, "--json"),
        ("runs", "show", "sec-1", "--runs-dir", runs),
        ("runs", "export", "sec-1", "--runs-dir", runs, "-o", str(work / "trials.csv")),
        ("runs", "export", "sec-1", "--runs-dir", runs, "-f", "parquet", "-o", str(work / "trials.parquet")),
        ("runs", "export", "sec-1", "--runs-dir", runs, "--replicates", "-o", str(work / "replicates.csv")),
        ("runs", "plot", "sec-1", "--runs-dir", runs),
    ):
        done = _mops(work, env, *args)
        assert done.returncode == 0, (args, done.stderr.decode())
        printed += [done.stdout, done.stderr]

    # Every byte: each blob of the container, each local file the commands left, everything they printed.
    files: dict[str, bytes] = {p: admin.cat_file(p) for p in admin.find(container)}
    files |= {str(p): p.read_bytes() for p in work.rglob("*") if p.is_file()}
    files |= {f"printed[{i}]": b for i, b in enumerate(printed)}
    secrets = {"dsn password": password_postgres.password, "sas token": sas, "api key": api_key}
    secrets["sas signature"] = dict(kv.split("=", 1) for kv in sas.split("&"))["sig"]
    hits = {
        f"{name} in {where}": blob.count(form)
        for name, secret in secrets.items()
        for form in _forms(secret)
        for where, blob in files.items()
        if form in blob
    }
    n_run_files = len([p for p in files if p.startswith(container)])
    print(
        f"\nsearched {len(files)} files/streams ({n_run_files} written under the run, {len(printed)} printed): {hits}"
    )
    assert n_run_files >= 8 and any(p.endswith("spec.yaml") for p in files)
    assert hits == {}

    # spec.yaml keeps the spec, the password replaced by the marker and a note saying how to supply it.
    kept = admin.cat_file(f"{container}/runs/sec-1/spec.yaml").decode()
    assert kept.startswith(SPEC_NOTE) and ":***@127.0.0.1" in kept and "PGPASSWORD" in kept

    # Resume from that copy with the password only in PGPASSWORD: the marker is dropped, libpq takes PGPASSWORD.
    copy = study / "from-run.yaml"
    copy.write_text(kept.replace("n_trials: 6", "n_trials: 9"), encoding="utf-8")
    refused = _mops(work, env, "run", str(copy), "--resume", "sec-1", "--runs-dir", runs, "--json")
    assert refused.returncode != 0 and b"password" in refused.stdout + refused.stderr  # no password anywhere: refused
    resumed = _mops(
        work,
        {**env, "PGPASSWORD": password_postgres.password},
        "run",
        str(copy),
        "--resume",
        "sec-1",
        "--runs-dir",
        runs,
        "--json",
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    summary = json.loads(resumed.stdout)
    assert summary["recorded"] == 9 and summary["new_trials"] == 3 and summary["status"] == "completed"
    for stream in (refused.stdout, refused.stderr, resumed.stdout, resumed.stderr):
        assert password_postgres.password.encode() not in stream


def test_a_failed_connection_prints_no_password(tmp_path: Path, password_postgres) -> None:
    """Issue 20: "cannot open Optuna storage 'postgresql+psycopg://postgres:<password>@127.0.0.1:1/test'"."""
    study = tmp_path / "study"
    wrong_port = password_postgres.dsn().replace(f":{password_postgres.port}/", ":1/")
    spec = write_spec(study, base_spec(storage={"kind": "postgres", "dsn": wrong_port}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "MODELOPS_", "PG"))}
    env["HOME"] = str(tmp_path / "home")
    for extra in ((), ("--json",)):
        done = _mops(tmp_path, env, "run", str(spec), "--runs-dir", str(tmp_path / "runs"), *extra, timeout=120)
        out = done.stdout + done.stderr
        assert done.returncode in (1, 10), out.decode()
        assert b"127.0.0.1" in out  # the message does say where it tried to connect
        assert out.count(password_postgres.password.encode()) == 0, out.decode()
    # ...and neither does anything the failed run recorded.
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert password_postgres.password.encode() not in path.read_bytes(), path
