"""The AWS and GCP provider configs: the examples load, defaults are what the docs say, and every bad value is an
error naming the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelops.specs.base import SpecError
from modelops.specs.provider import load_provider, parse_provider
from modelops.specs.provider_clouds import AwsProviderSpec, GcpProviderSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "providers"


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_provider(data)
    return dict(info.value.problems)


def test_examples_load_with_the_documented_values() -> None:
    aws = load_provider(EXAMPLES / "aws.yaml")
    assert isinstance(aws, AwsProviderSpec) and aws.region == "us-east-1" and aws.eks.version == "1.33"
    assert (aws.eks.workload_pool.min, aws.eks.workload_pool.max) == (0, 5) and aws.ecr.tag_mutability == "IMMUTABLE"
    assert aws.vpc.id is None and aws.auth.profile is None
    gcp = load_provider(EXAMPLES / "gcp.yaml")
    assert isinstance(gcp, GcpProviderSpec) and gcp.project == "my-modelops-project" and gcp.zone is None
    assert gcp.gke.workload_pool.machine_type == "e2-standard-4" and gcp.labels == {"cost-center": "research"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def test_every_example_key_is_commented() -> None:
    """Each top-level key and each key of a section says what it is: on its own line or, for the fields of a small
    block (e.g. a pool's instance_type/count), on the block's header line."""
    for name in ("aws.yaml", "gcp.yaml"):
        lines = (EXAMPLES / name).read_text().splitlines()
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
                continue
            parents = [
                p for p in lines[:i] if p.strip() and not p.strip().startswith("#") and _indent(p) < _indent(line)
            ]
            header = parents[-1] if parents else ""
            assert "#" in line or (_indent(line) > 0 and "#" in header), f"{name}:{i + 1} has no comment: {line}"


AWS = {"provider": "aws", "region": "us-east-1"}
GCP = {"provider": "gcp", "project": "my-proj-123", "region": "europe-west4"}


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({**AWS, "region": "US East"}, "region", "us-east-1"),
        ({**AWS, "account_id": 1234}, "account_id", "12-digit"),
        ({**AWS, "eks": {"version": "1.33.2"}}, "eks.version", "major.minor"),
        (
            {**AWS, "eks": {"workload_pool": {"instance_type": "Standard_D4s_v5"}}},
            "eks.workload_pool.instance_type",
            "m6i.xlarge",
        ),
        ({**AWS, "eks": {"workload_pool": {"min": 3, "max": 1}}}, "eks.workload_pool", "min <= max"),
        ({**AWS, "eks": {"labels": {"modelops.io/role": "x"}}}, "eks.labels", "set by ModelOps"),
        ({**AWS, "eks": {"taints": ["gpu"]}}, "eks.taints", "key=value:Effect"),
        ({**AWS, "eks": {"name": "-bad"}}, "eks.name", "EKS name"),
        ({**AWS, "vpc": {"id": "vpc-0123456789abcdef0"}}, "vpc", "subnet_ids"),
        ({**AWS, "vpc": {"subnet_ids": ["subnet-0123456789abcdef0"]}}, "vpc", "set vpc.id"),
        ({**AWS, "ecr": {"repositories": ["Bad Name"]}}, "ecr.repositories", "lowercase"),
        ({**AWS, "storage": {"namespaces": ["Not_A_Namespace"]}}, "storage.namespaces", "namespace"),
        ({**AWS, "auth": {"secret_access_key": "x"}}, "auth.secret_access_key", "unknown key"),
        ({**GCP, "project": "X"}, "project", "gcloud projects list"),
        ({**GCP, "region": "Europe West"}, "region", "europe-west4"),
        ({**GCP, "zone": "us-central1-a"}, "", "zone of region europe-west4"),
        ({**GCP, "gke": {"version": "latest"}}, "gke.version", "get-server-config"),
        (
            {**GCP, "gke": {"workload_pool": {"machine_type": "m6i.xlarge"}}},
            "gke.workload_pool.machine_type",
            "e2-standard-4",
        ),
        ({**GCP, "gke": {"name": "a" * 41}}, "gke.name", "1-40"),
        ({**GCP, "network": {"cidr": "ten"}}, "network", "CIDR"),
        ({**GCP, "labels": {"Team": "Epi"}}, "labels", "lowercase"),
        ({**GCP, "artifact_registry": {"name": "Has_Underscore"}}, "artifact_registry.name", "1-63"),
    ],
)
def test_errors_name_the_field_and_the_fix(data: dict[str, Any], field: str, words: str) -> None:
    found = problems(data)
    key = field if field else next(iter(found))
    assert key in found, found
    assert words in found[key], found[key]
