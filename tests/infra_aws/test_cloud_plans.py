"""A Runtime document with provider name aws or gcp compiles through the same ProviderPlugin interface as Azure:
the cloud's infra stack (pools sized by the worker groups), its registry stack, then the unchanged workspace and
adaptive planes; apply brings them up in order against the stand-in pulumi CLI."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.infra import programs, providers
from modelops.infra.automation import PulumiContext
from modelops.infra.plan import ProviderPlugin, StackPlan
from modelops.specs.base import SpecError, parse_spec
from modelops.specs.config import GlobalConfig
from modelops.specs.runtime import RuntimeSpec
from modelops_testing.fake_pulumi import FakePulumi

SEED = Path(__file__).resolve().parents[1] / "infra" / "data" / "runtime_seed.yaml"
PROVIDERS = {
    "aws": {"name": "aws", "region": "eu-west-1", "eks": {"name": "team-eks"}},
    "gcp": {"name": "gcp", "project": "my-proj-123", "region": "us-central1", "zone": "us-central1-b"},
}


def runtime(cloud: str, **spec_over: Any) -> RuntimeSpec:
    data = yaml.safe_load(SEED.read_text())
    data["spec"]["provider"] = copy.deepcopy(PROVIDERS[cloud])
    data["spec"]["objectStore"]["managed"] = False  # runs point at the buckets `mops storage up` made
    data["spec"]["workerGroups"]["gpu-calib"]["gpu"]["model"] = "T4"
    data["spec"].update(spec_over)
    return parse_spec(RuntimeSpec, data, "runtime")


def plugin(cloud: str, **kw: Any) -> ProviderPlugin:
    return providers.get(cloud, environment="dev", username="alice", **kw)


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_a_runtime_compiles_to_the_clouds_stacks_then_the_same_planes(cloud: str) -> None:
    p = plugin(cloud)
    assert isinstance(p, ProviderPlugin)
    plan = p.compile(runtime(cloud))
    assert plan.provider == cloud
    assert plan.components() == ["infra", "registry", "workspace", "adaptive"]
    infra = plan.stack("infra")
    assert infra.program == f"modelops.infra.components.{cloud}:infra_program"
    cluster = infra.config["cluster"]
    assert (cluster["workload_pool"]["min"], cluster["workload_pool"]["max"]) == (2, 6)  # widened by default-cpu
    (gpu,) = cluster["gpu_pools"]
    assert gpu["vm_size"] == {"aws": "g4dn.xlarge", "gcp": "n1-standard-4"}[cloud]
    assert gpu["labels"]["modelops.io/worker-group"] == "gpu-calib"
    # The planes are the shared ones (no program of their own), reading the infra stack's kubeconfig.
    workspace = plan.stack("workspace")
    assert workspace.program is None and workspace.config["cluster"] == {"source": "infra"}
    assert workspace.reads["infra"] == "organization/modelops-infra/modelops-infra-dev"
    assert plan.stack("adaptive", run_id="optuna-calibration").config["namespace"] == "modelops-optuna-calibration"


def test_aws_cluster_name_and_region_come_from_the_runtime() -> None:
    plan = plugin("aws").compile(runtime("aws"))
    assert plan.stack("infra").config["cluster"]["cluster_name"] == "team-eks"
    assert plan.stack("infra").stack_config == {"aws:region": "eu-west-1"}
    assert plan.stack("registry").config["registry"]["prefix"] == "modelops-dev-alice"


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_a_managed_object_store_and_unknown_gpu_are_named_problems(cloud: str) -> None:
    spec = runtime(cloud)
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["spec"]["objectStore"]["managed"] = True
    data["spec"]["workerGroups"]["gpu-calib"]["gpu"]["model"] = "MI300"
    with pytest.raises(SpecError) as info:
        plugin(cloud).compile(parse_spec(RuntimeSpec, data, "runtime"))
    found = dict(info.value.problems)
    assert "mops storage up" in found["spec.objectStore.managed"]
    assert "MI300" in found["spec.workerGroups.gpu-calib.gpu.model"]


def test_apply_brings_the_aws_stacks_up_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    fake = FakePulumi.install(tmp_path / "pulumi")
    fake.set_outputs("modelops-infra-dev", {"kubeconfig": "kc", "cluster_name": "team-eks"}, secret=["kubeconfig"])
    fake.set_outputs("modelops-registry-dev", {"login_server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"})
    fake.set_outputs("modelops-workspace-dev", {"scheduler_addr": "tcp://dask-scheduler.modelops-dev:8786"})
    built: list[str] = []

    def plane(plan: StackPlan, ctx: Any) -> Any:  # stands in for the workspace/adaptive planes' programs
        built.append(plan.stack)
        return lambda: None

    monkeypatch.setitem(programs.PROGRAMS, "workspace", plane)
    monkeypatch.setitem(programs.PROGRAMS, "adaptive", plane)
    ctx = PulumiContext.from_config(GlobalConfig(), pulumi_root=fake.root, create_passphrase=True)
    p = plugin("aws", context=lambda: ctx)
    result = p.apply(p.compile(runtime("aws")))
    ups = [c.flag("--stack") for c in fake.calls_with("up")]
    assert ups == [
        "modelops-infra-dev",
        "modelops-registry-dev",
        "modelops-workspace-dev",
        "modelops-adaptive-dev-optuna-calibration",
    ]
    assert built == ups[2:]
    assert fake.stacks()["modelops-infra-dev"]["config"]["aws:region"]["value"] == "eu-west-1"
    installs = " ".join(" ".join(c.argv) for c in fake.calls_with("plugin", "install"))
    assert "resource aws" in installs and "azure-native" not in installs
    assert result["modelops-infra-dev"].secrets["KUBECONFIG"].key == "kubeconfig"
    assert result["modelops-registry-dev"].env["MODELOPS_REGISTRY"].endswith(".amazonaws.com")


def test_mops_infra_plan_prints_the_gcp_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from modelops.cli.app import app

    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USER", "alice")
    doc = runtime("gcp").model_dump(mode="json", by_alias=True, exclude_none=True)
    path = tmp_path / "runtime.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["infra", "plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["provider"] == "gcp"
    assert [s["component"] for s in printed["stacks"]] == ["infra", "registry", "workspace", "adaptive"]
    assert printed["stacks"][0]["config"]["cluster"]["cluster_name"] == "modelops-dev-gke-alice"
