"""Automation against a stand-in pulumi CLI: backend, passphrase, stacks, outputs and errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from modelops.infra import automation
from modelops.infra.automation import PulumiContext
from modelops.specs.config import GlobalConfig
from modelops_testing.fake_pulumi import FakePulumi


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("MODELOPS_PULUMI_ROOT", raising=False)
    return tmp_path / "home"


@pytest.fixture
def fake(tmp_path: Path) -> FakePulumi:
    return FakePulumi.install(tmp_path / "pulumi")


def _program() -> None:  # never run by the stand-in; up only needs a callable
    raise AssertionError("the stand-in CLI does not run programs")


def test_passphrase_created_once_with_0600(home: Path) -> None:
    first = automation.load_passphrase(create=True)
    path = home / "pulumi" / "passphrase"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert automation.load_passphrase(create=False) == first
    assert len(first) >= 32


def test_passphrase_missing_is_a_clear_error(home: Path) -> None:
    with pytest.raises(automation.PassphraseMissing) as info:
        automation.load_passphrase(create=False)
    assert "PULUMI_CONFIG_PASSPHRASE" in info.value.message
    assert info.value.exit_code == automation.EXIT_PASSPHRASE_MISSING


def test_passphrase_from_env_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "from-env")
    assert automation.load_passphrase(create=True) == "from-env"
    assert not (home / "pulumi" / "passphrase").exists()


def test_world_readable_passphrase_file_is_refused(home: Path) -> None:
    automation.load_passphrase(create=True)
    (home / "pulumi" / "passphrase").chmod(0o644)
    with pytest.raises(automation.PassphraseMissing, match=r"readable by other users"):
        automation.load_passphrase(create=False)


def test_missing_cli_is_one_clear_error(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    with pytest.raises(automation.PulumiNotFound) as info:
        automation.find_pulumi()
    assert "get.pulumi.com" in (info.value.hint or "")
    assert info.value.exit_code == automation.EXIT_PULUMI_MISSING


def test_up_selects_stack_on_backend_with_passphrase(home: Path, fake: FakePulumi) -> None:
    fake.set_outputs("modelops-infra-dev", {"kubeconfig": "apiVersion: v1", "cluster_name": "c"}, secret=["kubeconfig"])
    ctx = PulumiContext.from_config(GlobalConfig(), pulumi_root=fake.root, create_passphrase=True)
    outputs = automation.up(ctx, "infra", _program, config={"azure-native:location": "eastus2", "flag": True})
    assert outputs == {"kubeconfig": "apiVersion: v1", "cluster_name": "c"}

    backend = (home / "pulumi" / "backend").as_uri()
    ups = fake.calls_with("up")
    assert len(ups) == 1
    assert ups[0].env["PULUMI_BACKEND_URL"] == backend
    assert ups[0].env["PULUMI_CONFIG_PASSPHRASE"] == ctx.passphrase
    assert ups[0].cwd == str(home / "pulumi" / "projects" / "modelops-infra")
    # create-or-select: select fails on a new stack, then init with the passphrase secrets provider.
    init = fake.calls_with("stack", "init")[0]
    assert init.argv[init.argv.index("init") + 1] == "modelops-infra-dev"
    assert init.flag("--secrets-provider") == "passphrase"
    config = fake.stacks()["modelops-infra-dev"]["config"]
    assert config["azure-native:location"] == {"value": "eastus2", "secret": False}
    assert config["flag"]["value"] == "true"

    # inline programs declare no plugins: the azure-native plugin is installed at the SDK's version first
    (plugin,) = fake.calls_with("plugin", "install")
    from importlib.metadata import version

    assert plugin.argv[-3:] == ("resource", "azure-native", f"v{version('pulumi-azure-native')}")
    assert fake.calls().index(plugin) < fake.calls().index(ups[0])

    values = automation.read_output_values(ctx, "infra")
    assert automation.redact(values) == {"kubeconfig": "[secret]", "cluster_name": "c"}


def test_status_of_missing_stack(home: Path, fake: FakePulumi) -> None:
    ctx = PulumiContext.from_config(GlobalConfig(), pulumi_root=fake.root, create_passphrase=True)
    with pytest.raises(automation.StackMissing) as info:
        automation.read_outputs(ctx, "registry")
    assert "modelops-registry-dev" in info.value.message
    assert not automation.stack_exists(ctx, "registry")


def test_locked_stack_gives_recovery_command(home: Path, fake: FakePulumi) -> None:
    ctx = PulumiContext.from_config(GlobalConfig(environment="prod"), pulumi_root=fake.root, create_passphrase=True)
    fake.add_stack("modelops-infra-prod")
    fake.lock("modelops-infra-prod")
    with pytest.raises(automation.StackLocked) as info:
        automation.up(ctx, "infra", _program)
    assert info.value.exit_code == automation.EXIT_STACK_LOCKED
    assert "pulumi cancel --stack modelops-infra-prod" in (info.value.hint or "")


def test_destroy_unprotects_then_destroys_only_that_stack(home: Path, fake: FakePulumi) -> None:
    ctx = PulumiContext.from_config(GlobalConfig(), pulumi_root=fake.root, create_passphrase=True)
    fake.add_stack("modelops-infra-dev", {"kubeconfig": "x"})
    fake.add_stack("modelops-registry-dev", {"login_server": "r"})
    automation.destroy(ctx, "infra", unprotect=True)
    unprotect = fake.calls_with("state", "unprotect")
    assert [c.flag("--stack") for c in unprotect] == ["modelops-infra-dev"]
    destroys = fake.calls_with("destroy")
    assert [c.flag("--stack") for c in destroys] == ["modelops-infra-dev"]
    assert fake.stacks()["modelops-registry-dev"]["outputs"] == {"login_server": "r"}


def test_azblob_backend_exports_storage_account(home: Path, fake: FakePulumi) -> None:
    config = GlobalConfig(pulumi_backend_url="azblob://pulumi-state-dev?storage_account=mopsdevstateab12")
    ctx = PulumiContext.from_config(config, pulumi_root=fake.root, create_passphrase=True)
    assert ctx.env_vars()["AZURE_STORAGE_ACCOUNT"] == "mopsdevstateab12"


def test_pulumi_cloud_org_qualifies_stack_names(home: Path, fake: FakePulumi) -> None:
    config = GlobalConfig(pulumi_backend_url="https://api.pulumi.com", organization="acme")
    ctx = PulumiContext.from_config(config, pulumi_root=fake.root, create_passphrase=True)
    assert ctx.stack_name("workspace") == "acme/modelops-workspace/modelops-workspace-dev"
    assert ctx.stack_reference("infra") == "acme/modelops-infra/modelops-infra-dev"
