"""Every cloud and cluster name ModelOps generates, in one place, each valid for the rule it must meet.

Use these functions instead of formatting names by hand: the workspace and adaptive planes, the CLI and the docs all
agree on a name because they all call the same function here.

    >>> resource_group_name("dev", "Alice.Smith")
    'modelops-dev-rg-alicesmith'
    >>> acr_name("dev", "alice")
    'modelopsdevacralice'
    >>> stack_name("infra", "dev")
    'modelops-infra-dev'
    >>> stack_name("adaptive", "dev", run_id="Run_42")
    'modelops-adaptive-dev-run-42'
    >>> stack_reference("workspace", "dev")
    'organization/modelops-workspace/modelops-workspace-dev'

The rules (Azure's and Kubernetes', as documented by them) are kept next to the names as regular expressions, so the
property tests can check that any username produces valid names:

- resource group: 1-90 characters of letters, digits, ``-_.()``, not ending in ``.``;
- container registry (ACR): 5-50 lowercase letters and digits, globally unique;
- storage account: 3-24 lowercase letters and digits, globally unique;
- AKS cluster: 1-63 letters, digits, ``-`` and ``_``, starting and ending with a letter or digit;
  its DNS prefix: 1-54 letters, digits and ``-``, starting and ending with a letter or digit;
- AKS Linux node pool: 1-12 lowercase letters and digits, starting with a letter;
- blob container: 3-63 lowercase letters, digits and ``-``, starting with a letter or digit, no ``--``;
- Kubernetes namespace: a DNS-1123 label (1-63 lowercase letters, digits and ``-``, alphanumeric at both ends);
- Kubernetes label key: an optional DNS-subdomain prefix and ``/``, then letters, digits, ``-_.`` (alphanumeric at
  both ends); a label value: empty, or the same characters as the key's name (callers check the 63-character limit);
- Pulumi stack and project: letters, digits, ``-``, ``_`` and ``.``, at most 100 characters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# --- The rules each name must meet ----------------------------------------------------------------------------------
RESOURCE_GROUP_RULE = re.compile(r"^[-\w.()]{0,89}[-\w()]$", re.ASCII)
ACR_RULE = re.compile(r"^[a-z0-9]{5,50}$")
STORAGE_ACCOUNT_RULE = re.compile(r"^[a-z0-9]{3,24}$")
AKS_CLUSTER_RULE = re.compile(r"^[a-zA-Z0-9](?:[-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
DNS_PREFIX_RULE = re.compile(r"^[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,52}[a-zA-Z0-9])?$")
NODE_POOL_RULE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
BLOB_CONTAINER_RULE = re.compile(r"^(?!.*--)[a-z0-9][-a-z0-9]{1,61}[a-z0-9]$")
DNS_LABEL_RULE = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# Label keys may carry a DNS-subdomain prefix ("modelops.io/role").
LABEL_KEY_RULE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE_RULE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
PULUMI_NAME_RULE = re.compile(r"^[-A-Za-z0-9_.]{1,100}$")
# Not a name ModelOps makes but one Azure assigns (tenant, subscription, client ids), checked wherever a spec takes one.
GUID_RULE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Environments appear inside ACR and storage-account names, which allow only lowercase letters and digits.
ENVIRONMENT_RULE = re.compile(r"^[a-z][a-z0-9]{0,9}$")

# The organisation segment of a stack reference on a self-managed (file://, azblob://) backend is this literal.
DIY_ORGANIZATION = "organization"
PREFIX = "modelops"
# Every component that owns a Pulumi stack, in the order they are brought up (and the reverse of teardown).
COMPONENTS = ("infra", "registry", "storage", "workspace", "adaptive")
STATE_COMPONENT = "state"

USER_MAX = 16  # keeps every name that embeds a user short enough for the strictest rule it appears in
RUN_SLUG_MAX = 40


class NamingError(ValueError):
    """An input to a name (environment, component, run id) cannot produce a valid name; the message says why."""


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def _fit(slug: str, limit: int, original: str) -> str:
    """Shorten ``slug`` to ``limit`` characters, ending in a short hash of ``original`` so two long inputs that
    share a prefix still get different names."""
    if len(slug) <= limit:
        return slug
    return slug[: limit - 5] + _digest(original, 5)


def _ascii_lower(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


def user_slug(username: str) -> str:
    """A username reduced to 1-16 lowercase letters and digits (``"Alice.Smith"`` -> ``"alicesmith"``).

    Accents are folded, everything else that is not a letter or digit is dropped; a name with nothing left (for
    example ``"李"``) becomes ``"u"`` plus a hash of the original, so it is still stable and distinct.
    """
    slug = re.sub(r"[^a-z0-9]", "", _ascii_lower(username))
    if not slug:
        return "u" + _digest(username, 8)
    return _fit(slug, USER_MAX, username)


def check_environment(env: str) -> str:
    """Validate an environment name (``dev``, ``staging``, ``prod``): 1-10 lowercase letters and digits, starting
    with a letter, because it is embedded in ACR and storage-account names."""
    if not ENVIRONMENT_RULE.match(env):
        raise NamingError(
            f"environment {env!r} is not valid: use 1-10 lowercase letters and digits starting with a letter "
            "(for example dev, staging, prod)"
        )
    return env


def check_component(component: str) -> str:
    if component not in (*COMPONENTS, STATE_COMPONENT):
        raise NamingError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)} or state")
    return component


def run_slug(run_id: str) -> str:
    """A run id as a DNS-label fragment (lowercase letters, digits, single hyphens; at most 40 characters)."""
    slug = re.sub(r"[^a-z0-9]+", "-", _ascii_lower(run_id)).strip("-")
    if not slug:
        return "r" + _digest(run_id, 8)
    return _fit(slug, RUN_SLUG_MAX, run_id).strip("-")


# --- Azure ----------------------------------------------------------------------------------------------------------
def resource_group_name(env: str, username: str) -> str:
    """The per-user workload resource group: ``modelops-{env}-rg-{user}``."""
    return f"{PREFIX}-{check_environment(env)}-rg-{user_slug(username)}"


def state_resource_group_name(env: str) -> str:
    """The resource group holding the shared Pulumi state backend, separate from every workload group so deleting
    workloads can never delete state: ``modelops-{env}-state-rg``."""
    return f"{PREFIX}-{check_environment(env)}-state-rg"


def acr_name(env: str, suffix: str) -> str:
    """The container registry: ``modelops{env}acr{suffix}``, where ``suffix`` is the user (per-user registries in
    dev) or a random string (one shared registry per organisation). Registry names are global across Azure."""
    tail = re.sub(r"[^a-z0-9]", "", _ascii_lower(suffix)) or _digest(suffix, 8)
    return f"{PREFIX}{check_environment(env)}acr{_fit(tail, USER_MAX, suffix)}"


def storage_account_name(env: str, suffix: str) -> str:
    """A storage account: ``mops{env}st{suffix}`` within 24 characters (account names are global across Azure;
    ``suffix`` should be random, e.g. a pulumi_random string created once per stack)."""
    head = f"mops{check_environment(env)}st"
    tail = re.sub(r"[^a-z0-9]", "", _ascii_lower(suffix)) or _digest(suffix, 8)
    return head + _fit(tail, 24 - len(head), suffix)


def state_storage_account_name(env: str, suffix: str) -> str:
    """The Pulumi state storage account: ``mops{env}state{suffix}`` within 24 characters."""
    head = f"mops{check_environment(env)}state"
    tail = re.sub(r"[^a-z0-9]", "", _ascii_lower(suffix)) or _digest(suffix, 8)
    return head + _fit(tail, 24 - len(head), suffix)


def state_container_name(env: str) -> str:
    """The blob container of the state backend, one per environment: ``pulumi-state-{env}``."""
    return f"pulumi-state-{check_environment(env)}"


def aks_cluster_name(env: str, username: str) -> str:
    """The AKS cluster: ``modelops-{env}-aks-{user}``."""
    return f"{PREFIX}-{check_environment(env)}-aks-{user_slug(username)}"


def dns_prefix(cluster_name: str) -> str:
    """The AKS DNS prefix derived from a cluster name (letters, digits, hyphens; at most 54 characters)."""
    slug = re.sub(r"[^a-zA-Z0-9-]+", "-", cluster_name).strip("-") or "modelops"
    return _fit(slug, 54, cluster_name).strip("-")


def node_pool_name(role: str, index: int = 0) -> str:
    """An AKS Linux node pool name (<=12 lowercase alphanumerics): ``system``, ``workcpu``, ``gpu0``..."""
    base = re.sub(r"[^a-z0-9]", "", _ascii_lower(role))
    if not base or not base[0].isalpha():
        base = "pool" + base
    name = base[:12] if role in ("system", "workcpu") else f"{base[:8]}{index}"
    if not NODE_POOL_RULE.match(name):  # pragma: no cover - the construction above guarantees it
        raise NamingError(f"cannot make a node pool name from {role!r}")
    return name


def blob_container_name(purpose: str) -> str:
    """A blob container name from a purpose (``results``, ``cache``, ``bundles``)."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", _ascii_lower(purpose))).strip("-")
    if len(slug) < 3:
        slug = (slug + "-" + _digest(purpose, 6)).strip("-")
    slug = _fit(slug, 63, purpose).strip("-")
    if not BLOB_CONTAINER_RULE.match(slug):  # pragma: no cover - guaranteed by the construction above
        raise NamingError(f"cannot make a blob container name from {purpose!r}")
    return slug


