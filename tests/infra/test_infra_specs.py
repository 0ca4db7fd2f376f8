"""Provider config and global config specs: every error names the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelops.specs.base import SpecError
from modelops.specs.config import GlobalConfig, load_config, modelops_home, resolve_username, save_config, update_config
from modelops.specs.provider import PINNED_AKS_VERSION, KubeconfigProviderSpec, load_provider, parse_provider

SUB = "00000000-0000-0000-0000-000000000000"


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_provider(data)
    return dict(info.value.problems)


def test_minimal_azure_config_gets_pinned_defaults() -> None:
    spec = parse_provider({"subscription_id": SUB.upper(), "location": "westeurope"})
    assert spec.subscription_id == SUB
    assert spec.aks.version == PINNED_AKS_VERSION
    assert (spec.aks.workload_pool.min, spec.aks.workload_pool.max) == (0, 5)
    assert spec.ssh.mode == "ephemeral" and spec.auth.use_azure_cli and spec.acr is None


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"subscription_id": "abc"}, "subscription_id", "az account show"),
        ({"tenant_id": "nope"}, "tenant_id", "GUID"),
        ({"location": "East US 2"}, "location", "eastus2"),
        ({"aks": {"version": "latest"}}, "aks.version", "major.minor.patch"),
        ({"aks": {"version": "1.29"}}, "aks.version", "mops infra doctor"),
        ({"aks": {"workload_pool": {"min": 4, "max": 2}}}, "aks.workload_pool", "min <= max"),
        ({"aks": {"workload_pool": {"vm_size": "D4s"}}}, "aks.workload_pool.vm_size", "Standard_D4s_v5"),
        ({"aks": {"labels": {"modelops.io/role": "x"}}}, "aks.labels", "set by ModelOps"),
        ({"aks": {"taints": ["gpu"]}}, "aks.taints", "key=value:Effect"),
        ({"aks": {"name": "-bad-"}}, "aks.name", "AKS name"),
        ({"acr": {"name": "Has-Dashes"}}, "acr.name", "5-50 lowercase"),
        ({"resource_group": "ends."}, "resource_group", "resource group"),
        ({"ssh": {"mode": "env", "pubkey_path": "x"}}, "ssh", "only to mode: path"),
        ({"auth": {"use_azure_cli": False}}, "auth", "service_principal"),
        (
            {"auth": {"service_principal": {"client_id": SUB, "client_secret": "x"}}},
            "auth.service_principal",
            "client_secret_env",
        ),
        ({"provider": "oracle"}, "provider", "azure, kubeconfig, aws, gcp"),
        ({"acr": {"enabled": True, "colour": "red"}}, "acr.colour", "unknown key"),
    ],
)
def test_errors_name_field_and_fix(patch: dict[str, Any], field: str, words: str) -> None:
    found = problems({"subscription_id": SUB, "location": "eastus2", **patch})
    assert field in found, found
    assert words in found[field]


def test_kubeconfig_provider(tmp_path: Path) -> None:
    path = tmp_path / "kc.yaml"
    path.write_text("provider: kubeconfig\nkubeconfig: ~/.kube/kind\ncontext: kind-modelops\n")
    spec = load_provider(path)
    assert isinstance(spec, KubeconfigProviderSpec) and spec.path == Path("~/.kube/kind").expanduser()


def test_home_override_and_config_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "mh"))
    assert modelops_home() == tmp_path / "mh"
    assert load_config() == GlobalConfig()  # no file: defaults
    saved = save_config(GlobalConfig(environment="staging", username="Zoë"))
    assert saved == tmp_path / "mh" / "config.yaml"
    config = load_config()
    assert config.environment == "staging" and resolve_username(config) == "Zoë"
    assert update_config(config, "organization", "acme").organization == "acme"
    with pytest.raises(SpecError, match="pulumi_backend_url"):
        update_config(config, "pulumi_backend_url", "ftp://x")


def test_username_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "fromenv")
    assert resolve_username(GlobalConfig(), None) == "fromenv"
    assert resolve_username(GlobalConfig(), "fromspec") == "fromspec"
    assert resolve_username(GlobalConfig(username="fromconfig"), "fromspec") == "fromconfig"


def test_example_provider_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "providers" / "azure.yaml"
    spec = load_provider(example)
    assert spec.provider == "azure"
    other = load_provider(example.with_name("kubeconfig.yaml"))
    assert isinstance(other, KubeconfigProviderSpec) and other.context is None
