"""Workers pulling the same bundle at once, one SIGKILLed mid-download: no corrupt bundle is ever used.

Real processes, a real fcntl lock; the repository is read through a slow filesystem so that "mid-download" is a
state the test can observe (a partial directory with files in it, owned by a live process) before it kills.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelops.bundles import fetch_to_cache, parse_ref, push

WORKER = Path(__file__).with_name("bundle_pull_worker.py")


def _start(ref: str, repo: Path, cache: Path, delay: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), ref, str(repo), str(cache), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_partial_with_files(cache: Path, hex_: str, procs: list[subprocess.Popen]) -> int:
    """The pid of the process downloading: its partial directory exists and already holds files."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for partial in (cache / "sha256").glob(f"{hex_}.partial-*"):
            if any(p.is_file() for p in partial.rglob("*")):
                return int(partial.name.split(".partial-")[1].split("-")[0])
        if all(p.poll() is not None for p in procs):
            raise AssertionError("the workers finished before a partial download was seen: " + _report(procs))
        time.sleep(0.02)
    raise AssertionError("no download started within 60 s")


def _report(procs: list[subprocess.Popen]) -> str:
    return "; ".join(f"rc={p.returncode} err={p.stderr.read() if p.stderr else ''}" for p in procs)


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_two_workers_one_killed_mid_download(project, tmp_path, tree):
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    result = push(project, str(repo))
    hex_ = parse_ref(result.ref).hex
    expected = {f.path: (project / f.path).read_bytes() for f in result.index}

    workers = [_start(result.digest, repo, cache, delay=0.15) for _ in range(2)]
    downloading = _wait_for_partial_with_files(cache, hex_, workers)
    victim = next(p for p in workers if p.pid == downloading)
    survivor = next(p for p in workers if p is not victim)
    assert not (cache / "sha256" / f"{hex_}.complete").exists()  # mid-download: nothing marked complete
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    got = _finish(survivor)
    assert got["downloaded"]  # the survivor found no complete bundle and downloaded it itself
    assert tree(Path(got["path"])) == expected
    assert (cache / "sha256" / f"{hex_}.complete").read_bytes() == result.index.to_bytes()
    assert not list((cache / "sha256").glob(f"{hex_}.partial-*"))  # the victim's leftovers were removed


@pytest.mark.slow
def test_concurrent_workers_download_once_and_agree(project, tmp_path, tree):
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    result = push(project, str(repo))
    workers = [_start(result.digest, repo, cache, delay=0.02) for _ in range(3)]
    outputs = [_finish(p) for p in workers]
    assert len({o["path"] for o in outputs}) == 1
    assert sorted(o["downloaded"] for o in outputs) == [False, False, True]
    assert tree(Path(outputs[0]["path"])) == {f.path: (project / f.path).read_bytes() for f in result.index}


@pytest.mark.slow
def test_killed_download_alone_leaves_nothing_usable_and_is_repaired(project, tmp_path, tree):
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    result = push(project, str(repo))
    hex_ = parse_ref(result.ref).hex
    worker = _start(result.digest, repo, cache, delay=0.15)
    _wait_for_partial_with_files(cache, hex_, [worker])
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    assert not (cache / "sha256" / hex_).exists() and not (cache / "sha256" / f"{hex_}.complete").exists()
    assert list((cache / "sha256").glob(f"{hex_}.partial-*"))  # the half download is there, but unused

    again = fetch_to_cache(result.ref, cache_dir=cache)
    assert again.downloaded
    assert tree(again.path) == {f.path: (project / f.path).read_bytes() for f in result.index}
    assert not list((cache / "sha256").glob(f"{hex_}.partial-*"))
