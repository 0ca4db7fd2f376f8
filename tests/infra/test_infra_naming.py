"""Every generated name is valid for the Azure or Kubernetes rule it must meet, for any username or run id."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.core import naming

envs = st.from_regex(naming.ENVIRONMENT_RULE, fullmatch=True)
users = st.text(min_size=0, max_size=80)
run_ids = st.text(min_size=1, max_size=120)


@settings(max_examples=300, deadline=None)
@given(env=envs, user=users)
def test_per_user_azure_names_are_valid(env: str, user: str) -> None:
    assert naming.RESOURCE_GROUP_RULE.match(naming.resource_group_name(env, user))
    assert naming.ACR_RULE.match(naming.acr_name(env, user))
    cluster = naming.aks_cluster_name(env, user)
    assert naming.AKS_CLUSTER_RULE.match(cluster)
    assert naming.DNS_PREFIX_RULE.match(naming.dns_prefix(cluster))
    assert naming.STORAGE_ACCOUNT_RULE.match(naming.storage_account_name(env, user))
    assert naming.STORAGE_ACCOUNT_RULE.match(naming.state_storage_account_name(env, user))
    assert naming.RESOURCE_GROUP_RULE.match(naming.state_resource_group_name(env))
    assert naming.BLOB_CONTAINER_RULE.match(naming.state_container_name(env))


@settings(max_examples=300, deadline=None)
@given(env=envs, run_id=run_ids)
def test_kubernetes_and_pulumi_names_are_valid(env: str, run_id: str) -> None:
    assert naming.DNS_LABEL_RULE.match(naming.workspace_namespace(env))
    assert naming.DNS_LABEL_RULE.match(naming.run_namespace(run_id))
    for component in ("infra", "registry", "storage", "workspace"):
        assert naming.PULUMI_NAME_RULE.match(naming.stack_name(component, env))
        assert naming.PULUMI_NAME_RULE.match(naming.project_name(component))
    assert naming.PULUMI_NAME_RULE.match(naming.stack_name("adaptive", env, run_id=run_id))


@settings(max_examples=200, deadline=None)
@given(purpose=st.text(min_size=0, max_size=100), index=st.integers(0, 9))
def test_containers_and_pools_are_valid(purpose: str, index: int) -> None:
    assert naming.BLOB_CONTAINER_RULE.match(naming.blob_container_name(purpose))
    assert naming.NODE_POOL_RULE.match(naming.node_pool_name(purpose or "x", index))


def test_documented_patterns() -> None:
    assert naming.resource_group_name("dev", "Alice.Smith") == "modelops-dev-rg-alicesmith"
    assert naming.acr_name("dev", "vsp") == "modelopsdevacrvsp"
    assert naming.stack_name("infra", "dev") == "modelops-infra-dev"
    assert naming.stack_name("adaptive", "dev", "Run_42") == "modelops-adaptive-dev-run-42"
    assert naming.stack_reference("infra", "dev") == "organization/modelops-infra/modelops-infra-dev"
    assert naming.run_namespace("abc123") == "modelops-abc123"
    assert naming.node_pool_name("system") == "system"
    assert naming.node_pool_name("workcpu") == "workcpu"
    assert naming.node_pool_name("gpu", 0) == "gpu0"


def test_long_usernames_stay_distinct() -> None:
    a = naming.acr_name("dev", "alexanderthegreat-the-first")
    b = naming.acr_name("dev", "alexanderthegreat-the-second")
    assert a != b and naming.ACR_RULE.match(a) and naming.ACR_RULE.match(b)


def test_names_are_deterministic_for_unicode_users() -> None:
    assert naming.user_slug("李") == naming.user_slug("李")
    assert naming.user_slug("李") != naming.user_slug("王")
    assert naming.user_slug("José") == "jose"


@pytest.mark.parametrize("env", ["", "Dev", "pre-prod", "1dev", "averyveryverylongenv"])
def test_bad_environments_are_refused(env: str) -> None:
    with pytest.raises(naming.NamingError, match="environment"):
        naming.resource_group_name(env, "alice")


def test_run_id_only_for_adaptive() -> None:
    with pytest.raises(naming.NamingError, match="run id"):
        naming.stack_name("adaptive", "dev")
    with pytest.raises(naming.NamingError, match="only adaptive"):
        naming.stack_name("infra", "dev", run_id="x")
