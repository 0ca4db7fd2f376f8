"""A Runtime document with provider name aws or gcp compiles the same way as Azure (`mops infra plan`): the cloud's
infra stack with its pools sized by the worker groups, then its registry stack."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.planes import infra
from modelops.specs.base import SpecError

SEED = Path(__file__).resolve().parents[1] / "infra" / "data" / "runtime_seed.yaml"
PROVIDERS = {
    "aws": {"name": "aws", "region": "eu-west-1", "eks": {"name": "team-eks"}},
    "gcp": {"name": "gcp", "project": "my-proj-123", "region": "us-central1", "zone": "us-central1-b"},
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USER", "alice")
    return tmp_path


def runtime(tmp_path: Path, cloud: str, gpu_model: str = "T4") -> Path:
    data = yaml.safe_load(SEED.read_text())
    data["spec"]["provider"] = copy.deepcopy(PROVIDERS[cloud])
    data["spec"]["workerGroups"]["gpu-calib"]["gpu"]["model"] = gpu_model
    path = tmp_path / f"runtime-{cloud}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_a_runtime_compiles_to_the_clouds_stacks(home: Path, cloud: str) -> None:
    plan = infra.plan(runtime(home, cloud))
    assert plan.provider == cloud
    assert [s.component for s in plan.stacks] == ["infra", "registry"]
    stack = plan.stacks[0]
    assert stack.program == f"modelops.infra.components.{cloud}:infra_program"
    cluster = stack.config["cluster"]
    assert (cluster["workload_pool"]["min"], cluster["workload_pool"]["max"]) == (2, 6)  # widened by default-cpu
    (gpu,) = cluster["gpu_pools"]
    assert gpu["vm_size"] == {"aws": "g4dn.xlarge", "gcp": "n1-standard-4"}[cloud]
    assert gpu["labels"]["modelops.io/worker-group"] == "gpu-calib"
    assert plan.stacks[1].reads["infra"] == "organization/modelops-infra/modelops-infra-dev"


def test_aws_cluster_name_and_region_come_from_the_runtime(home: Path) -> None:
    infra_stack, registry = infra.plan(runtime(home, "aws")).stacks
    assert infra_stack.config["cluster"]["cluster_name"] == "team-eks"
    assert infra_stack.stack_config == {"aws:region": "eu-west-1"}
    assert registry.config["registry"]["prefix"] == "modelops-dev-alice"


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_an_unknown_gpu_is_a_named_problem(home: Path, cloud: str) -> None:
    with pytest.raises(SpecError) as info:
        infra.plan(runtime(home, cloud, gpu_model="MI300"))
    assert "MI300" in dict(info.value.problems)["spec.workerGroups.gpu-calib.gpu.model"]


def test_mops_infra_plan_prints_the_gcp_stacks(home: Path) -> None:
    from typer.testing import CliRunner

    from modelops.cli.app import app

    result = CliRunner().invoke(app, ["infra", "plan", str(runtime(home, "gcp")), "--json"])
    assert result.exit_code == 0, result.output
    printed: dict[str, Any] = json.loads(result.stdout)
    assert printed["provider"] == "gcp"
    assert [s["component"] for s in printed["stacks"]] == ["infra", "registry"]
    assert printed["stacks"][0]["config"]["cluster"]["cluster_name"] == "modelops-dev-gke-alice"


def test_mops_infra_plan_of_a_broken_runtime_exits_2(home: Path) -> None:
    from typer.testing import CliRunner

    from modelops.cli.app import app

    result = CliRunner().invoke(app, ["infra", "plan", str(runtime(home, "aws", gpu_model="MI300")), "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "invalid_input" and error["problems"][0]["field"] == "spec.workerGroups.gpu-calib.gpu.model"
