"""The workspace and adaptive Pulumi components under Pulumi's own unit-test mocks (no engine, no cluster).

Checked: the Kubernetes provider comes from the infra stack's kubeconfig (a StackReference) or a given kubeconfig;
every resource uses it; Secret values are secret; the outputs the bindings read; and the apply order of a run
(init Job after PostgreSQL, runner after the init Job).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from modelops.core import naming
from modelops.infra.bindings import DaskBinding, PostgresBinding
from modelops.k8s.adaptive import AdaptivePlan, StudyFiles
from modelops.k8s.workspace import RegistryCredentials
from modelops.specs.adaptive import AdaptiveSpec
from modelops.specs.base import parse_spec
from modelops_testing.fake_pulumi import RecordingMocks

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine protocol marks a secret value
KUBECONFIG = "apiVersion: v1\nkind: Config\n"


class Mocks(RecordingMocks):
    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        if args.typ == "pulumi:pulumi:StackReference":
            return {"outputs": {"kubeconfig": KUBECONFIG}, "secretOutputNames": ["kubeconfig"]}
        if args.typ == "random:index/randomPassword:RandomPassword":
            return {"result": f"generated-{args.name}"}
        return {}


@pytest.fixture
def mocks(fresh_event_loop: object) -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="modelops-test", stack="dev", preview=False)
    return m


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def provider_urn(provider: pulumi.runtime.MockResourceArgs) -> str:
    return f"urn:pulumi:dev::modelops-test::pulumi:pulumi:Stack$pulumi:providers:kubernetes::{provider.name}"


class Capture:
    """A transformation on the component that records each child's ResourceOptions (depends_on, retain...)."""

    def __init__(self) -> None:
        self.opts: dict[str, pulumi.ResourceOptions] = {}

    def __call__(self, args: pulumi.ResourceTransformationArgs) -> None:
        self.opts[args.name] = args.opts
        return None


