"""What both providers share: binding checks, the workspace and adaptive stacks of a plan, and ``apply``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from modelops.core import naming
from modelops.infra import automation, programs
from modelops.infra.bindings import (
    STORAGE_SAS_ENV,
    Address,
    BindingOutputs,
    SecretRef,
    StorageBinding,
)
from modelops.infra.plan import CompiledPlan, StackPlan
from modelops.specs.runtime import RuntimeSpec

Problems = list[tuple[str, str]]


def _declared(names: Any) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "none"


def check_bindings(spec: RuntimeSpec) -> Problems:
    """Every algorithm binding must name something the spec declares (no dangling bindings)."""
    body = spec.spec
    problems: Problems = []
    stores = [body.object_store.name] if body.object_store else []
    for name, algorithm in body.algorithms.items():
        path = f"spec.algorithms.{name}"
        b = algorithm.bindings
        if b.workers not in body.worker_groups:
            problems.append(
                (
                    f"{path}.bindings.workers",
                    f"no worker group named {b.workers!r}; declared: {_declared(body.worker_groups)}",
                )
            )
        if b.database is not None and b.database not in body.databases:
            problems.append(
                (
                    f"{path}.bindings.database",
                    f"no database named {b.database!r}; declared: {_declared(body.databases)} (add it under "
                    "spec.databases or remove the binding)",
                )
            )
        if b.object_store is not None and b.object_store not in stores:
            problems.append(
                (
                    f"{path}.bindings.objectStore",
                    f"no object store named {b.object_store!r}; declared: {_declared(stores)}",
                )
            )
        if algorithm.replicas > 1 and b.database is None:
            problems.append(
                (
                    f"{path}.replicas",
                    "more than one runner replica needs a central store so they share one study: bind a database",
                )
            )
    for name, db in body.databases.items():
        if not db.managed:
            problems.append(
                (
                    f"spec.databases.{name}.managed",
                    "only in-cluster PostgreSQL (managed: true) is provisioned; external databases are not supported",
                )
            )
    return problems


def plane_stacks(
    spec: RuntimeSpec,
    environment: str,
    organization: str | None,
    *,
    cluster: Mapping[str, Any],
    reads: Mapping[str, str],
) -> list[StackPlan]:
    """The workspace stack and one adaptive stack per algorithm (run id = the algorithm's name)."""
    body = spec.spec
    groups = {
        name: g.model_dump(mode="json", by_alias=True, exclude_none=True) for name, g in body.worker_groups.items()
    }
    store = body.object_store.model_dump(mode="json", by_alias=True) if body.object_store else None
    workspace = StackPlan(
        component="workspace",
        stack=naming.stack_name("workspace", environment),
        project=naming.project_name("workspace"),
        config={
            "namespace": naming.workspace_namespace(environment),
            "cluster": dict(cluster),
            "worker_groups": groups,
            "object_store": store,
        },
        reads=dict(reads),
    )
    stacks = [workspace]
    workspace_ref = naming.stack_reference("workspace", environment, organization=organization)
    for name, algorithm in body.algorithms.items():
        b = algorithm.bindings
        database = body.databases[b.database].model_dump(mode="json") if b.database else None
        stacks.append(
            StackPlan(
                component="adaptive",
                stack=naming.stack_name("adaptive", environment, run_id=name),
                project=naming.project_name("adaptive"),
                run_id=name,
                config={
                    "algorithm": name,
                    "namespace": naming.run_namespace(name),
                    "type": algorithm.type,
                    "parameters": dict(algorithm.parameters),
                    "replicas": algorithm.replicas,
                    "entrypoint": algorithm.entrypoint.model_dump(mode="json", by_alias=True)
                    if algorithm.entrypoint
                    else None,
                    "workers": {"name": b.workers, **groups[b.workers]},
                    "database": {"name": b.database, **database} if database else None,
                    "object_store": store if b.object_store else None,
                    "cluster": dict(cluster),
                },
                reads={**reads, "workspace": workspace_ref},
            )
        )
    return stacks


def binding_outputs(stack: StackPlan, outputs: Mapping[str, Any]) -> BindingOutputs:
    """What runners need from one applied stack: plain env, references to secret outputs, addresses."""
    env: dict[str, str] = {}
    secrets: dict[str, SecretRef] = {}
    addresses: dict[str, Address] = {}
    if stack.component == "infra":
        secrets["KUBECONFIG"] = SecretRef(name=stack.stack, key="kubeconfig")
        if outputs.get("fqdn"):
            addresses["api_server"] = Address(str(outputs["fqdn"]), 443, "https")
    elif stack.component == "registry":
        env["MODELOPS_REGISTRY"] = str(outputs["login_server"])
        addresses["registry"] = Address(str(outputs["login_server"]), None, "https")
    elif stack.component == "storage" and isinstance(outputs.get("env"), Mapping):
        env.update({str(k): str(v) for k, v in outputs["env"].items()})  # identity-based store: no secret at all
    elif stack.component == "storage":
        binding = StorageBinding.from_outputs(outputs)
        env.update(binding.public_env())
        if binding.mode == "sas":
            secrets[STORAGE_SAS_ENV] = SecretRef(name=stack.stack, key="sas_token")
        else:
            # Workload identity: azure-identity reads these (plain ids; the token comes from the pod's projection).
            env["AZURE_CLIENT_ID"] = str(binding.identity_client_id)
            env["AZURE_TENANT_ID"] = str(binding.identity_tenant_id)
        host = urlparse(binding.blob_endpoint).hostname or binding.blob_endpoint
        addresses["blob"] = Address(host, 443, "https")
    elif stack.component == "workspace":
        if outputs.get("scheduler_addr"):
            env["DASK_SCHEDULER_ADDRESS"] = str(outputs["scheduler_addr"])
            parsed = urlparse(str(outputs["scheduler_addr"]))
            addresses["scheduler"] = Address(parsed.hostname or "", parsed.port, parsed.scheme or "tcp")
        if outputs.get("dashboard_url"):
            parsed = urlparse(str(outputs["dashboard_url"]))
            addresses["dashboard"] = Address(parsed.hostname or "", parsed.port, parsed.scheme or "http")
    elif stack.component == "adaptive":
        secret_name = outputs.get("postgres_secret_name")
        namespace = outputs.get("namespace")
        if secret_name:
            for key in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"):
                secrets[key] = SecretRef(name=str(secret_name), key=key, namespace=str(namespace or ""))
    return BindingOutputs(stack=stack.stack, env=env, secrets=secrets, addresses=addresses)


def apply_plan(
    plan: CompiledPlan,
    ctx: automation.PulumiContext,
    *,
    prepare: Callable[[StackPlan], Mapping[str, Any] | None] | None = None,
    on_output: Callable[[str], None] | None = None,
) -> dict[str, BindingOutputs]:
    """Bring every stack up in plan order. ``prepare`` runs before each (e.g. to set the ephemeral SSH key) and may
    return extra (secret) stack settings."""
    results: dict[str, BindingOutputs] = {}
    for stack in plan.stacks:
        program = programs.build(stack, ctx)
        extra = (prepare(stack) if prepare is not None else None) or {}
        outputs = automation.up(
            ctx,
            stack.component,
            program,
            config={**stack.stack_config, **extra},
            run_id=stack.run_id,
            on_output=on_output,
            plugins=stack.plugins or None,
        )
        results[stack.stack] = binding_outputs(stack, outputs)
    return results
