"""Provider plugins: ``azure`` (Azure from zero) and ``kubeconfig`` (an existing cluster) compile Runtime
documents; ``azure``, ``aws`` and ``gcp`` also run the cloud CLI (``mops infra|registry|storage``) from a provider
config through :func:`cloud_for`. Adding a provider is one line in ``CLOUDS`` (and ``PROVIDER_SPECS`` in
``modelops.specs.provider``); nothing outside this package names a cloud.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelops.infra.automation import InfraError, PulumiContext
from modelops.infra.plan import ProviderPlugin
from modelops.infra.providers.cloud import CloudProvider
from modelops.specs.config import GlobalConfig, modelops_home

# provider name -> the CloudProvider class ("module:Class") the cloud CLI uses; one line per provider.
CLOUDS = {
    "azure": "modelops.infra.providers.azure:AzureCloud",
    "aws": "modelops.infra.providers.aws:AwsCloud",
    "gcp": "modelops.infra.providers.gcp:GcpCloud",
}


def cloud_for(spec: Any) -> CloudProvider:
    """The CloudProvider for a provider config (InfraError for a config with no cloud to manage, e.g. kubeconfig)."""
    kind = getattr(spec, "provider", None)
    if kind not in CLOUDS:
        raise InfraError(
            f"the provider config is provider: {kind}, an existing cluster; there is no cloud infrastructure to manage",
            hint="use `mops workspace up` directly against that cluster, or a provider config for " + ", ".join(CLOUDS),
        )
    module, _, cls = CLOUDS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)(spec)


# provider name -> the ProviderPlugin class ("module:Class") that compiles Runtime documents; one line per provider.
PLUGINS = {
    "azure": "modelops.infra.providers.azure:AzureProvider",
    "kubeconfig": "modelops.infra.providers.kubeconfig:KubeconfigProvider",
    "aws": "modelops.infra.providers.aws:AwsProvider",
    "gcp": "modelops.infra.providers.gcp:GcpProvider",
}


def get(
    name: str,
    *,
    environment: str,
    username: str,
    organization: str | None = None,
    context: Callable[[], PulumiContext] | None = None,
) -> ProviderPlugin:
    """The plugin called ``name`` for this environment and user; ``context`` makes the Pulumi context ``apply``
    uses (only called when applying, so compiling needs no CLI or passphrase)."""
    if name not in PLUGINS:
        raise ValueError(f"unknown provider {name!r}; use one of {', '.join(PLUGINS)}")
    module, _, cls = PLUGINS[name].partition(":")
    plugin = getattr(importlib.import_module(module), cls)
    return plugin(environment=environment, username=username, organization=organization, context=context)


def provider_config_path(option: Path | None, config: GlobalConfig) -> Path:
    """Which provider config a command uses: ``--config``, else the global config's ``provider_config``, else
    ``<modelops home>/providers/<provider>.yaml`` (``provider`` from the global config, azure by default).
    InfraError with what to do when the file is missing."""
    path = option or (Path(config.provider_config).expanduser() if config.provider_config else None)
    path = path or modelops_home() / "providers" / f"{config.provider}.yaml"
    if not path.exists():
        raise InfraError(
            f"no provider config at {path}",
            hint=f"pass --config FILE, or copy examples/providers/{path.name} there and fill it in",
        )
    return path
