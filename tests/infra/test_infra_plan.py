"""compile: the seeds' Runtime example and broken ones; apply against the stand-in pulumi CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.core import naming
from modelops.infra import programs, providers
from modelops.infra.automation import AzureLoginMissing, PulumiContext
from modelops.infra.plan import ProviderPlugin, StackPlan
from modelops.infra.providers.azure import AzureProvider
from modelops.infra.ssh import SSH_CONFIG_KEY
from modelops.specs.base import SpecError, parse_spec
from modelops.specs.config import GlobalConfig
from modelops.specs.runtime import RuntimeSpec
from modelops_testing.fake_pulumi import FakePulumi

SEED = Path(__file__).parent / "data" / "runtime_seed.yaml"


def seed() -> dict[str, Any]:
    return yaml.safe_load(SEED.read_text())


def runtime(data: dict[str, Any]) -> RuntimeSpec:
    return parse_spec(RuntimeSpec, data, "runtime")


def azure() -> AzureProvider:
    return AzureProvider(environment="dev", username="alice")


def test_providers_satisfy_the_protocol() -> None:
    for name in ("azure", "kubeconfig"):
        assert isinstance(providers.get(name, environment="dev", username="a"), ProviderPlugin)


def test_seed_example_compiles_to_ordered_stacks() -> None:
    plan = azure().compile(runtime(seed()))
    assert plan.components() == ["infra", "storage", "workspace", "adaptive"]
    infra = plan.stack("infra")
    assert infra.stack == "modelops-infra-dev"
    cluster = infra.config["cluster"]
    assert cluster["resource_group"] == "modelops-rg"  # the spec names one explicitly
    assert cluster["cluster_name"] == "modelops-aks"
    assert cluster["workload_pool"]["labels"]["modelops.io/role"] == "cpu"
    # the CPU group (2..6 nodes) widens the default workload pool (0..5)
    assert (cluster["workload_pool"]["min"], cluster["workload_pool"]["max"]) == (2, 6)
    (gpu,) = cluster["gpu_pools"]
    assert gpu["vm_size"] == "Standard_NV36ads_A10_v5" and gpu["taints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert gpu["labels"]["modelops.io/worker-group"] == "gpu-calib" and (gpu["min"], gpu["max"]) == (0, 2)
    assert infra.stack_config["azure-native:subscriptionId"] == "00000000-0000-0000-0000-000000000000"

    storage = plan.stack("storage")
    assert storage.config["storage"]["containers"]["results"] == "calabaria-results"
    assert storage.reads == {"infra": "organization/modelops-infra/modelops-infra-dev"}

    adaptive = plan.stack("adaptive", run_id="optuna-calibration")
    assert adaptive.stack == "modelops-adaptive-dev-optuna-calibration"
    assert adaptive.config["workers"]["name"] == "default-cpu"
    assert adaptive.config["database"]["engine"] == "postgres"
    assert adaptive.reads["workspace"] == "organization/modelops-workspace/modelops-workspace-dev"
    assert adaptive.config["namespace"] == "modelops-optuna-calibration"
    assert plan.to_dict()["stacks"][0]["component"] == "infra"  # JSON-able


def test_acr_adds_a_registry_stack_between_infra_and_storage() -> None:
    data = seed()
    data["spec"]["provider"]["acr"] = {"enabled": True}
    plan = azure().compile(runtime(data))
    assert plan.components() == ["infra", "registry", "storage", "workspace", "adaptive"]
    assert plan.stack("registry").config["registry"]["registry_name"] == "modelopsdevacralice"
    assert "registry" in plan.stack("workspace").reads


def test_dangling_bindings_are_rejected_with_paths() -> None:
    data = seed()
    bindings = data["spec"]["algorithms"]["optuna-calibration"]["bindings"]
    bindings.update(workers="gpu-big", database="optuna-db", objectStore="archive")
    with pytest.raises(SpecError) as info:
        azure().compile(runtime(data))
    paths = dict(info.value.problems)
    base = "spec.algorithms.optuna-calibration.bindings"
    assert "declared: default-cpu, gpu-calib" in paths[f"{base}.workers"]
    assert "optuna-db" in paths[f"{base}.database"]
    assert "archive" in paths[f"{base}.objectStore"]


def test_replicas_need_a_database() -> None:
    data = seed()
    algo = data["spec"]["algorithms"]["optuna-calibration"]
    algo["replicas"] = 3
    del algo["bindings"]["database"]
    with pytest.raises(SpecError) as info:
        azure().compile(runtime(data))
    assert "spec.algorithms.optuna-calibration.replicas" in dict(info.value.problems)


def test_unknown_gpu_model_names_the_field() -> None:
    data = seed()
    data["spec"]["workerGroups"]["gpu-calib"]["gpu"]["model"] = "Z9000"
    with pytest.raises(SpecError) as info:
        azure().compile(runtime(data))
    message = dict(info.value.problems)["spec.workerGroups.gpu-calib.gpu.model"]
    assert "Z9000" in message and "vm_size" in message


def test_unmanaged_aks_points_to_kubeconfig_provider() -> None:
    data = seed()
    data["spec"]["provider"]["aks"]["managed"] = False
    with pytest.raises(SpecError, match="kubeconfig"):
        azure().compile(runtime(data))


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["spec"]["workerGroups"]["gpu-calib"].pop("gpu"), "spec.workerGroups.gpu-calib"),
        (lambda d: d["spec"]["workerGroups"]["default-cpu"].update(min=9), "spec.workerGroups.default-cpu"),
        (lambda d: d["spec"]["provider"].update(name="aws"), "spec.provider"),
        (lambda d: d["spec"]["objectStore"].update(bucket="Bad_Bucket"), "spec.objectStore.bucket"),
        (
            lambda d: d["spec"]["algorithms"]["optuna-calibration"]["entrypoint"].update(module="nocolon"),
            "spec.algorithms.optuna-calibration.entrypoint.module",
        ),
        (lambda d: d.update(kind="Workspace"), "kind"),
    ],
)
def test_broken_documents_name_the_field(mutate: Any, path: str) -> None:
    data = copy.deepcopy(seed())
    mutate(data)
    with pytest.raises(SpecError) as info:
        runtime(data)
    assert any(p.startswith(path) for p, _ in info.value.problems), info.value.problems


def _kubeconfig_runtime(tmp_path: Path, managed_store: bool) -> RuntimeSpec:
    data = seed()
    data["spec"]["provider"] = {"name": "kubeconfig", "kubeconfig": str(tmp_path / "kc.yaml")}
    data["spec"]["objectStore"]["managed"] = managed_store
    return runtime(data)


def test_kubeconfig_provider_has_only_the_planes(tmp_path: Path) -> None:
    plugin = providers.get("kubeconfig", environment="dev", username="alice")
    plan = plugin.compile(_kubeconfig_runtime(tmp_path, managed_store=False))
    assert plan.components() == ["workspace", "adaptive"]
    assert plan.stack("workspace").config["cluster"]["kubeconfig"] == str(tmp_path / "kc.yaml")
    assert plan.stack("workspace").reads == {}


def test_kubeconfig_provider_cannot_create_storage(tmp_path: Path) -> None:
    plugin = providers.get("kubeconfig", environment="dev", username="alice")
    with pytest.raises(SpecError) as info:
        plugin.compile(_kubeconfig_runtime(tmp_path, managed_store=True))
    assert "spec.objectStore.managed" in dict(info.value.problems)


def test_apply_brings_stacks_up_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    fake = FakePulumi.install(tmp_path / "pulumi")
    fake.set_outputs("modelops-infra-dev", {"kubeconfig": "kc", "fqdn": "a.azmk8s.io"}, secret=["kubeconfig"])
    fake.set_outputs(
        "modelops-storage-dev",
        {
            "account_name": "mopsdevstx",
            "blob_endpoint": "https://mopsdevstx.blob.core.windows.net/",
            "results_container": "calabaria-results",
            "cache_container": "cache",
            "bundles_container": "bundles",
            "sas_token": "sig",
        },
        secret=["sas_token"],
    )
    fake.set_outputs("modelops-workspace-dev", {"scheduler_addr": "tcp://dask-scheduler.modelops-dev:8786"})
    built: list[str] = []

    def plane(plan: StackPlan, ctx: Any) -> Any:  # stands in for the workspace/adaptive planes' programs
        built.append(plan.stack)
        return lambda: None

    monkeypatch.setitem(programs.PROGRAMS, "workspace", plane)
    monkeypatch.setitem(programs.PROGRAMS, "adaptive", plane)
    ctx = PulumiContext.from_config(GlobalConfig(), pulumi_root=fake.root, create_passphrase=True)
    plugin = providers.get("azure", environment="dev", username="alice", context=lambda: ctx)
    result = plugin.apply(plugin.compile(runtime(seed())))

    ups = [c.flag("--stack") for c in fake.calls_with("up")]
    assert ups == [
        "modelops-infra-dev",
        "modelops-storage-dev",
        "modelops-workspace-dev",
        "modelops-adaptive-dev-optuna-calibration",
    ]
    assert built == ["modelops-workspace-dev", "modelops-adaptive-dev-optuna-calibration"]
    # the ephemeral SSH key was stored once, as a secret, before the infra up
    ssh = fake.stacks()["modelops-infra-dev"]["config"][SSH_CONFIG_KEY]
    assert ssh["secret"] is True and ssh["value"].startswith("ssh-ed25519 ")
    storage = result["modelops-storage-dev"]
    assert storage.env["MODELOPS_RESULTS_URL"] == "az://calabaria-results"
    assert storage.secrets["AZURE_STORAGE_SAS_TOKEN"].key == "sas_token"
    assert "sig" not in str(storage.env)
    assert result["modelops-workspace-dev"].env["DASK_SCHEDULER_ADDRESS"].endswith(":8786")
    assert result["modelops-infra-dev"].secrets["KUBECONFIG"].key == "kubeconfig"


def test_stack_names_in_plan_come_from_naming() -> None:
    plan = azure().compile(runtime(seed()))
    for stack in plan.stacks:
        assert stack.stack == naming.stack_name(stack.component, "dev", stack.run_id)


def test_apply_passes_service_principal_secret_as_secret_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    fake = FakePulumi.install(tmp_path / "pulumi")
    data = seed()
    client = "22222222-2222-2222-2222-222222222222"
    data["spec"]["provider"]["auth"] = {
        "use_azure_cli": False,
        "service_principal": {"client_id": client, "client_secret_env": "SP_SECRET"},
    }
    data["spec"].pop("algorithms")
    data["spec"]["objectStore"]["managed"] = False
    monkeypatch.setitem(programs.PROGRAMS, "workspace", lambda plan, ctx: lambda: None)
    ctx = PulumiContext.from_config(GlobalConfig(), pulumi_root=fake.root, create_passphrase=True)
    plugin = providers.get("azure", environment="dev", username="alice", context=lambda: ctx)
    plan = plugin.compile(runtime(data))
    assert "s3cret" not in json.dumps(plan.to_dict())  # the plan names the variable, never the value
    monkeypatch.delenv("SP_SECRET", raising=False)
    with pytest.raises(AzureLoginMissing, match="SP_SECRET"):
        plugin.apply(plan)
    monkeypatch.setenv("SP_SECRET", "s3cret")
    plugin.apply(plan)
    config = fake.stacks()["modelops-infra-dev"]["config"]
    assert config["azure-native:clientSecret"] == {"value": "s3cret", "secret": True}
    assert config["azure-native:clientId"] == {"value": client, "secret": False}
