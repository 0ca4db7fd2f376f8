"""`mops infra|registry|storage` with provider: aws, against the stand-in `pulumi` and, for credentials, nothing (one
clear message) or moto's server (its STS answers get-caller-identity as a real account would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops.infra import automation
from modelops_testing.fake_pulumi import FakePulumi
from modelops_testing.real_services import ServiceUnavailable, services_required
from modelops_testing.s3 import ACCOUNT, S3Server, moto_s3_server

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "providers" / "aws.yaml"
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
INFRA_OUTPUTS = {
    "kubeconfig": "apiVersion: v1\nkind: Config\n",
    "cluster_name": "modelops-dev-eks-alice",
    "region": "us-east-1",
    "node_role_arn": f"arn:aws:iam::{ACCOUNT}:role/modelops-dev-eks-alice-node",
}


@pytest.fixture(scope="session")
def sts_server() -> Iterator[S3Server]:
    try:
        with moto_s3_server() as server:
            yield server
    except ServiceUnavailable as exc:
        if services_required():
            pytest.fail(f"required service unavailable: {exc}", pytrace=False)
        pytest.skip(str(exc))


class Env:
    """A user with no AWS credentials at all: empty environment, no ~/.aws, no instance metadata."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.fake = FakePulumi.install(tmp / "pulumi")
        self.monkeypatch = monkeypatch
        for key in AWS_ENV:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "no-credentials"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp / "no-config"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("MODELOPS_HOME", str(self.home))
        monkeypatch.setenv("MODELOPS_PULUMI_ROOT", str(self.fake.root))
        monkeypatch.setenv("USER", "alice")
        monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)

    def log_in(self, server: S3Server) -> None:
        for key, value in server.env().items():
            self.monkeypatch.setenv(key, value)

    def mops(self, *args: str) -> Any:
        return CliRunner().invoke(app, list(args))

    def config(self, **over: Any) -> Path:
        data = {**yaml.safe_load(EXAMPLE.read_text()), **over}
        path = self.tmp / "aws.yaml"
        path.write_text(yaml.safe_dump(data))
        return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return Env(tmp_path, monkeypatch)


def test_up_without_credentials_is_one_clear_message(env: Env) -> None:
    # As a user runs it: a separate process, so anything printed (a traceback included) is seen.
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
    assert len(errors) == 1 and errors[0].startswith("error: no AWS credentials found"), proc.stderr
    assert "aws sso login" in proc.stderr
    assert env.fake.calls_with("up") == []  # nothing reached Pulumi
    # registry and storage check the login the same way
    for args in (("registry", "create"), ("storage", "up")):
        result = env.mops(*args, "--config", str(EXAMPLE))
        assert result.exit_code == automation.EXIT_AZURE_LOGIN and "no AWS credentials" in result.output


