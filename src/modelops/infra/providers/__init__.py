"""Provider plugins: ``azure`` (Azure from zero) and ``kubeconfig`` (an existing cluster)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modelops.infra.automation import InfraError, PulumiContext
from modelops.infra.plan import ProviderPlugin
from modelops.specs.config import GlobalConfig, modelops_home


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
    if name == "azure":
        from modelops.infra.providers.azure import AzureProvider

        return AzureProvider(environment=environment, username=username, organization=organization, context=context)
    if name == "kubeconfig":
        from modelops.infra.providers.kubeconfig import KubeconfigProvider

        return KubeconfigProvider(
            environment=environment, username=username, organization=organization, context=context
        )
    raise ValueError(f"unknown provider {name!r}; use azure or kubeconfig")


def provider_config_path(option: Path | None, config: GlobalConfig) -> Path:
    """Which provider config a command uses: ``--config``, else the global config's ``provider_config``, else
    ``<modelops home>/providers/azure.yaml``. InfraError with what to do when the file is missing."""
    path = option or (Path(config.provider_config).expanduser() if config.provider_config else None)
    path = path or modelops_home() / "providers" / "azure.yaml"
    if not path.exists():
        raise InfraError(
            f"no provider config at {path}",
            hint="pass --config FILE, or copy examples/providers/azure.yaml there and fill in your subscription",
        )
    return path
