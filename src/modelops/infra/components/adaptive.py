"""One adaptive run as a Pulumi component: the manifests of ``modelops.k8s.adaptive`` with generated passwords.

    run = AdaptiveRun("run", spec, plan, provider=provider, results_env=storage.secret_env() | ...)
    pulumi.export("postgres_secret_name", run.postgres_secret_name)

Passwords are ``pulumi_random.RandomPassword`` resources: generated once at the first `up`, kept (encrypted) in
the run's stack, and stable across later `up`s. They reach the cluster only as Secret values. Apply order is
enforced with ``depends_on``: namespace -> Secrets/PostgreSQL/ConfigMap/PVC -> init Job -> runner Job, so the first
`mops run` always finds its database and role.

The run's namespace is retained when the stack is destroyed: it holds the PostgreSQL volume, which `mops adaptive
down` keeps unless ``--purge`` (which then deletes the namespace through the Kubernetes API).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_random as random

from modelops.infra.components.database import ManagedRunSecret, RunSecretTarget
from modelops.infra.components.identity import FederatedServiceAccount, Federation
from modelops.infra.components.workspace import create_manifests, kubernetes_provider, resource_name
from modelops.k8s.adaptive import AdaptivePlan, build_adaptive
from modelops.k8s.identity import PodIdentity
from modelops.k8s.managed_store import STORE_ADMIN_SA, ManagedStoreTarget
from modelops.k8s.postgres import PostgresSecrets, init_sql
from modelops.k8s.workspace import RegistryCredentials
from modelops.specs.adaptive import AdaptiveSpec

# The keys adaptive_program exports; PostgresBinding.from_outputs reads postgres_secret_name and namespace.
ADAPTIVE_OUTPUTS = ("run_namespace", "namespace", "runner_name", "postgres_secret_name", "run_id", "runs_dir")


class AdaptiveRun(pulumi.ComponentResource):
    """A run's namespace, optional PostgreSQL, study ConfigMap, results storage and runner Job."""

    run_namespace: pulumi.Output[str]
    runner_name: pulumi.Output[str]
    postgres_secret_name: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        spec: AdaptiveSpec,
        plan: AdaptivePlan,
        *,
        provider: pulumi.ProviderResource,
        results_env: Mapping[str, Any] | None = None,
        credentials: RegistryCredentials | None = None,
        identity: PodIdentity | None = None,
        federation: Federation | None = None,
        managed: ManagedStoreTarget | None = None,
        run_secret: RunSecretTarget | None = None,
        admin_federation: Federation | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("modelops:adaptive:AdaptiveRun", name, None, opts)
        store = spec.spec.central_store
        pg_secrets = None
        # The managed store: this run's runtime password in Key Vault, and the bootstrap's ServiceAccount trusted
        # for the store admin identity, both before the bootstrap Job starts.
        before_init: list[pulumi.Resource] = []
        self.run_secret: ManagedRunSecret | None = None
        if managed is not None and run_secret is not None:
            self.run_secret = ManagedRunSecret(
                f"{name}-pg-runtime",
                run_secret,
                secret_name=managed.runtime_secret,
                opts=pulumi.ResourceOptions(parent=self),
            )
            before_init.append(self.run_secret)
        if managed is not None and admin_federation is not None:
            before_init.append(
                FederatedServiceAccount(
                    f"{name}-store-admin-federated",
                    admin_federation,
                    namespace=plan.namespace,
                    service_account=STORE_ADMIN_SA,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        if store is not None and managed is None:
            child = pulumi.ResourceOptions(parent=self)
            # Letters and digits only: the values go into SQL literals, libpq variables and URLs unescaped.
            self.admin_password = random.RandomPassword(f"{name}-pg-admin", length=32, special=False, opts=child)
            self.runtime_password = random.RandomPassword(f"{name}-pg-runtime", length=32, special=False, opts=child)
            pg_secrets = PostgresSecrets(
                admin_password=self.admin_password.result,
                runtime_password=self.runtime_password.result,
                init_sql=self.runtime_password.result.apply(lambda pw: init_sql(store, pw)),
            )
        base, init, runners = build_adaptive(
            spec,
            plan,
            pg_secrets=pg_secrets,
            results_env=results_env,
            credentials=credentials,
            identity=identity,
            managed=managed,
        )
        # The run's namespace is trusted for the workspace identity only while this stack exists.
        self.federated: FederatedServiceAccount | None = None
        if identity is not None and federation is not None:
            self.federated = FederatedServiceAccount(
                f"{name}-federated",
                federation,
                namespace=plan.namespace,
                service_account=identity.service_account,
                opts=pulumi.ResourceOptions(parent=self),
            )
        ns_name = resource_name(base[0])
        # Kept by `pulumi destroy`: the namespace and the runs PVC (the StatefulSet's own PVC is not a Pulumi
        # resource and survives through its retention policy); `down --purge` deletes the namespace with them.
        keep = {resource_name(m): True for m in base if m["kind"] in ("Namespace", "PersistentVolumeClaim")}
        self.base = create_manifests(base, parent=self, provider=provider, retain=keep)
        namespace = self.base[ns_name]
        self.init = create_manifests(
            init, parent=self, provider=provider, depends_on=[namespace, *self.base.values(), *before_init]
        )
        federated = [self.federated] if self.federated is not None else []
        self.runners = create_manifests(
            runners,
            parent=self,
            provider=provider,
            depends_on=[namespace, *self.base.values(), *self.init.values(), *federated],
        )
        self.run_namespace = namespace.id.apply(lambda _: plan.namespace)
        self.runner_name = pulumi.Output.from_input(plan.runner_name)
        self.postgres_secret_name = pulumi.Output.from_input(
            # No Kubernetes Secret with the managed store: its password is in Key Vault.
            plan.postgres.runtime_secret if store is not None and managed is None else None
        )
        self.register_outputs(
            {
                "run_namespace": self.run_namespace,
                "runner_name": self.runner_name,
                "postgres_secret_name": self.postgres_secret_name,
            }
        )


def adaptive_program(
    spec: AdaptiveSpec,
    plan: AdaptivePlan,
    *,
    infra_ref: str | None = None,
    kubeconfig: str | None = None,
    results_env: Mapping[str, Any] | None = None,
    credentials: RegistryCredentials | None = None,
    identity: PodIdentity | None = None,
    federation: Federation | None = None,
    managed: ManagedStoreTarget | None = None,
    run_secret: RunSecretTarget | None = None,
    admin_federation: Federation | None = None,
):
    """The Pulumi program of one run's stack (``modelops-adaptive-<env>-<run-slug>``)."""

    def program() -> None:
        provider = kubernetes_provider("adaptive", kubeconfig=kubeconfig, infra_ref=infra_ref)
        run = AdaptiveRun(
            "run",
            spec,
            plan,
            provider=provider,
            results_env=results_env,
            credentials=credentials,
            identity=identity,
            federation=federation,
            managed=managed,
            run_secret=run_secret,
            admin_federation=admin_federation,
        )
        pulumi.export("run_namespace", run.run_namespace)
        pulumi.export("namespace", run.run_namespace)  # PostgresBinding's key
        pulumi.export("runner_name", run.runner_name)
        pulumi.export("postgres_secret_name", run.postgres_secret_name)
        pulumi.export("run_id", plan.run_id)
        pulumi.export("runs_dir", plan.runs_dir)

    return program
