"""`kind: Runtime`: the seed document compiles to the stacks its cluster takes (`mops infra plan`), and broken
documents name the field; `mops infra up --runtime` sizes the pools from the same worker groups."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.core import naming
from modelops.planes import infra
from modelops.specs.base import SpecError, parse_spec
from modelops.specs.runtime import RuntimeSpec

SEED = Path(__file__).parent / "data" / "runtime_seed.yaml"


def seed() -> dict[str, Any]:
    return yaml.safe_load(SEED.read_text())


def runtime(data: dict[str, Any]) -> RuntimeSpec:
    return parse_spec(RuntimeSpec, data, "runtime")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USER", "alice")
    return tmp_path


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "runtime.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_seed_compiles_to_the_infra_stack_sized_by_the_worker_groups(home: Path) -> None:
    plan = infra.plan(SEED)
    assert (plan.name, plan.provider, plan.environment) == ("prod", "azure", "dev")
    (stack,) = plan.stacks
    assert stack.component == "infra" and stack.stack == "modelops-infra-dev"
    cluster = stack.config["cluster"]
    assert cluster["resource_group"] == "modelops-rg"  # the spec names one explicitly
    assert cluster["cluster_name"] == "modelops-aks"
    assert cluster["workload_pool"]["labels"]["modelops.io/role"] == "cpu"
    # the CPU group (2..6 nodes) widens the default workload pool (0..5)
    assert (cluster["workload_pool"]["min"], cluster["workload_pool"]["max"]) == (2, 6)
    (gpu,) = cluster["gpu_pools"]
    assert gpu["vm_size"] == "Standard_NV36ads_A10_v5" and gpu["taints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert gpu["labels"]["modelops.io/worker-group"] == "gpu-calib" and (gpu["min"], gpu["max"]) == (0, 2)
    assert stack.stack_config["azure-native:subscriptionId"] == "00000000-0000-0000-0000-000000000000"
    assert plan.to_dict()["stacks"][0]["component"] == "infra"  # JSON-able
    assert stack.stack == naming.stack_name("infra", "dev")


def test_the_plan_is_what_infra_up_applies(home: Path) -> None:
    """One story: the plan's infra stack is the stack `mops infra up --runtime` builds from the same groups."""
    from modelops.infra.providers.azure import infra_stack

    spec = runtime(seed())
    (planned,) = infra.plan(SEED).stacks
    direct = infra_stack(spec.spec.provider, "dev", "alice", spec.spec.worker_groups, [])
    assert planned == direct


def test_acr_adds_the_registry_stack(home: Path) -> None:
    data = seed()
    data["spec"]["provider"]["acr"] = {"enabled": True}
    plan = infra.plan(write(home, data))
    assert [s.component for s in plan.stacks] == ["infra", "registry"]
    assert plan.stacks[1].config["registry"]["registry_name"] == "modelopsdevacralice"
    assert plan.stacks[1].reads == {"infra": "organization/modelops-infra/modelops-infra-dev"}


def test_unknown_gpu_model_names_the_field(home: Path) -> None:
    data = seed()
    data["spec"]["workerGroups"]["gpu-calib"]["gpu"]["model"] = "Z9000"
    with pytest.raises(SpecError) as info:
        infra.plan(write(home, data))
    message = dict(info.value.problems)["spec.workerGroups.gpu-calib.gpu.model"]
    assert "Z9000" in message and "vm_size" in message


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["spec"]["workerGroups"]["gpu-calib"].pop("gpu"), "spec.workerGroups.gpu-calib"),
        (lambda d: d["spec"]["workerGroups"]["default-cpu"].update(min=9), "spec.workerGroups.default-cpu"),
        (lambda d: d["spec"]["workerGroups"]["default-cpu"].update(gpu={"count": 1}), "spec.workerGroups.default-cpu"),
        (lambda d: d["spec"].update(workerGroups={"Bad_Name": {"profile": "cpu"}}), "spec.workerGroups"),
        (lambda d: d["spec"]["provider"].update(name="aws"), "spec.provider"),
        (lambda d: d["spec"]["provider"].update(name="kubeconfig"), "spec.provider"),
        # What runs on the cluster is the Workspace and Adaptive specs' business, not the Runtime's.
        (lambda d: d["spec"].update(algorithms={}), "spec.algorithms"),
        (lambda d: d["spec"].update(objectStore={"name": "results"}), "spec.objectStore"),
        (lambda d: d["spec"]["workerGroups"]["default-cpu"].update(resources={"cpu": "4"}), "spec.workerGroups"),
        (lambda d: d.update(kind="Workspace"), "kind"),
        (lambda d: d["metadata"].update(name="Prod"), "metadata.name"),
    ],
)
def test_broken_documents_name_the_field(mutate: Any, path: str) -> None:
    data = copy.deepcopy(seed())
    mutate(data)
    with pytest.raises(SpecError) as info:
        runtime(data)
    assert any(p.startswith(path) for p, _ in info.value.problems), info.value.problems
