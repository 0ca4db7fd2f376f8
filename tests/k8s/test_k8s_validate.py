"""Every rendered manifest is valid for the real Kubernetes schemas, strictly (unknown fields fail), 1.29-1.33."""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest

VERSIONS = ["1.29", "1.30", "1.31", "1.32", "1.33"]
# kubernetes-validate knows only built-in kinds. The one custom resource the builders emit is checked against the
# openAPIV3Schema of its CRD (secrets-store-csi-driver v1.4, secretproviderclasses.yaml), strictly like the rest.
_SECRET_OBJECT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"key": {"type": "string"}, "objectName": {"type": "string"}},
            },
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "secretName": {"type": "string"},
        "type": {"type": "string"},
    },
}
CRD_SCHEMAS = {
    ("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {
                "type": "object",
                "required": ["name", "namespace"],
                "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}},
            },
            "spec": {
                "type": "object",
                "required": ["provider"],
                "additionalProperties": False,
                "properties": {
                    "provider": {"type": "string"},
                    "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                    "secretObjects": {"type": "array", "items": _SECRET_OBJECT},
                },
            },
        },
    }
}


def validate(manifest: dict, version: str) -> None:
    """kubernetes-validate --strict for built-in kinds; the CRD's own schema for custom resources."""
    schema = CRD_SCHEMAS.get((manifest["apiVersion"], manifest["kind"]))
    if schema is not None:
        try:
            jsonschema.validate(manifest, schema)
        except jsonschema.ValidationError as exc:
            raise kubernetes_validate.ValidationError(exc, version) from None
        return
    kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_k8s_every_manifest_validates_strictly(all_manifests: list[dict], version: str) -> None:
    errors = []
    for manifest in all_manifests:
        try:
            validate(manifest, version)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc}")
    assert not errors, "\n".join(errors)


def test_k8s_crd_validation_catches_a_misspelt_field(all_manifests: list[dict]) -> None:
    spc = copy.deepcopy(next(m for m in all_manifests if m["kind"] == "SecretProviderClass"))
    spc["spec"]["parameter"] = spc["spec"].pop("parameters")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(spc, "1.31")


def test_k8s_validation_catches_a_misspelt_field(all_manifests: list[dict]) -> None:
    # The check above is only worth something if strict validation rejects what a typo would produce.
    deployment = copy.deepcopy(next(m for m in all_manifests if m["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.31", strict=True)


def test_k8s_example_specs_render_valid_manifests() -> None:
    """examples/workspace.yaml and examples/adaptive.yaml, as `render` builds them, validate too."""
    from modelops.core import naming
    from modelops.k8s.adaptive import AdaptivePlan, StudyFiles, build_adaptive, generate_secrets
    from modelops.k8s.workspace import RegistryCredentials, build_workspace
    from modelops.specs.adaptive import check_study_storage, load_adaptive_spec, study_path
    from modelops.specs.workspace import load_workspace_spec
    from modelops_testing.real_services import REPO_ROOT

    creds = RegistryCredentials("ghcr.io", "someone", "token")
    ws = load_workspace_spec(REPO_ROOT / "examples" / "workspace.yaml")
    manifests = build_workspace(ws, ws.namespace_for("dev"), credentials=creds)
    path = REPO_ROOT / "examples" / "adaptive.yaml"
    spec = load_adaptive_spec(path)
    check_study_storage(spec, study_path(path, spec))
    plan = AdaptivePlan.for_run(
        spec, "exp-001", naming.run_slug("exp-001"), naming.run_namespace("exp-001"),
        StudyFiles.from_path(study_path(path, spec)),
    )  # fmt: skip
    base, init, runners = build_adaptive(spec, plan, pg_secrets=generate_secrets(spec), credentials=creds)
    for manifest in manifests + base + init + runners:
        for version in VERSIONS:
            validate(manifest, version)
    study_files = next(m for m in base if m["kind"] == "ConfigMap")["data"]
    assert {"study.yaml", "sir_model.py", "data__observed.csv"} <= set(study_files)
