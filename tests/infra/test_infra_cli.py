"""The cloud CLI end to end against a stand-in `pulumi` (records argv and env) and a stand-in `az`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops.infra import automation
from modelops.infra.components.cluster import resource_group_urn
from modelops.infra.ssh import SSH_CONFIG_KEY
from modelops_testing.fake_pulumi import FakePulumi

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "providers" / "azure.yaml"
SUB = "00000000-0000-0000-0000-000000000000"

AZ_SCRIPT = """#!{python}
import json, sys
state = json.load(open({state!r}))
args = sys.argv[1:]
with open({log!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if not state["logged_in"]:
    print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
    sys.exit(1)
if args[:2] == ["account", "show"]:
    print(json.dumps({{"id": state["subscription"], "tenantId": "t", "user": {{"name": "alice@example.org"}}}}))
elif args[:2] == ["aks", "get-versions"]:
    print(json.dumps({{"values": [{{"version": "1.33", "patchVersions": {{v: {{}} for v in state["versions"]}}}}]}}))
else:
    sys.exit(2)
"""


class Cloud:
    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = tmp / "home"
        self.fake = FakePulumi.install(tmp / "pulumi")
        self.az_state = tmp / "az.json"
        self.az_log = tmp / "az.log"
        self.set_az(logged_in=True, subscription=SUB, versions=["1.33.2", "1.33.1"])
        az = tmp / "azbin" / "az"
        az.parent.mkdir()
        az.write_text(AZ_SCRIPT.format(python=sys.executable, state=str(self.az_state), log=str(self.az_log)))
        az.chmod(0o755)
        monkeypatch.setenv("MODELOPS_HOME", str(self.home))
        monkeypatch.setenv("MODELOPS_PULUMI_ROOT", str(self.fake.root))
        monkeypatch.setenv("MODELOPS_AZ", str(az))
        monkeypatch.setenv("USER", "alice")
        monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
        self.runner = CliRunner()

    def set_az(self, **state: Any) -> None:
        current = json.loads(self.az_state.read_text()) if self.az_state.exists() else {}
        self.az_state.write_text(json.dumps({**current, **state}))

    def mops(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(app, list(args), input=input)

    @property
    def backend(self) -> str:
        return (self.home / "pulumi" / "backend").as_uri()

    def passphrase(self) -> str:
        return (self.home / "pulumi" / "passphrase").read_text().strip()


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    return Cloud(tmp_path, monkeypatch)


INFRA_OUTPUTS = {
    "kubeconfig": "apiVersion: v1\nkind: Config\n",
    "cluster_name": "modelops-dev-aks-alice",
    "resource_group": "modelops-dev-rg-alice",
    "location": "eastus2",
    "kubelet_object_id": "oid",
}


def test_infra_up_selects_stack_on_backend_with_passphrase(cloud: Cloud) -> None:
    cloud.fake.set_outputs("modelops-infra-dev", INFRA_OUTPUTS, secret=["kubeconfig"])
    result = cloud.mops("infra", "up", "--config", str(EXAMPLE), "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["outputs"]["kubeconfig"] == "[secret]"
    assert printed["outputs"]["cluster_name"] == "modelops-dev-aks-alice"

    (up,) = cloud.fake.calls_with("up")
    assert up.flag("--stack") == "modelops-infra-dev"
    assert up.env["PULUMI_BACKEND_URL"] == cloud.backend
    assert up.env["PULUMI_CONFIG_PASSPHRASE"] == cloud.passphrase()
    config = cloud.fake.stacks()["modelops-infra-dev"]["config"]
    assert config["azure-native:subscriptionId"]["value"] == SUB
    assert config["azure-native:location"]["value"] == "eastus2"
    assert config[SSH_CONFIG_KEY]["secret"] is True
    # every pulumi call, not only up, went to the same backend with the passphrase
    assert {c.env.get("PULUMI_BACKEND_URL") for c in cloud.fake.calls() if c.command != ("version",)} == {cloud.backend}

    # a second up reuses the ephemeral key (a new key would replace the cluster's Linux profile)
    key = config[SSH_CONFIG_KEY]["value"]
    assert cloud.mops("infra", "up", "--config", str(EXAMPLE)).exit_code == 0
    assert cloud.fake.stacks()["modelops-infra-dev"]["config"][SSH_CONFIG_KEY]["value"] == key
    assert len(cloud.fake.calls_with("up")) == 2


def test_status_hides_secrets_and_reports_missing(cloud: Cloud) -> None:
    automation.load_passphrase(create=True)
    result = cloud.mops("infra", "status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deployed"] is False
    cloud.fake.add_stack("modelops-infra-dev", INFRA_OUTPUTS, secret=["kubeconfig"])
    result = cloud.mops("infra", "status", "--json")
    data = json.loads(result.stdout)
    assert data["outputs"]["kubeconfig"] == "[secret]" and data["outputs"]["location"] == "eastus2"
    table = cloud.mops("infra", "status")
    assert "apiVersion" not in table.output and "modelops-dev-aks-alice" in table.output


def test_kubeconfig_written_0600(cloud: Cloud, tmp_path: Path) -> None:
    automation.load_passphrase(create=True)
    cloud.fake.add_stack("modelops-infra-dev", INFRA_OUTPUTS, secret=["kubeconfig"])
    target = tmp_path / "kube" / "config"
    assert cloud.mops("infra", "kubeconfig", "-o", str(target)).exit_code == 0
    assert target.read_text() == INFRA_OUTPUTS["kubeconfig"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_down_keeps_resource_group_and_destroys_only_infra(cloud: Cloud) -> None:
    automation.load_passphrase(create=True)
    cloud.fake.add_stack("modelops-infra-dev", INFRA_OUTPUTS, secret=["kubeconfig"])
    cloud.fake.add_stack("modelops-registry-dev", {"login_server": "x.azurecr.io", "registry_name": "x"})
    cloud.fake.add_stack("modelops-state-dev", {"backend_url": "azblob://c?storage_account=a"})
    cloud.fake.add_stack("modelops-adaptive-dev-old", {})  # a run destroyed earlier does not block

    refused = cloud.mops("infra", "down", "--yes")
    assert refused.exit_code == 1 and "modelops-registry-dev" in refused.output
    assert cloud.fake.calls_with("destroy") == []

    assert cloud.mops("registry", "destroy", "--yes").exit_code == 0
    cloud.fake.add_stack("modelops-adaptive-dev-live", {"namespace": "modelops-live"})
    refused = cloud.mops("infra", "down", "--yes")
    assert refused.exit_code == 1 and "modelops-adaptive-dev-live" in refused.output
    assert "modelops-adaptive-dev-old" not in refused.output
    cloud.fake.add_stack("modelops-adaptive-dev-live", {})
    result = cloud.mops("infra", "down", "--yes")
    assert result.exit_code == 0, result.output
    assert [c.flag("--stack") for c in cloud.fake.calls_with("destroy")] == [
        "modelops-registry-dev",
        "modelops-infra-dev",
    ]
    assert [c.flag("--stack") for c in cloud.fake.calls_with("state", "unprotect")] == ["modelops-infra-dev"]
    assert cloud.fake.calls_with("up") == []  # the RG stays: no option change was needed
    assert "kept" in result.output
    assert cloud.fake.stacks()["modelops-state-dev"]["outputs"]  # the state backend was not touched


def test_down_delete_rg_releases_the_group_first(cloud: Cloud) -> None:
    automation.load_passphrase(create=True)
    cloud.fake.add_stack("modelops-infra-dev", INFRA_OUTPUTS, secret=["kubeconfig"])
    result = cloud.mops("infra", "down", "--delete-rg", "--yes", "--config", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    (up,) = cloud.fake.calls_with("up")
    assert up.flag("--target") == resource_group_urn("modelops-infra-dev", "modelops-infra")
    (destroy,) = cloud.fake.calls_with("destroy")
    assert destroy.flag("--stack") == "modelops-infra-dev"
    order = [c.command[0] for c in cloud.fake.calls() if c.command[:1] in (("up",), ("destroy",))]
    assert order == ["up", "destroy"]


def test_down_without_terminal_needs_yes(cloud: Cloud) -> None:
    automation.load_passphrase(create=True)
    cloud.fake.add_stack("modelops-infra-dev", INFRA_OUTPUTS)
    result = cloud.mops("infra", "down")
    assert result.exit_code == 1 and "--yes" in result.output
    assert cloud.fake.calls_with("destroy") == []


def test_missing_cli_passphrase_login_and_lock_each_have_an_exit_code(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELOPS_PULUMI_ROOT", str(tmp_path / "nowhere"))
    result = cloud.mops("infra", "status")
    assert result.exit_code == automation.EXIT_PULUMI_MISSING and "get.pulumi.com" in result.output
    monkeypatch.setenv("MODELOPS_PULUMI_ROOT", str(cloud.fake.root))

    result = cloud.mops("infra", "status")
    assert result.exit_code == automation.EXIT_PASSPHRASE_MISSING
    assert "PULUMI_CONFIG_PASSPHRASE" in result.output

    cloud.set_az(logged_in=False)
    result = cloud.mops("infra", "up", "--config", str(EXAMPLE))
    assert result.exit_code == automation.EXIT_AZURE_LOGIN and "az login" in result.output
    cloud.set_az(logged_in=True, subscription="99999999-0000-0000-0000-000000000000")
    result = cloud.mops("infra", "up", "--config", str(EXAMPLE))
    assert result.exit_code == automation.EXIT_AZURE_LOGIN and "az account set" in result.output
    assert cloud.fake.calls_with("up") == []

    cloud.set_az(subscription=SUB)
    cloud.fake.add_stack("modelops-infra-dev", INFRA_OUTPUTS)
    cloud.fake.lock("modelops-infra-dev")
    result = cloud.mops("infra", "up", "--config", str(EXAMPLE))
    assert result.exit_code == automation.EXIT_STACK_LOCKED
    assert "pulumi cancel --stack modelops-infra-dev" in result.output.replace("\n", "")


def test_bad_provider_config_names_the_field(cloud: Cloud, tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["aks"]["version"] = "1.33"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = cloud.mops("infra", "up", "--config", str(bad))
    assert result.exit_code == 2
    assert "aks.version" in result.output and "major.minor.patch" in result.output
    missing = cloud.mops("infra", "up")
    assert missing.exit_code == 1 and "no provider config" in missing.output


def test_destroy_all_reverse_order_never_state(cloud: Cloud) -> None:
    automation.load_passphrase(create=True)
    for stack, outputs in [
        ("modelops-infra-dev", INFRA_OUTPUTS),
        ("modelops-registry-dev", {"login_server": "x"}),
        ("modelops-storage-dev", {"account_name": "a"}),
        ("modelops-workspace-dev", {"namespace": "modelops-dev"}),
        ("modelops-adaptive-dev-run1", {"namespace": "modelops-run1"}),
        ("modelops-adaptive-dev-run2", {}),  # already destroyed: skipped
        ("modelops-state-dev", {"backend_url": "azblob://x?storage_account=y"}),
        ("modelops-infra-prod", INFRA_OUTPUTS),  # another environment: untouched
    ]:
        cloud.fake.add_stack(stack, outputs)
    result = cloud.mops("destroy", "--all", "--yes")
    assert result.exit_code == 0, result.output
    assert [c.flag("--stack") for c in cloud.fake.calls_with("destroy")] == [
        "modelops-adaptive-dev-run1",
        "modelops-workspace-dev",
        "modelops-storage-dev",
        "modelops-registry-dev",
        "modelops-infra-dev",
    ]
    assert cloud.fake.stacks()["modelops-state-dev"]["outputs"]
    assert cloud.fake.stacks()["modelops-infra-prod"]["outputs"]


def test_destroy_all_in_prod_needs_the_typed_name(cloud: Cloud) -> None:
    assert cloud.mops("config", "init", "--environment", "prod").exit_code == 0
    automation.load_passphrase(create=True)
    cloud.fake.add_stack("modelops-infra-prod", INFRA_OUTPUTS)
    refused = cloud.mops("destroy", "--all", "--yes")
    assert refused.exit_code == 1 and "--confirm-env prod" in refused.output
    wrong = cloud.mops("destroy", "--all", "--confirm-env", "dev")
    assert wrong.exit_code == 1
    assert cloud.fake.calls_with("destroy") == []
    ok = cloud.mops("destroy", "--all", "--confirm-env", "prod")
    assert ok.exit_code == 0, ok.output
    assert [c.flag("--stack") for c in cloud.fake.calls_with("destroy")] == ["modelops-infra-prod"]


def test_destroy_without_all_explains(cloud: Cloud) -> None:
    result = cloud.mops("destroy")
    assert result.exit_code == 2 and "--all" in result.output


def test_config_init_show_set(cloud: Cloud) -> None:
    assert cloud.mops("config", "init", "--username", "Bob").exit_code == 0
    again = cloud.mops("config", "init")
    assert again.exit_code == 1 and "already exists" in again.output
    shown = json.loads(cloud.mops("config", "show", "--json").stdout)
    assert shown["settings"]["username"] == "Bob" and shown["settings"]["environment"] == "dev"
    assert shown["settings"]["pulumi_backend_url"] == cloud.backend
    bad = cloud.mops("config", "set", "environment", "Pre-Prod")
    assert bad.exit_code == 2 and "environment" in bad.output
    unknown = cloud.mops("config", "set", "colour", "blue")
    assert unknown.exit_code == 2 and "unknown setting" in unknown.output
    assert cloud.mops("config", "set", "environment", "staging").exit_code == 0
    assert yaml.safe_load((cloud.home / "config.yaml").read_text())["environment"] == "staging"
    assert cloud.mops("config", "set", "username", "null").exit_code == 0
    assert json.loads(cloud.mops("config", "show", "--json").stdout)["settings"]["username"] == "alice"


def test_doctor_checks_version_and_login(cloud: Cloud) -> None:
    result = cloud.mops("infra", "doctor", "--config", str(EXAMPLE), "--json")
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["aks version"]["status"] == "ok"
    assert checks["azure login"]["status"] == "ok"
    assert checks["pulumi CLI"]["status"] == "ok"
    assert checks["secrets passphrase"]["status"] == "warn"
    cloud.set_az(versions=["1.34.1", "1.34.0"])
    result = cloud.mops("infra", "doctor", "--config", str(EXAMPLE), "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["aks version"]["status"] == "fail" and "1.34.1" in checks["aks version"]["detail"]


def test_bootstrap_creates_backend_and_switches_to_it(cloud: Cloud) -> None:
    url = "azblob://pulumi-state-dev?storage_account=mopsdevstateab12cd34"
    cloud.fake.set_outputs("modelops-state-dev", {"backend_url": url, "resource_group": "modelops-dev-state-rg"})
    result = cloud.mops("infra", "bootstrap", "--config", str(EXAMPLE), "--yes")
    assert result.exit_code == 0, result.output
    (up,) = cloud.fake.calls_with("up")
    assert up.flag("--stack") == "modelops-state-dev"
    assert up.env["PULUMI_BACKEND_URL"] == cloud.backend  # the backend's own state stays local
    assert yaml.safe_load((cloud.home / "config.yaml").read_text())["pulumi_backend_url"] == url
    ssh_set = [c for c in cloud.fake.calls_with("config", "set") if SSH_CONFIG_KEY in c.argv]
    assert len(ssh_set) == 1 and "--secret" in ssh_set[0].argv
    assert ssh_set[0].flag("--stack") == "modelops-infra-dev"
    assert ssh_set[0].env["PULUMI_BACKEND_URL"] == url
    assert ssh_set[0].env["AZURE_STORAGE_ACCOUNT"] == "mopsdevstateab12cd34"
    assert "PRIVATE KEY" not in json.dumps(cloud.fake.stacks())


def test_registry_needs_the_cluster_then_reads_it(cloud: Cloud) -> None:
    refused = cloud.mops("registry", "create", "--config", str(EXAMPLE))
    assert refused.exit_code == 1 and "mops infra up" in refused.output
    cloud.fake.add_stack("modelops-infra-dev", INFRA_OUTPUTS)
    cloud.fake.set_outputs("modelops-registry-dev", {"login_server": "r.azurecr.io", "registry_name": "r"})
    result = cloud.mops("registry", "create", "--config", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert [c.flag("--stack") for c in cloud.fake.calls_with("up")] == ["modelops-registry-dev"]
    assert "az acr login --name r" in result.output


def test_storage_env_exports_sas_not_key(cloud: Cloud) -> None:
    automation.load_passphrase(create=True)
    outputs = {
        "account_name": "mopsdevstx",
        "blob_endpoint": "https://mopsdevstx.blob.core.windows.net/",
        "results_container": "results",
        "cache_container": "cache",
        "bundles_container": "bundles",
        "sas_token": "sv=1&sig=abc",
        "sas_expiry": "2026-02-01T00:00:00Z",
    }
    cloud.fake.add_stack("modelops-storage-dev", outputs, secret=["sas_token"])
    status = json.loads(cloud.mops("storage", "status", "--json").stdout)
    assert status["outputs"]["sas_token"] == "[secret]"
    env = cloud.mops("storage", "env")
    assert env.exit_code == 0
    assert "export AZURE_STORAGE_SAS_TOKEN='sv=1&sig=abc'" in env.stdout
    assert "export MODELOPS_RESULTS_URL=az://results" in env.stdout
    assert "KEY" not in env.stdout.replace("SAS_TOKEN", "")


def test_plan_command_prints_stacks(cloud: Cloud) -> None:
    seed = Path(__file__).parent / "data" / "runtime_seed.yaml"
    result = cloud.mops("infra", "plan", str(seed), "--json")
    assert result.exit_code == 0, result.output
    # The seed's provider config enables no registry: the plan is the infra stack `up --runtime` would apply.
    assert [s["stack"] for s in json.loads(result.stdout)["stacks"]] == ["modelops-infra-dev"]
