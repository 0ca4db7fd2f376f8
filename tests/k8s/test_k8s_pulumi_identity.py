"""The adaptive and workspace components with workload identity, under Pulumi's mocks: each federates its own
ServiceAccount against the cluster issuer, before its pods start, and applies no object-store Secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from modelops.core import naming
from modelops.infra.components.identity import Federation
from modelops.k8s.adaptive import AdaptivePlan, StudyFiles
from modelops.k8s.identity import WorkloadIdentity
from modelops.specs.adaptive import AdaptiveSpec
from modelops.specs.base import parse_spec

from .test_k8s_pulumi import KUBECONFIG, Capture, Mocks, mocks  # noqa: F401 (the fixture)

SUB = "00000000-0000-0000-0000-000000000000"
IDENTITY = WorkloadIdentity("22222222-2222-2222-2222-222222222222", "11111111-1111-1111-1111-111111111111", "acct1")
FEDERATION = Federation(SUB, "modelops-dev-rg-alice", "modelops-dev-workload", "https://issuer.example/")


def test_k8s_run_federates_its_service_account_before_the_runner(mocks: Mocks, pick, study_dir: Path) -> None:  # noqa: F811
    from modelops.infra.components.adaptive import AdaptiveRun
    from modelops.infra.components.workspace import kubernetes_provider

    spec = parse_spec(AdaptiveSpec, pick.adaptive_doc(results={"url": "az://results/runs"}))
    plan = AdaptivePlan.for_run(
        spec, "exp-001", "exp-001", naming.run_namespace("exp-001"), StudyFiles.from_path(study_dir / "study.yaml")
    )
    capture = Capture()
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        provider = kubernetes_provider("adaptive", kubeconfig=KUBECONFIG)
        run = AdaptiveRun(
            "run",
            spec,
            plan,
            provider=provider,
            identity=IDENTITY,
            federation=FEDERATION,
            opts=pulumi.ResourceOptions(transformations=[capture]),
        )
        assert run.federated is not None
        return pulumi.Output.all(subject=run.federated.subject, ns=run.run_namespace).apply(seen.update)

    program()
    assert seen["subject"] == "system:serviceaccount:modelops-exp-001:modelops-workload"
    (cred,) = mocks.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    assert cred.inputs["issuer"] == "https://issuer.example/"
    assert cred.inputs["resourceName"] == "modelops-dev-workload"
    ns = "modelops-exp-001"
    sa = mocks.named(f"serviceaccount-{ns}-modelops-workload")
    assert sa.inputs["automountServiceAccountToken"] is False
    assert not [r for r in mocks.of_type("kubernetes:core/v1:Secret")]  # no object-store (or any) Secret
    runner_deps = {d._name for d in capture.opts[f"job-{ns}-runner-exp-001"].depends_on}
    assert "run-federated" in runner_deps


def test_k8s_workspace_federates_the_workers(mocks: Mocks, pick) -> None:  # noqa: F811
    from modelops.infra.components.workspace import DaskWorkspace, kubernetes_provider

    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        provider = kubernetes_provider("workspace", kubeconfig=KUBECONFIG)
        ws = DaskWorkspace(
            "workspace",
            pick.full_workspace(),
            namespace="modelops-dev",
            provider=provider,
            identity=IDENTITY,
            federation=FEDERATION,
        )
        return pulumi.Output.all(subject=ws.federated.subject, ns=ws.namespace).apply(seen.update)

    program()
    assert seen["subject"] == "system:serviceaccount:modelops-dev:modelops-workload"
    (provider,) = mocks.of_type("pulumi:providers:azure-native")
    assert provider.inputs["subscriptionId"] == SUB


def test_k8s_managed_run_puts_its_password_in_key_vault_before_the_bootstrap(
    mocks: Mocks,  # noqa: F811
    pick,
    study_dir: Path,
) -> None:
    from modelops.infra.components.adaptive import AdaptiveRun
    from modelops.infra.components.database import RunSecretTarget
    from modelops.infra.components.workspace import kubernetes_provider
    from modelops.k8s.managed_store import ManagedStoreTarget

    spec = parse_spec(
        AdaptiveSpec,
        pick.adaptive_doc(runners={"replicas": 2}, central_store={"kind": "managed"}, results={"url": "az://r/x"}),
    )
    plan = AdaptivePlan.for_run(
        spec, "exp-001", "exp-001", "modelops-exp-001", StudyFiles.from_path(study_dir / "study.yaml")
    )
    target = ManagedStoreTarget.resolve(
        spec.spec.central_store,
        "exp-001",
        host="pg.example",
        admin_user="adm",
        key_vault="kv-one",
        admin_client_id="33333333-3333-3333-3333-333333333333",
    )
    run_secret = RunSecretTarget(SUB, "rg", "kv-one", "/subscriptions/x/vaults/kv-one", ("ws-p", "admin-p"))
    admin_fed = Federation(SUB, "rg", "modelops-dev-store-admin", "https://issuer.example/")
    capture = Capture()
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        provider = kubernetes_provider("adaptive", kubeconfig=KUBECONFIG)
        run = AdaptiveRun(
            "run", spec, plan, provider=provider, identity=IDENTITY, federation=FEDERATION, managed=target,
            run_secret=run_secret, admin_federation=admin_fed, opts=pulumi.ResourceOptions(transformations=[capture]),
        )  # fmt: skip
        return pulumi.Output.all(secret=run.postgres_secret_name, kv=run.run_secret.secret_name).apply(seen.update)

    program()
    assert seen == {"secret": None, "kv": "pg-runtime-exp-001"}
    assert not mocks.of_type("kubernetes:core/v1:Secret")
    assert not mocks.of_type("random:index/randomPassword:RandomPassword")[1:]  # only the run's one password
    creds = {c.inputs["subject"] for c in mocks.of_type("azure-native:managedidentity:FederatedIdentityCredential")}
    assert creds == {
        "system:serviceaccount:modelops-exp-001:modelops-workload",
        "system:serviceaccount:modelops-exp-001:modelops-store-admin",
    }
    ns = "modelops-exp-001"
    boot = {d._name for d in capture.opts[f"job-{ns}-pg-exp-001-bootstrap"].depends_on}
    assert {"run-pg-runtime", "run-store-admin-federated"} <= boot
    assert f"job-{ns}-pg-exp-001-bootstrap" in {d._name for d in capture.opts[f"job-{ns}-runner-exp-001"].depends_on}
    spcs = mocks.of_type("kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass")
    assert len(spcs) == 2
