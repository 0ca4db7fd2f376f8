"""The planes on their own, against the stand-in `pulumi`: they return results, never print or prompt, refuse with
PlaneError (which the CLI's one boundary turns into exit 1), and tear down in reverse order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops.core import naming
from modelops.planes import destroy, infra, registry, stacks, workspace
from modelops.planes.errors import PlaneError
from modelops_testing.fake_pulumi import FakePulumi

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = ROOT / "examples" / "providers" / "azure.yaml"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test-passphrase")
    pulumi = FakePulumi.install(tmp_path / "pulumi")
    monkeypatch.setenv("MODELOPS_PULUMI_ROOT", str(pulumi.root))
    return pulumi


def test_status_reports_without_printing(fake: FakePulumi, capsys: pytest.CaptureFixture[str]) -> None:
    missing = stacks.status("registry")
    assert missing.stack == "modelops-registry-dev" and missing.values is None
    fake.add_stack("modelops-registry-dev", {"login_server": "x.azurecr.io", "registry_name": "x"})
    found = stacks.status("registry")
    assert found.values is not None and found.values["login_server"].value == "x.azurecr.io"
    assert capsys.readouterr() == ("", "")


def test_teardown_lists_runs_first_and_infra_last(fake: FakePulumi, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add_stack("modelops-infra-dev", {"cluster_name": "aks", "resource_group": "modelops-dev-rg-alice"})
    fake.add_stack("modelops-workspace-dev", {"namespace": "modelops-dev"})
    fake.add_stack("modelops-adaptive-dev-exp-1", {"run_namespace": "modelops-exp-1"})
    fake.add_stack("modelops-storage-dev")  # a destroyed stack: its name stays, it holds nothing
    ctx = stacks.context(stacks.global_config())
    plan = destroy.teardown(ctx)
    assert plan.targets == (("adaptive", "exp-1"), ("workspace", None), ("infra", None))
    assert plan.state_resource_group == naming.state_resource_group_name("dev")
    assert infra.blockers(ctx) == ["modelops-workspace-dev", "modelops-adaptive-dev-exp-1"]
    target = infra.target(ctx)
    assert (target.cluster, target.resource_group) == ("aks", "modelops-dev-rg-alice")
    assert capsys.readouterr() == ("", "")


def test_teardown_refuses_the_state_backends_resource_group(fake: FakePulumi) -> None:
    fake.add_stack(
        "modelops-infra-dev", {"cluster_name": "aks", "resource_group": naming.state_resource_group_name("dev")}
    )
    with pytest.raises(PlaneError, match="state backend's; refusing"):
        destroy.teardown(stacks.context(stacks.global_config()))


def test_destroy_all_goes_in_order_and_says_so(fake: FakePulumi) -> None:
    fake.add_stack("modelops-workspace-dev", {"namespace": "modelops-dev"})
    fake.add_stack("modelops-adaptive-dev-exp-1", {"run_namespace": "modelops-exp-1"})
    config = stacks.global_config()
    ctx = stacks.context(config)
    heard: list[str] = []
    destroy.destroy_all(ctx, config, None, destroy.teardown(ctx), delete_rg=False, on_stack=heard.append)
    assert heard == ["modelops-adaptive-dev-exp-1", "modelops-workspace-dev"]
    assert [c.flag("--stack") for c in fake.calls_with("destroy")] == heard


def test_a_stack_without_resource_group_refuses_delete_rg_before_anything() -> None:
    from modelops.infra.automation import InfraError

    target = infra.InfraTarget("modelops-infra-dev", "eks", None)
    target.check(delete_rg=False)
    with pytest.raises(InfraError, match="--delete-rg applies to a stack with a resource group"):
        target.check(delete_rg=True)


def test_registry_needs_the_infra_stack(fake: FakePulumi, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelops.infra.providers.azure import AzureCloud

    monkeypatch.setattr(AzureCloud, "check_login", lambda self: "alice")  # no `az` here
    with pytest.raises(PlaneError) as info:
        registry.create(PROVIDER)
    assert "stack modelops-infra-dev is not up" in info.value.message and "mops infra up" in (info.value.hint or "")
    # Through the CLI: one JSON error, exit 1, kind "error", the plane's hint.
    result = CliRunner().invoke(app, ["registry", "create", "--config", str(PROVIDER), "--json"])
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert (error["kind"], error["hint"]) == ("error", "run `mops infra up` first")
    assert not fake.calls_with("up")


def test_workspace_render_is_what_the_cli_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelops.k8s.render import to_yaml

    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GHCR_USERNAME", "someone")
    monkeypatch.setenv("GHCR_TOKEN", "token-123")
    for name in ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    spec = ROOT / "examples" / "workspace.yaml"
    manifests = workspace.render(spec, "staging")
    assert capsys.readouterr() == ("", "")
    assert {m["metadata"].get("namespace") for m in manifests if m["kind"] != "Namespace"} == {"modelops-staging"}
    printed = CliRunner().invoke(app, ["workspace", "render", str(spec), "--env", "staging"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == to_yaml(manifests, show_secrets=False)


def test_scale_refuses_a_bad_group_name_before_the_cluster() -> None:
    with pytest.raises(PlaneError, match="must be a DNS label"):
        workspace.scale("Bad_Group", 2, None, None, None)


SEED = ROOT / "tests" / "infra" / "data" / "runtime_seed.yaml"


def test_infra_up_runtime_sizes_the_pools_it_plans(fake: FakePulumi, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up --runtime` builds the program from the same infra stack `plan` shows for those worker groups."""
    from modelops.infra import programs
    from modelops.infra.providers.azure import AzureCloud

    monkeypatch.setattr(AzureCloud, "check_login", lambda self: "alice")
    built: list[object] = []
    monkeypatch.setattr(programs, "build", lambda plan, ctx=None: built.append(plan) or (lambda: None))
    fake.set_outputs("modelops-infra-dev", {"cluster_name": "modelops-aks", "kubeconfig": "kc"}, secret=["kubeconfig"])
    notes: list[str] = []
    result = infra.up(PROVIDER, SEED, on_note=notes.append)
    (plan,) = built
    cluster = plan.config["cluster"]  # type: ignore[attr-defined]
    assert (cluster["workload_pool"]["min"], cluster["workload_pool"]["max"]) == (2, 6)
    assert [p["labels"]["modelops.io/worker-group"] for p in cluster["gpu_pools"]] == ["gpu-calib"]
    assert result.stack == "modelops-infra-dev" and result.values["kubeconfig"].secret
    assert any("stack modelops-infra-dev" in n for n in notes)


def test_infra_up_refuses_a_runtime_with_fields_nothing_reads(fake: FakePulumi, tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(SEED.read_text())
    data["spec"]["algorithms"] = {"calib": {"type": "optuna", "bindings": {"workers": "default-cpu"}}}
    path = tmp_path / "old-runtime.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["infra", "up", "--config", str(PROVIDER), "--runtime", str(path), "--json"])
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["problems"][0]["field"] == "spec.algorithms"
    assert not fake.calls_with("up")
