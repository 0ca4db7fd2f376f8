"""Every rendered manifest is valid for the real Kubernetes schemas, strictly (unknown fields fail), 1.29-1.33."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

VERSIONS = ["1.29", "1.30", "1.31", "1.32", "1.33"]


@pytest.mark.parametrize("version", VERSIONS)
def test_k8s_every_manifest_validates_strictly(all_manifests: list[dict], version: str) -> None:
    errors = []
    for manifest in all_manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc}")
    assert not errors, "\n".join(errors)


def test_k8s_validation_catches_a_misspelt_field(all_manifests: list[dict]) -> None:
    # The check above is only worth something if strict validation rejects what a typo would produce.
    deployment = copy.deepcopy(next(m for m in all_manifests if m["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.31", strict=True)
