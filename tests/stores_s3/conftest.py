"""A local S3-compatible server (moto's server mode) for the s3:// round trips; credentials and the endpoint reach
the code under test only through the standard AWS environment variables, as they would on EKS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from modelops_testing.real_services import ServiceUnavailable, services_required
from modelops_testing.s3 import S3Server, moto_s3_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    try:
        with moto_s3_server() as server:
            yield server
    except ServiceUnavailable as exc:
        if services_required():
            pytest.fail(f"required service unavailable (MODELOPS_REQUIRE_SERVICES is set): {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """The server, with this test's environment pointing botocore/s3fs at it (and nowhere else)."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()  # a cached filesystem would keep another test's settings
    yield s3_server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A new, empty bucket on the server."""
    import fsspec

    name = f"mops-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(name)
    return name
