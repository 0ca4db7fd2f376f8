"""Workspace and adaptive specs: defaults, and errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.core.images import default_image
from modelops.specs.adaptive import AdaptiveSpec, check_study_storage, load_adaptive_spec, study_path
from modelops.specs.base import SpecError, parse_spec
from modelops.specs.workspace import WorkspaceSpec, load_workspace_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def problems(model, doc) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(model, doc)
    return dict(info.value.problems)


def test_k8s_workspace_defaults(pick) -> None:
    spec = parse_spec(WorkspaceSpec, pick.workspace_doc())
    assert spec.namespace_for("dev") == "modelops-dev"
    assert parse_spec(WorkspaceSpec, pick.workspace_doc(namespace="team-a")).namespace_for("dev") == "team-a"
    assert spec.image == default_image()
    w = spec.spec.workers
    assert (w.processes, w.threads) == (2, 1)


def test_k8s_workspace_errors_name_the_field(pick) -> None:
    p = problems(WorkspaceSpec, pick.workspace_doc(workers={"procesess": 2}))
    assert "spec.workers.procesess" in p
    p = problems(
        WorkspaceSpec,
        pick.workspace_doc(
            workers={"resources": {"requests": {"cpu": "4", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}}
        ),
    )
    assert any("limits.cpu (2) is below requests.cpu (4)" in m for m in p.values())
    p = problems(
        WorkspaceSpec,
        pick.workspace_doc(
            workers={"resources": {"requests": {"cpu": "1", "memory": "lots"}, "limits": {"cpu": "1", "memory": "1Gi"}}}
        ),
    )
    assert any("not a Kubernetes quantity" in m for m in p.values())
    p = problems(WorkspaceSpec, pick.workspace_doc(namespace="Bad_NS"))
    assert any("DNS label" in m for m in p.values())
    p = problems(WorkspaceSpec, pick.workspace_doc(worker_groups=[{"name": "default"}]))
    assert any("unique" in m for m in p.values())
    p = problems(
        WorkspaceSpec,
        pick.workspace_doc(
            workers={
                "processes": 8,
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            }
        ),
    )
    assert any("256Mi" in m for m in p.values())


def test_k8s_adaptive_replicas_need_a_central_store(pick) -> None:
    p = problems(AdaptiveSpec, pick.adaptive_doc(runners={"replicas": 3}))
    (message,) = p.values()
    assert "central_store" in message and "replicas" in message
    ok = parse_spec(
        AdaptiveSpec, pick.adaptive_doc(runners={"replicas": 2}, central_store={}, results={"url": "az://r/runs"})
    )
    assert ok.spec.central_store is not None and ok.spec.central_store.storage_class == "managed-csi-premium"


def test_k8s_adaptive_store_fields_are_checked(pick) -> None:
    p = problems(AdaptiveSpec, pick.adaptive_doc(central_store={"user": "Robert'); DROP"}))
    # The location names the store kind (in-cluster postgres or managed) whose field is wrong.
    assert "spec.central_store.postgres.user" in p
    p = problems(AdaptiveSpec, pick.adaptive_doc(central_store={"size": "100Mi"}))
    assert "spec.central_store.postgres.size" in p
    p = problems(AdaptiveSpec, pick.adaptive_doc(central_store={"kind": "managed", "database": "Robert'); DROP"}))
    assert "spec.central_store.managed.database" in p
    p = problems(AdaptiveSpec, pick.adaptive_doc(central_store={"kind": "managed", "egress_cidr": "10.0.0/33"}))
    assert "spec.central_store.managed.egress_cidr" in p
    p = problems(AdaptiveSpec, pick.adaptive_doc(central_store={"kind": "managed"}, object_store={"auth": "sas"}))
    assert any("workload identity" in v for v in p.values())


def test_k8s_study_storage_must_match_the_plan(tmp_path: Path, pick) -> None:
    study = tmp_path / "study.yaml"
    study.write_text("kind: Study\nstorage: {kind: journal}\n")
    with_store = parse_spec(AdaptiveSpec, pick.adaptive_doc(central_store={}))
    with pytest.raises(SpecError, match="kind: postgres"):
        check_study_storage(with_store, study)
    study.write_text("kind: Study\nstorage: {kind: postgres}\n")
    assert check_study_storage(with_store, study)["kind"] == "Study"
    without = parse_spec(AdaptiveSpec, pick.adaptive_doc())
    with pytest.raises(SpecError, match="central_store"):
        check_study_storage(without, study)


@pytest.mark.parametrize("name", ["workspace.yaml", "adaptive.yaml"])
def test_k8s_example_specs_load(name: str) -> None:
    path = EXAMPLES / name
    if name == "workspace.yaml":
        assert load_workspace_spec(path).namespace_for("dev") == "modelops-dev"
    else:
        spec = load_adaptive_spec(path)
        assert study_path(path, spec).name == "study.yaml"
