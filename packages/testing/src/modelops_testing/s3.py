"""A local S3-compatible server for tests: moto's server mode (``moto[server]`` from PyPI), started as its own
process on a free loopback port.

    with moto_s3_server() as s3:
        monkeypatch.setenv(...)  # or: for k, v in s3.env().items(): ...
        fs = fsspec.filesystem("s3", **s3.storage_options())

The variables in ``env()`` are the standard ones botocore/s3fs read (``AWS_ENDPOINT_URL`` included), so code under
test reaches the server exactly as it would reach AWS, with no test-only parameters. The keys are moto's dummies.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from modelops_testing.real_services import ServiceUnavailable, loopback_process

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def storage_options(self) -> dict[str, object]:
        return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": self.endpoint}}


@contextlib.contextmanager
def moto_s3_server() -> Iterator[S3Server]:
    """Run ``python -m moto.server`` for the block; ServiceUnavailable if moto is not installed or does not start."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("s3fs") is None:
        raise ServiceUnavailable("moto[server] and s3fs are not installed (dev group; aws extra: uv sync --extra aws)")

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]

    with loopback_process(command, "moto server") as port:
        yield S3Server(f"http://127.0.0.1:{port}")
