"""A local Google Cloud Storage emulator for tests: ``gcp-storage-emulator`` from PyPI (the JSON API gcsfs speaks),
started as its own process on a free loopback port.

    with gcs_emulator() as gcs:
        for key, value in gcs.env().items(): monkeypatch.setenv(key, value)

``env()`` holds what the code under test reads, nothing test-only in its arguments: ``STORAGE_EMULATOR_HOST`` (gcsfs
and google-cloud-storage send requests there), ``FSSPEC_GS_TOKEN=anon`` (fsspec's per-protocol default; the
emulator checks no credentials) and ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` (gcsfs's gRPC bucket-type probe,
which the emulator does not serve, otherwise waits 60 s per bucket before falling back).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelops_testing.real_services import ServiceUnavailable, loopback_process


@dataclass(frozen=True)
class GcsServer:
    endpoint: str

    def env(self) -> dict[str, str]:
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint,
            "FSSPEC_GS_TOKEN": "anon",
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            "GOOGLE_CLOUD_PROJECT": "modelops-test",
        }


def _executable() -> str:
    beside = Path(sys.executable).with_name("gcp-storage-emulator")
    found = str(beside) if beside.exists() else shutil.which("gcp-storage-emulator")
    if not found:
        raise ServiceUnavailable("gcp-storage-emulator is not installed (it is in the dev dependency group)")
    return found


@contextlib.contextmanager
def gcs_emulator() -> Iterator[GcsServer]:
    """Run the emulator (in memory) for the block; ServiceUnavailable if it is missing or does not start."""
    exe = _executable()

    def command(port: int) -> list[str]:
        return [exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "--quiet"]

    with loopback_process(command, "gcp-storage-emulator") as port:
        yield GcsServer(f"http://127.0.0.1:{port}")