# --- Kubernetes -----------------------------------------------------------------------------------------------------
def workspace_namespace(env: str) -> str:
    """The namespace of the Dask workspace: ``modelops-{env}``."""
    return f"{PREFIX}-{check_environment(env)}"


def run_namespace(run_id: str) -> str:
    """The per-run namespace of an adaptive run: ``modelops-{run-slug}``."""
    return f"{PREFIX}-{run_slug(run_id)}"


# --- Pulumi ---------------------------------------------------------------------------------------------------------
def project_name(component: str) -> str:
    """The Pulumi project of a component: ``modelops-{component}``."""
    return f"{PREFIX}-{check_component(component)}"


def stack_name(component: str, env: str, run_id: str | None = None) -> str:
    """The stack of a component: ``modelops-{component}-{env}``, or ``modelops-adaptive-{env}-{run-slug}``."""
    name = f"{PREFIX}-{check_component(component)}-{check_environment(env)}"
    if component == "adaptive":
        if not run_id:
            raise NamingError("an adaptive stack needs a run id (mops adaptive ... --run-id ID)")
        name += f"-{run_slug(run_id)}"
    elif run_id:
        raise NamingError(f"only adaptive stacks take a run id, not {component!r}")
    return name


def stack_reference(component: str, env: str, run_id: str | None = None, organization: str | None = None) -> str:
    """The fully qualified name another stack uses in ``pulumi.StackReference``: ``{org}/{project}/{stack}``.

    On a self-managed backend (file://, azblob://) the organisation segment is the literal ``organization``; on
    Pulumi Cloud it is the organisation from the global config.
    """
    org = organization or DIY_ORGANIZATION
    return f"{org}/{project_name(component)}/{stack_name(component, env, run_id)}"