@pytest.mark.services
def test_up_with_credentials_brings_the_stack_up_through_pulumi(env: Env, sts_server: S3Server) -> None:
    env.log_in(sts_server)
    env.fake.set_outputs("modelops-infra-dev", INFRA_OUTPUTS, secret=["kubeconfig"])
    result = env.mops("infra", "up", "--config", str(env.config(account_id=ACCOUNT)), "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["outputs"]["kubeconfig"] == "[secret]"
    assert printed["outputs"]["cluster_name"] == "modelops-dev-eks-alice"
    config = env.fake.stacks()["modelops-infra-dev"]["config"]
    assert config["aws:region"]["value"] == "us-east-1"
    assert not any(k.startswith("azure-native:") for k in config)
    installs = [c.argv for c in env.fake.calls_with("plugin", "install")]
    assert any("aws" in argv for argv in installs) and not any("azure-native" in argv for argv in installs)
    # The kubeconfig is kept as a secret output and can be written out.
    status = json.loads(env.mops("infra", "status", "--json").stdout)
    assert status["outputs"]["kubeconfig"] == "[secret]"

    # registry: reads the cluster stack, prints how to log docker in to ECR
    env.fake.set_outputs(
        "modelops-registry-dev",
        {"login_server": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com", "registry_name": "modelops-dev-alice"},
    )
    result = env.mops("registry", "create", "--config", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "aws ecr get-login-password --region us-east-1" in result.output.replace("\n", " ")


@pytest.mark.services
def test_wrong_account_is_refused_before_pulumi(env: Env, sts_server: S3Server) -> None:
    env.log_in(sts_server)
    result = env.mops("infra", "up", "--config", str(env.config(account_id="999999999999")))
    assert result.exit_code == automation.EXIT_AZURE_LOGIN
    assert f"account {ACCOUNT}" in result.output and "999999999999" in result.output
    assert env.fake.calls_with("up") == []


@pytest.mark.services
def test_doctor_reports_the_aws_login(env: Env, sts_server: S3Server) -> None:
    result = env.mops("infra", "doctor", "--config", str(EXAMPLE), "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["provider config"]["status"] == "ok" and "provider aws" in checks["provider config"]["detail"]
    assert checks["aws login"]["status"] == "fail" and result.exit_code == 1
    env.log_in(sts_server)
    result = env.mops("infra", "doctor", "--config", str(EXAMPLE), "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["aws login"]["status"] == "ok" and ACCOUNT in checks["aws login"]["detail"]
    assert "eks version" in checks  # moto may not answer describe-cluster-versions: then a warning, never a crash


def test_a_bad_aws_config_names_the_field(env: Env) -> None:
    result = env.mops("infra", "up", "--config", str(env.config(region="US East", eks={"version": "1.33.2"})))
    assert result.exit_code == 2
    assert "region" in result.output and "us-east-1" in result.output
    assert "eks.version" in result.output and "major.minor" in result.output


@pytest.mark.services
def test_storage_env_and_down_work_without_resource_groups_or_secrets(env: Env, sts_server: S3Server) -> None:
    env.log_in(sts_server)
    store_env = {"MODELOPS_RESULTS_URL": "s3://modelops-dev-alice-results-ab12cd34", "AWS_REGION": "us-east-1"}
    env.fake.set_outputs("modelops-infra-dev", INFRA_OUTPUTS, secret=["kubeconfig"])
    env.fake.set_outputs(
        "modelops-storage-dev",
        {
            "results_bucket": "modelops-dev-alice-results-ab12cd34",
            "results_url": store_env["MODELOPS_RESULTS_URL"],
            "env": store_env,
        },
    )
    assert env.mops("infra", "up", "--config", str(EXAMPLE)).exit_code == 0
    result = env.mops("storage", "up", "--config", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    printed = env.mops("storage", "env")
    assert printed.exit_code == 0, printed.output
    assert "export MODELOPS_RESULTS_URL=s3://modelops-dev-alice-results-ab12cd34" in printed.stdout
    assert "SAS" not in printed.output and "SECRET" not in printed.output.upper()

    # infra down refuses while storage uses the cluster, then destroys the stack whole (no resource group to keep)
    assert env.mops("infra", "down", "--yes").exit_code == 1
    down = env.mops("storage", "down", "--yes")
    assert down.exit_code == 0 and "storage modelops-dev-alice-results-ab12cd34 destroyed" in down.output
    result = env.mops("infra", "down", "--yes")
    assert result.exit_code == 0, result.output
    assert "infra destroyed: cluster modelops-dev-eks-alice" in result.output
    assert "resource group" not in result.output
    assert env.mops("infra", "down", "--yes", "--delete-rg").exit_code == 0  # nothing left to destroy


def test_the_global_provider_picks_the_default_provider_config(env: Env) -> None:
    result = env.mops("config", "init", "--provider", "aws")
    assert result.exit_code == 0, result.output
    missing = env.mops("infra", "up")
    assert missing.exit_code != 0
    text = missing.output.replace("\n", "")
    assert "providers/aws.yaml" in text and "examples/providers/aws.yaml" in text
    target = env.home / "providers" / "aws.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(EXAMPLE.read_text())
    result = env.mops("infra", "up")
    assert result.exit_code == automation.EXIT_AZURE_LOGIN and "no AWS credentials" in result.output
