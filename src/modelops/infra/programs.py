"""The Pulumi programs each stack runs: closures over a StackPlan, built before ``pulumi up`` so spec problems
(a missing SSH key file, an unset variable) fail before Pulumi starts.

    program = programs.build(stack_plan, ctx)       # InfraError when the plan cannot be run
    automation.up(ctx, stack_plan.component, program, config=stack_plan.stack_config)

Stacks read each other's outputs through ``pulumi.StackReference(stack_plan.reads[component])``. The workspace and
adaptive stacks are built from their own specs (``components.workspace.workspace_program``,
``components.adaptive.adaptive_program``), not from plans.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime

import pulumi

from modelops.infra.automation import InfraError, PulumiContext, PulumiProgram
from modelops.infra.components.cluster import ClusterConfig, ModelOpsCluster
from modelops.infra.components.registry import ContainerRegistry, RegistryConfig
from modelops.infra.components.state_backend import StateBackend, StateBackendConfig
from modelops.infra.components.storage import ObjectStorage, StorageConfig, sas_expiry
from modelops.infra.plan import StackPlan
from modelops.infra.ssh import SSH_CONFIG_KEY, public_key_from_spec
from modelops.specs.provider import SshSpec

ProgramFactory = Callable[[StackPlan, PulumiContext], PulumiProgram]
COMPONENT_NAME = "modelops"


def _export(outputs: dict[str, object]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)


def infra_program(plan: StackPlan, ctx: PulumiContext | None = None) -> PulumiProgram:
    """Resource group + AKS. The SSH key is resolved now for path/env modes; the ephemeral key is read from the
    stack's secret config (``modelops:sshPublicKey``), which ``up`` sets once."""
    config = ClusterConfig.from_dict(plan.config["cluster"])
    literal_key = public_key_from_spec(SshSpec(**plan.config.get("ssh", {})))

    postgres = plan.config.get("postgres")

    def program() -> None:
        key = literal_key or pulumi.Config("modelops").require_secret(SSH_CONFIG_KEY.split(":", 1)[1])
        cluster = ModelOpsCluster(COMPONENT_NAME, config, ssh_public_key=key)
        if postgres:
            from modelops.infra.components.database import ManagedPostgres, ManagedPostgresConfig

            store = ManagedPostgres(
                f"{COMPONENT_NAME}-pg",
                ManagedPostgresConfig.from_dict(postgres),
                resource_group_name=cluster.resource_group,
                location=cluster.location,
            )
            _export(store.outputs)
        _export(
            {
                "kubeconfig": cluster.kubeconfig,
                "cluster_name": cluster.cluster_name,
                "resource_group": cluster.resource_group,
                "location": cluster.location,
                "kubelet_object_id": cluster.kubelet_object_id,
                "cluster_id": cluster.cluster_id,
                "fqdn": cluster.fqdn,
                "oidc_issuer_url": cluster.oidc_issuer_url,
                "kubernetes_version": config.kubernetes_version,
            }
        )

    return program


def registry_program(plan: StackPlan, ctx: PulumiContext | None = None) -> PulumiProgram:
    """ACR in the infra stack's resource group, with AcrPull for the infra stack's kubelet identity."""
    config = RegistryConfig.from_dict(plan.config["registry"])
    infra_ref = plan.reads["infra"]

    def program() -> None:
        infra = pulumi.StackReference(infra_ref)
        registry = ContainerRegistry(
            COMPONENT_NAME,
            config,
            resource_group_name=infra.require_output("resource_group"),
            location=infra.require_output("location"),
            kubelet_object_id=infra.require_output("kubelet_object_id"),
        )
        _export(
            {
                "login_server": registry.login_server,
                "registry_name": registry.registry_name,
                "registry_id": registry.registry_id,
                "requires_auth": registry.requires_auth,
            }
        )

    return program


def storage_program(plan: StackPlan, ctx: PulumiContext | None = None, now: datetime | None = None) -> PulumiProgram:
    """Storage account in the infra stack's resource group; a fresh SAS (valid ``sas_days``) on every up."""
    config = StorageConfig.from_dict(plan.config["storage"])
    infra_ref = plan.reads["infra"]
    expiry = sas_expiry(now or datetime.now(UTC), config.sas_days)

    def program() -> None:
        infra = pulumi.StackReference(infra_ref)
        store = ObjectStorage(
            COMPONENT_NAME,
            config,
            resource_group_name=infra.require_output("resource_group"),
            location=infra.require_output("location"),
            expiry=expiry,
        )
        outputs = dict(store.outputs)
        if config.auth == "workload_identity":
            # The planes federate their ServiceAccounts against the cluster's issuer; hand it on with the identity.
            outputs["oidc_issuer_url"] = infra.require_output("oidc_issuer_url")
        _export(outputs)

    return program


def state_program(config: StateBackendConfig) -> PulumiProgram:
    """The shared state backend created by ``mops infra bootstrap``."""

    def program() -> None:
        backend = StateBackend(COMPONENT_NAME, config)
        _export(
            {
                "backend_url": backend.backend_url,
                "resource_group": backend.resource_group,
                "account_name": backend.account_name,
                "container": backend.container,
            }
        )

    return program


PROGRAMS: dict[str, ProgramFactory] = {
    "infra": infra_program,
    "registry": registry_program,
    "storage": storage_program,
}


def build(plan: StackPlan, ctx: PulumiContext | None = None) -> PulumiProgram:
    """The program for a planned stack: the factory the plan names (``module:function``), else this module's."""
    if plan.program:
        module_name, _, attr = plan.program.partition(":")
        return getattr(importlib.import_module(module_name), attr)(plan, ctx)
    factory = PROGRAMS.get(plan.component)
    if factory is None:
        raise InfraError(
            f"no program builds the {plan.component} stack from a plan",
            hint=f"bring it up with `mops {plan.component} up`",
        )
    return factory(plan, ctx)
