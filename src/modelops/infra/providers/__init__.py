"""Cloud providers: ``azure``, ``aws`` and ``gcp`` plan and prepare the infra, registry and storage stacks from a
provider config (or a Runtime document's ``provider``) through :func:`cloud_for`. Adding a provider is one line in
``CLOUDS`` (and ``PROVIDER_SPECS`` in ``modelops.specs.provider``); nothing outside this package names a cloud. An
existing cluster (``provider: kubeconfig``) has no cloud stacks: the workspace and adaptive planes take its
kubeconfig directly.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from modelops.infra.automation import InfraError
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
