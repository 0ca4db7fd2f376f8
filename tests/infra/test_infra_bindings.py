"""Bindings: typed, frozen views of stack outputs that never print their secrets."""

from __future__ import annotations

import dataclasses

import pytest
from pulumi import automation as auto

from modelops.infra.bindings import (
    BindingError,
    ClusterBinding,
    DaskBinding,
    RegistryBinding,
    StorageBinding,
)

STORAGE = {
    "account_name": "mopsdevstx",
    "blob_endpoint": "https://mopsdevstx.blob.core.windows.net/",
    "results_container": "results",
    "cache_container": "cache",
    "bundles_container": "bundles",
    "sas_token": "sv=1&sig=TOPSECRET",
}


def test_cluster_binding_from_output_values_hides_kubeconfig() -> None:
    outputs = {
        "kubeconfig": auto.OutputValue(value="apiVersion: v1 TOPSECRET", secret=True),
        "cluster_name": auto.OutputValue(value="aks", secret=False),
        "unrelated": auto.OutputValue(value=1, secret=False),
    }
    binding = ClusterBinding.from_outputs(outputs)
    assert binding.kubeconfig.startswith("apiVersion") and binding.cluster_name == "aks"
    assert binding.acr_login_server is None
    assert "TOPSECRET" not in repr(binding)
    with pytest.raises(dataclasses.FrozenInstanceError):
        binding.kubeconfig = "x"  # type: ignore[misc]


def test_missing_outputs_name_the_stack_and_command() -> None:
    with pytest.raises(BindingError, match=r"infra stack has no output kubeconfig.*mops infra up"):
        ClusterBinding.from_outputs({"cluster_name": "aks"})
    with pytest.raises(BindingError, match="registry_name"):
        RegistryBinding.from_outputs({"login_server": "x.azurecr.io"})


def test_storage_binding_env_split_public_and_secret() -> None:
    binding = StorageBinding.from_outputs(STORAGE)
    assert binding.public_env() == {
        "AZURE_STORAGE_ACCOUNT_NAME": "mopsdevstx",
        "MODELOPS_RESULTS_URL": "az://results",
        "MODELOPS_CACHE_URL": "az://cache",
        "MODELOPS_BUNDLES_URL": "az://bundles",
    }
    assert binding.secret_env() == {"AZURE_STORAGE_SAS_TOKEN": "sv=1&sig=TOPSECRET"}
    assert "TOPSECRET" not in repr(binding) and "TOPSECRET" not in str(binding.public_env())
    assert binding.url("results", "run-1/trials.parquet") == "az://results/run-1/trials.parquet"


def test_dask_binding() -> None:
    binding = DaskBinding.from_outputs({"scheduler_addr": "tcp://s:8786", "namespace": "modelops-dev"})
    assert binding.dashboard_url is None and binding.namespace == "modelops-dev"
