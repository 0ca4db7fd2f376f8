"""The kubeconfig provider: a cluster that already exists (AKS, kind, k3d...). No infra, registry or storage stack;
the plan holds the workspace and adaptive planes only, pointed at the kubeconfig file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelops.infra import automation
from modelops.infra.bindings import BindingOutputs, ClusterBinding
from modelops.infra.plan import CompiledPlan
from modelops.infra.providers.common import apply_plan, check_bindings, plane_stacks
from modelops.specs.base import SpecError
from modelops.specs.provider import KubeconfigProviderSpec
from modelops.specs.runtime import RuntimeSpec


def cluster_binding(spec: KubeconfigProviderSpec) -> ClusterBinding:
    """A ClusterBinding read from the kubeconfig file (for planes run without an infra stack)."""
    path = spec.path
    if not path.exists():
        raise automation.InfraError(
            f"kubeconfig {path} not found",
            hint="point provider.kubeconfig at your cluster's kubeconfig (e.g. `kind get kubeconfig > FILE`)",
        )
    return ClusterBinding(kubeconfig=path.read_text(encoding="utf-8"), cluster_name=spec.context)


@dataclass(frozen=True)
class KubeconfigProvider:
    """ProviderPlugin for an existing cluster."""

    environment: str
    username: str
    organization: str | None = None
    context: Callable[[], automation.PulumiContext] | None = None
    name: str = "kubeconfig"

    def compile(self, spec: RuntimeSpec) -> CompiledPlan:
        provider = spec.spec.provider
        if provider.name != "kubeconfig":
            raise SpecError(spec.metadata.name, [("spec.provider.name", "this plan needs provider name: kubeconfig")])
        assert isinstance(provider, KubeconfigProviderSpec)
        problems = check_bindings(spec)
        store = spec.spec.object_store
        if store is not None and store.managed:
            problems.append(
                (
                    "spec.objectStore.managed",
                    "an existing cluster has no Azure account to create storage in; set managed: false and point "
                    "runs at your store (mops run --runs-dir az://... or a local path)",
                )
            )
        if problems:
            raise SpecError(f"runtime {spec.metadata.name}", problems)
        cluster = {"source": "kubeconfig", "kubeconfig": str(provider.path), "context": provider.context}
        stacks = plane_stacks(spec, self.environment, self.organization, cluster=cluster, reads={})
        return CompiledPlan(
            name=spec.metadata.name, provider=self.name, environment=self.environment, stacks=tuple(stacks)
        )

    def apply(self, plan: CompiledPlan) -> dict[str, BindingOutputs]:
        if self.context is None:
            raise automation.InfraError("KubeconfigProvider.apply needs a Pulumi context (pass context=...)")
        return apply_plan(plan, self.context())
