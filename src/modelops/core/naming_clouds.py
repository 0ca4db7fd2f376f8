"""Names ModelOps generates on AWS and Google Cloud, each valid for the rule it must meet (Azure's are in
``naming``). Kept beside the rules, as regular expressions, so property tests check every username gives valid names.

    >>> eks_cluster_name("dev", "Alice.Smith")
    'modelops-dev-eks-alicesmith'
    >>> bucket_name("dev", "alice", "results", "ab12cd34")
    'modelops-dev-alice-results-ab12cd34'
    >>> gke_cluster_name("dev", "alice")
    'modelops-dev-gke-alice'
    >>> artifact_repository_name("dev", "alice")
    'modelops-dev-alice'

The rules, as documented by each cloud:

- S3 bucket: 3-63 lowercase letters, digits, ``-`` and ``.``, starting and ending with a letter or digit, globally
  unique (ModelOps uses no dots: they break virtual-host TLS). GCS bucket (without dots): the same 3-63 rule.
- ECR repository: 2-256 lowercase letters, digits and ``._-/``, ``/``-separated segments each starting and ending
  with a letter or digit.
- EKS cluster: 1-100 letters, digits, ``-`` and ``_``, starting with a letter or digit.
- EKS node group: 1-63 letters, digits, ``-`` and ``_``, starting with a letter or digit (ModelOps reuses AKS's
  stricter pool names, ``naming.node_pool_name``, which meet the EKS and GKE rules too).
- IAM role: 1-64 letters, digits and ``+=,.@_-``.
- GKE cluster and node pool: 1-40 lowercase letters, digits and ``-``, starting with a letter, not ending in ``-``.
- Artifact Registry repository: 1-63 lowercase letters, digits and ``-``, starting with a letter, not ending in ``-``.
- Google service account id: 6-30 lowercase letters, digits and ``-``, starting with a letter, not ending in ``-``.
- VPC network (GCP): 1-63 lowercase letters, digits and ``-``, starting with a letter, not ending in ``-``.
"""

from __future__ import annotations

import re

from modelops.core.naming import PREFIX, _ascii_lower, _digest, _fit, check_environment, user_slug

# --- The rules each name must meet ----------------------------------------------------------------------------------
BUCKET_RULE = re.compile(r"^[a-z0-9][-a-z0-9]{1,61}[a-z0-9]$")
ECR_REPOSITORY_RULE = re.compile(r"^(?=.{2,256}$)[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
EKS_CLUSTER_RULE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_]{0,99}$")
EKS_NODE_GROUP_RULE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_]{0,62}$")
IAM_ROLE_RULE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
GKE_NAME_RULE = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
GCP_RESOURCE_RULE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
SERVICE_ACCOUNT_ID_RULE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
# The random suffix buckets get (bucket names are global across each cloud).
SUFFIX_LENGTH = 8


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", _ascii_lower(text))).strip("-")


# --- AWS ------------------------------------------------------------------------------------------------------------
def eks_cluster_name(env: str, username: str) -> str:
    """The EKS cluster: ``modelops-{env}-eks-{user}``."""
    return f"{PREFIX}-{check_environment(env)}-eks-{user_slug(username)}"


def iam_role_name(cluster: str, purpose: str) -> str:
    """An IAM role of a cluster (``{cluster}-{purpose}``, shortened with a hash to IAM's 64 characters)."""
    full = f"{cluster}-{_slug(purpose)}"
    return _fit(full, 64, full)


def bucket_name(env: str, username: str, purpose: str, suffix: str) -> str:
    """An S3 or GCS bucket: ``modelops-{env}-{user}-{purpose}-{suffix}`` within 63 characters. ``suffix`` should be
    random (made once per stack): bucket names are global across each cloud."""
    tail = re.sub(r"[^a-z0-9]", "", _ascii_lower(suffix)) or _digest(suffix, SUFFIX_LENGTH)
    tail = tail[:SUFFIX_LENGTH]
    head = f"{PREFIX}-{check_environment(env)}-{user_slug(username)}-{_slug(purpose) or 'data'}"
    head = _fit(head, 63 - len(tail) - 1, head).strip("-")
    return f"{head}-{tail}"


def ecr_repository_prefix(env: str, username: str) -> str:
    """The ECR namespace ModelOps's repositories live under: ``modelops-{env}-{user}`` (images are pushed to
    ``{login_server}/{prefix}/{repository}``)."""
    return f"{PREFIX}-{check_environment(env)}-{user_slug(username)}"


def ecr_repository_name(prefix: str, repository: str) -> str:
    """A repository under the prefix: ``{prefix}/{repository}`` (repository slugged to ECR's rule)."""
    repo = re.sub(r"[^a-z0-9]+", "-", _ascii_lower(repository)).strip("-") or "r" + _digest(repository, 6)
    return f"{prefix}/{repo}"


# --- GCP ------------------------------------------------------------------------------------------------------------
def _gcp_name(text: str, limit: int) -> str:
    slug = _slug(text)
    if not slug or not slug[0].isalpha():
        slug = "m" + slug
    return _fit(slug, limit, text).strip("-")


def gke_cluster_name(env: str, username: str) -> str:
    """The GKE cluster: ``modelops-{env}-gke-{user}``, within GKE's 40 characters."""
    full = f"{PREFIX}-{check_environment(env)}-gke-{user_slug(username)}"
    return _gcp_name(full, 40)


def network_name(cluster: str) -> str:
    """The VPC network (and its subnetwork) of a cluster: ``{cluster}-net``."""
    return _gcp_name(f"{cluster}-net", 63)


def artifact_repository_name(env: str, username: str) -> str:
    """The Artifact Registry repository: ``modelops-{env}-{user}``."""
    return _gcp_name(f"{PREFIX}-{check_environment(env)}-{user_slug(username)}", 63)


def service_account_id(env: str, username: str, purpose: str) -> str:
    """A Google service account id (6-30 characters): ``mops-{env}-{purpose}-{user}`` shortened with a hash."""
    full = f"mops-{check_environment(env)}-{_slug(purpose)}-{user_slug(username)}"
    name = _gcp_name(full, 30)
    return name if len(name) >= 6 else (name + "-" + _digest(full, 5))
