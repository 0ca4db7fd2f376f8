"""Every name generated on AWS and Google Cloud meets the cloud's documented rule, for any username, environment,
purpose or random suffix (hypothesis), and ModelOps's pool names meet the EKS and GKE rules too."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.core import naming, naming_clouds

envs = st.from_regex(naming.ENVIRONMENT_RULE, fullmatch=True)
users = st.text(min_size=0, max_size=80)
purposes = st.sampled_from(["results", "cache", "bundles"]) | st.text(min_size=0, max_size=80)
suffixes = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=8) | st.text(max_size=20)
repos = st.text(min_size=0, max_size=60)


@settings(max_examples=300, deadline=None)
@given(env=envs, user=users, purpose=purposes, suffix=suffixes, repo=repos)
def test_aws_names_are_valid(env: str, user: str, purpose: str, suffix: str, repo: str) -> None:
    cluster = naming_clouds.eks_cluster_name(env, user)
    assert naming_clouds.EKS_CLUSTER_RULE.match(cluster)
    bucket = naming_clouds.bucket_name(env, user, purpose, suffix)
    assert naming_clouds.BUCKET_RULE.match(bucket) and "--" not in bucket and "." not in bucket
    prefix = naming_clouds.ecr_repository_prefix(env, user)
    assert naming_clouds.ECR_REPOSITORY_RULE.match(naming_clouds.ecr_repository_name(prefix, repo))
    for role in ("cluster", "node", purpose):
        assert naming_clouds.IAM_ROLE_RULE.match(naming_clouds.iam_role_name(cluster, role))


@settings(max_examples=300, deadline=None)
@given(env=envs, user=users, purpose=purposes, suffix=suffixes)
def test_gcp_names_are_valid(env: str, user: str, purpose: str, suffix: str) -> None:
    cluster = naming_clouds.gke_cluster_name(env, user)
    assert naming_clouds.GKE_NAME_RULE.match(cluster)
    assert naming_clouds.GCP_RESOURCE_RULE.match(naming_clouds.network_name(cluster))
    assert naming_clouds.GCP_RESOURCE_RULE.match(naming_clouds.network_name(cluster) + "-router")
    assert naming_clouds.GCP_RESOURCE_RULE.match(naming_clouds.artifact_repository_name(env, user))
    assert naming_clouds.SERVICE_ACCOUNT_ID_RULE.match(naming_clouds.service_account_id(env, user, purpose))
    assert naming_clouds.BUCKET_RULE.match(naming_clouds.bucket_name(env, user, purpose, suffix))


@settings(max_examples=100, deadline=None)
@given(role=st.text(min_size=1, max_size=30), index=st.integers(0, 9))
def test_pool_names_meet_eks_and_gke_rules(role: str, index: int) -> None:
    name = naming.node_pool_name(role, index)
    assert naming_clouds.EKS_NODE_GROUP_RULE.match(name) and naming_clouds.GKE_NAME_RULE.match(name)


@settings(max_examples=200, deadline=None)
@given(env=envs, user=users)
def test_bucket_names_of_one_stack_differ_by_purpose(env: str, user: str) -> None:
    names = {naming_clouds.bucket_name(env, user, p, "ab12cd34") for p in ("results", "cache", "bundles")}
    assert len(names) == 3


def test_documented_patterns_and_limits() -> None:
    assert naming_clouds.eks_cluster_name("dev", "Alice.Smith") == "modelops-dev-eks-alicesmith"
    assert naming_clouds.bucket_name("dev", "alice", "results", "ab12cd34") == "modelops-dev-alice-results-ab12cd34"
    assert naming_clouds.gke_cluster_name("staging", "a" * 40) == "modelops-staging-gke-" + naming.user_slug("a" * 40)
    assert len(naming_clouds.gke_cluster_name("staging", "a" * 40)) <= 40
    assert naming_clouds.service_account_id("dev", "alice", "node") == "mops-dev-node-alice"
    assert naming_clouds.ecr_repository_name("modelops-dev-alice", "Bundles!") == "modelops-dev-alice/bundles"
    # The rules themselves reject what each cloud rejects.
    assert not naming_clouds.BUCKET_RULE.match("ab") and not naming_clouds.BUCKET_RULE.match("a" * 64)
    assert not naming_clouds.GKE_NAME_RULE.match("m" * 41) and not naming_clouds.GKE_NAME_RULE.match("1abc")
    assert not naming_clouds.SERVICE_ACCOUNT_ID_RULE.match("short")
    assert not naming_clouds.ECR_REPOSITORY_RULE.match("a//b") and not naming_clouds.ECR_REPOSITORY_RULE.match("A")
    assert re.fullmatch(r"[a-z0-9-]+", naming_clouds.bucket_name("dev", "李", "cache", "!!"))


def test_module_examples_hold() -> None:
    import doctest

    from modelops.store import urls

    for module in (naming_clouds, urls):
        assert doctest.testmod(module).failed == 0
