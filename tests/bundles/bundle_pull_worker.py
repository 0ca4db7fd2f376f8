"""A worker process for the bundle cache concurrency tests: pulls one bundle through a deliberately slow
filesystem (so a test can kill it mid-download) and prints what it got as JSON.

usage: python bundle_pull_worker.py REF REPO_DIR CACHE_DIR SECONDS_PER_READ
"""

from __future__ import annotations

import json
import sys
import time

import fsspec
from fsspec.implementations.local import LocalFileSystem

from modelops.bundles import fetch_to_cache


class _SlowReader:
    def __init__(self, fh, delay: float):
        self._fh, self._delay = fh, delay

    def read(self, n: int = -1) -> bytes:
        time.sleep(self._delay)
        return self._fh.read(min(n, 32768) if n and n > 0 else -1)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SlowLocalFileSystem(LocalFileSystem):
    """The local filesystem under the ``slowfile://`` protocol, reading at most 32 KiB per read, slowly."""

    protocol = ("slowfile",)
    delay = 0.1

    def _open(self, path, mode="rb", **kwargs):
        fh = super()._open(path, mode, **kwargs)
        return _SlowReader(fh, self.delay) if "r" in mode else fh


def main() -> None:
    ref, repo_dir, cache_dir, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    SlowLocalFileSystem.delay = delay
    fsspec.register_implementation("slowfile", SlowLocalFileSystem, clobber=True)
    got = fetch_to_cache(ref, repository=f"slowfile://{repo_dir}", cache_dir=cache_dir)
    print(json.dumps({"path": str(got.path), "downloaded": got.downloaded}), flush=True)


if __name__ == "__main__":
    main()
