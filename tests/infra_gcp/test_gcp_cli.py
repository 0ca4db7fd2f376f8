"""`mops infra|registry|storage|doctor` with provider: gcp and no Google Cloud credentials: one clear message each,
before Pulumi is touched. (With credentials the commands run as for AWS; no local Google Cloud endpoint can stand
in for the application-default-credentials refresh, so that path is not exercised here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops.infra import automation
from modelops_testing.fake_pulumi import FakePulumi

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "providers" / "gcp.yaml"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    """No credentials anywhere: no GOOGLE_APPLICATION_CREDENTIALS, an empty gcloud config, no metadata server."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USER", "alice")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    pulumi = FakePulumi.install(tmp_path / "pulumi")
    monkeypatch.setenv("MODELOPS_PULUMI_ROOT", str(pulumi.root))
    return pulumi


def _mops(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_up_without_credentials_is_one_clear_message(fake: FakePulumi) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from modelops.cli.app import main; main()", "infra", "up", "--config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert proc.returncode == automation.EXIT_AZURE_LOGIN, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: no Google Cloud credentials (application default credentials)"], proc.stderr
    assert "gcloud auth application-default login" in proc.stderr
    assert fake.calls_with("up") == []
    for args in (("registry", "create"), ("storage", "up")):
        result = _mops(*args, "--config", str(EXAMPLE))
        assert result.exit_code == automation.EXIT_AZURE_LOGIN and "no Google Cloud credentials" in result.output


def test_doctor_fails_the_login_check_and_names_the_fix(fake: FakePulumi) -> None:
    result = _mops("infra", "doctor", "--config", str(EXAMPLE), "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["provider config"]["status"] == "ok"
    assert checks["gcp login"]["status"] == "fail"
    assert "application-default login" in checks["gcp login"]["fix"]


def test_a_bad_gcp_config_names_the_field(fake: FakePulumi, tmp_path: Path) -> None:
    data = {**yaml.safe_load(EXAMPLE.read_text()), "zone": "us-east1-b", "project": "X"}
    path = tmp_path / "gcp.yaml"
    path.write_text(yaml.safe_dump(data))
    result = _mops("infra", "up", "--config", str(path))
    assert result.exit_code == 2
    assert "project" in result.output and "gcloud projects list" in result.output