def test_k8s_workspace_component(mocks: Mocks, pick) -> None:
    from modelops.infra.components.workspace import DaskWorkspace, kubernetes_provider

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        provider = kubernetes_provider("workspace", infra_ref=naming.stack_reference("infra", "dev"))
        ws = DaskWorkspace(
            "workspace",
            pick.full_workspace(),
            namespace="modelops-dev",
            provider=provider,
            credentials=RegistryCredentials("ghcr.io", "someone", "token-123"),
        )
        return pulumi.Output.all(ws.namespace, ws.scheduler_address)

    program()
    ref = mocks.of_type("pulumi:pulumi:StackReference")
    assert [r.inputs["name"] for r in ref] == ["organization/modelops-infra/modelops-infra-dev"]
    (provider,) = mocks.of_type("pulumi:providers:kubernetes")
    assert _is_secret(provider.inputs["kubeconfig"]) and provider.inputs["kubeconfig"]["value"] == KUBECONFIG
    assert provider.inputs["enableServerSideApply"] == "true"  # provider inputs travel as JSON strings
    k8s_resources = [r for r in mocks.resources if r.typ.startswith("kubernetes:")]
    assert {r.typ for r in k8s_resources} >= {
        "kubernetes:core/v1:Namespace",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:core/v1:Secret",
    }
    # Every Kubernetes object goes through the one provider built from the infra stack's kubeconfig.
    assert {r.provider for r in k8s_resources} == {f"{provider_urn(provider)}::workspace-id"}
    pull = mocks.named("secret-modelops-dev-modelops-registry")
    assert _is_secret(pull.inputs["stringData"])
    worker = mocks.named("deployment-modelops-dev-dask-worker-default")
    container = worker.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["dask", "worker"]  # the manifest, untouched
    assert worker.inputs["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_k8s_workspace_outputs_feed_the_dask_binding(mocks: Mocks, pick) -> None:
    from modelops.infra.components.workspace import WORKSPACE_OUTPUTS, DaskWorkspace, kubernetes_provider

    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        provider = kubernetes_provider("workspace", kubeconfig=KUBECONFIG)
        ws = DaskWorkspace("workspace", pick.full_workspace(), namespace="modelops-dev", provider=provider)
        outs = dict(
            zip(WORKSPACE_OUTPUTS, (ws.scheduler_address, ws.dashboard_url, ws.namespace, ws.worker_count), strict=True)
        )
        return pulumi.Output.all(**outs).apply(seen.update)

    program()
    binding = DaskBinding.from_outputs(seen)
    assert binding.scheduler_addr == "tcp://dask-scheduler.modelops-dev:8786"
    assert binding.dashboard_url == "http://dask-scheduler.modelops-dev:8787"
    assert binding.namespace == "modelops-dev"
    # replicas x processes over the groups; the autoscaled one starts at its min (2 pods of 2)
    assert seen["worker_count"] == 3 * 2 + 1 * 1 + 2 * 2
    assert not mocks.of_type("pulumi:pulumi:StackReference")  # a given kubeconfig needs no infra stack


def _adaptive(study_file: Path, pick, **spec: Any) -> tuple[AdaptiveSpec, AdaptivePlan]:
    s = parse_spec(AdaptiveSpec, pick.adaptive_doc(**spec))
    plan = AdaptivePlan.for_run(
        s, "exp-001", naming.run_slug("exp-001"), naming.run_namespace("exp-001"), StudyFiles.from_path(study_file)
    )
    return s, plan


def test_k8s_adaptive_component(mocks: Mocks, pick, study_dir: Path) -> None:
    from modelops.infra.components.adaptive import AdaptiveRun
    from modelops.infra.components.workspace import kubernetes_provider

    spec, plan = _adaptive(
        study_dir / "study.yaml", pick, runners={"replicas": 2}, central_store={}, results={"url": "az://r/runs"}
    )
    capture = Capture()
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        provider = kubernetes_provider("adaptive", infra_ref=naming.stack_reference("infra", "dev"))
        run = AdaptiveRun(
            "run",
            spec,
            plan,
            provider=provider,
            results_env={"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_SAS_TOKEN": "sv=secret"},
            opts=pulumi.ResourceOptions(transformations=[capture]),
        )
        return pulumi.Output.all(
            namespace=run.run_namespace, runner=run.runner_name, secret=run.postgres_secret_name
        ).apply(seen.update)

    program()
    assert seen == {"namespace": "modelops-exp-001", "runner": "runner-exp-001", "secret": "postgres-exp-001-runtime"}
    binding = PostgresBinding.from_outputs({"postgres_secret_name": seen["secret"], "namespace": seen["namespace"]})
    assert binding.postgres_secret_name == "postgres-exp-001-runtime"

    passwords = mocks.of_type("random:index/randomPassword:RandomPassword")
    assert sorted(p.name for p in passwords) == ["run-pg-admin", "run-pg-runtime"]
    assert all(p.inputs["special"] is False and p.inputs["length"] >= 32 for p in passwords)

    ns = "modelops-exp-001"
    for name in ("postgres-exp-001-admin", "postgres-exp-001-runtime", "postgres-exp-001-init", "object-store-exp-001"):
        secret = mocks.named(f"secret-{ns}-{name}")
        assert _is_secret(secret.inputs["stringData"]), name
    runtime = mocks.named(f"secret-{ns}-postgres-exp-001-runtime").inputs["stringData"]["value"]
    assert runtime["PGPASSWORD"] == "generated-run-pg-runtime"
    init_sql = mocks.named(f"secret-{ns}-postgres-exp-001-init").inputs["stringData"]["value"]["init.sql"]
    assert "PASSWORD 'generated-run-pg-runtime'" in init_sql

    def deps(name: str) -> set[str]:
        return {d._name for d in capture.opts[name].depends_on}

    init_job, runner = f"job-{ns}-postgres-exp-001-init", f"job-{ns}-runner-exp-001"
    assert {
        f"statefulset-{ns}-postgres-exp-001",
        f"service-{ns}-postgres-exp-001",
        f"secret-{ns}-postgres-exp-001-init",
    } <= deps(init_job)
    assert init_job in deps(runner)
    assert f"namespace-{ns}" in deps(f"statefulset-{ns}-postgres-exp-001")
    # The namespace outlives `pulumi destroy` (it holds the PostgreSQL volume); nothing else does.
    assert capture.opts[f"namespace-{ns}"].retain_on_delete is True
    assert not capture.opts[runner].retain_on_delete


def test_k8s_adaptive_without_store_has_no_passwords(mocks: Mocks, pick, study_dir: Path) -> None:
    from modelops.infra.components.adaptive import AdaptiveRun
    from modelops.infra.components.workspace import kubernetes_provider

    spec, plan = _adaptive(study_dir / "study.yaml", pick)
    seen: dict[str, Any] = {}
    capture = Capture()

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        run = AdaptiveRun(
            "run",
            spec,
            plan,
            provider=kubernetes_provider("adaptive", kubeconfig=KUBECONFIG),
            opts=pulumi.ResourceOptions(transformations=[capture]),
        )
        return pulumi.Output.all(run.postgres_secret_name, run.runner_name).apply(lambda v: seen.update(v=v))

    program()
    assert seen["v"] == [None, "runner-exp-001"]
    assert not mocks.of_type("random:index/randomPassword:RandomPassword")
    assert not mocks.of_type("kubernetes:apps/v1:StatefulSet")
    assert mocks.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    # The run records' PVC survives `down` like the namespace that holds it.
    assert capture.opts["persistentvolumeclaim-modelops-exp-001-runs-exp-001"].retain_on_delete is True


def test_k8s_stack_programs_run(mocks: Mocks, pick, study_dir: Path) -> None:
    """The closures `mops workspace up` / `mops adaptive up` hand to the Automation API run under the mocks."""
    from modelops.infra.components.adaptive import adaptive_program
    from modelops.infra.components.workspace import workspace_program

    spec, plan = _adaptive(study_dir / "study.yaml", pick, central_store={})
    programs = [
        workspace_program(pick.full_workspace(), namespace="modelops-dev", infra_ref="organization/p/s"),
        adaptive_program(spec, plan, kubeconfig=KUBECONFIG),
    ]

    @pulumi.runtime.test
    def run() -> None:
        for program in programs:
            program()

    run()
    assert len(mocks.of_type("pulumi:providers:kubernetes")) == 2
    assert mocks.of_type("kubernetes:apps/v1:StatefulSet") and mocks.of_type("kubernetes:batch/v1:Job")
    assert [r.inputs["name"] for r in mocks.of_type("pulumi:pulumi:StackReference")] == ["organization/p/s"]
