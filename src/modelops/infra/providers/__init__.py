"""Provider plugins: ``azure`` (Azure from zero) and ``kubeconfig`` (an existing cluster)."""

from __future__ import annotations

from collections.abc import Callable

from modelops.infra.automation import PulumiContext
from modelops.infra.plan import ProviderPlugin


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
