"""Round trips through object-store repositories (a local directory and Azurite), with tamper detection."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import fsspec
import pytest

from modelops.bundles import (
    IntegrityError,
    NotFoundError,
    UnsafePathError,
    ensure_local,
    ensure_pushed,
    fetch_to_cache,
    open_repository,
    parse_ref,
    pull,
    push,
    scan,
)
from modelops.bundles.ops import resolve_index


def _no_bundle_left(cache: Path, digest: str) -> bool:
    hex_ = digest.split(":")[1]
    base = cache / "sha256"
    return (
        not (base / hex_).exists()
        and not (base / f"{hex_}.complete").exists()
        and not list(base.glob(f"{hex_}.partial-*"))
    )


def test_local_round_trip_is_byte_identical(project, tmp_path, tree):
    repo = tmp_path / "repo"
    result = push(project, str(repo))
    assert result.ref == f"{repo.resolve()}@{scan(project).digest}"
    assert result.stats.uploaded == 6 and result.stats.reused == 1  # copy.bin has observed.bin's bytes
    local = ensure_local(result.ref, cache_dir=tmp_path / "cache")
    expected = {f.path: (project / f.path).read_bytes() for f in result.index}
    assert tree(local) == expected
    pull(result.ref, tmp_path / "pulled")
    assert tree(tmp_path / "pulled") == expected
    assert not os.access(local / "README.md", os.W_OK) or os.geteuid() == 0  # the shared cache is read-only
    assert (local / "README.md").stat().st_mode & 0o222 == 0
    assert (tmp_path / "pulled" / "README.md").stat().st_mode & 0o200  # a --dest copy is a working copy


def test_push_is_idempotent_and_deduplicates_across_bundles(project, tmp_path):
    repo = str(tmp_path / "repo")
    first = push(project, repo)
    again = push(project, repo)
    assert again.ref == first.ref and again.stats.index_existed and again.stats.uploaded == 0
    (project / "sirmodel" / "params.py").write_text("BASE = 0.4\n")
    second = push(project, repo)
    assert second.digest != first.digest
    assert (second.stats.uploaded, second.stats.bytes_uploaded) == (1, len("BASE = 0.4\n"))
    stored = list((tmp_path / "repo" / "files" / "sha256").iterdir())
    assert len(stored) == 7  # 6 distinct files + the new params.py
    listed = open_repository(repo).list_bundles()
    assert {b.digest for b in listed} == {first.digest, second.digest}
    assert all(b.files == 7 and b.source == "sir-project" for b in listed)


def test_tampered_file_is_caught_and_nothing_is_installed(project, tmp_path):
    result = push(project, str(tmp_path / "repo"))
    entry = result.index.by_path()["sirmodel/model.py"]
    blob = tmp_path / "repo" / "files" / "sha256" / entry.sha256
    blob.write_bytes(blob.read_bytes().replace(b"round(", b"int(round("))
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match=r"sirmodel/model\.py.*does not match its index"):
        ensure_local(result.ref, cache_dir=cache)
    assert _no_bundle_left(cache, result.digest)
    with pytest.raises(IntegrityError):
        pull(result.ref, tmp_path / "pulled")
    assert not (tmp_path / "pulled").exists() and not list(tmp_path.glob(".pulled.partial-*"))


def test_tampered_index_is_caught(project, tmp_path):
    result = push(project, str(tmp_path / "repo"))
    stored = tmp_path / "repo" / "indexes" / "sha256" / f"{parse_ref(result.ref).hex}.json"
    doc = json.loads(stored.read_bytes())
    doc["files"] = [f for f in doc["files"] if f["path"] != "README.md"]  # a consistent index, but not THE index
    stored.write_bytes(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match=r"index .* tampered"):
        ensure_local(result.ref, cache_dir=cache)
    assert _no_bundle_left(cache, result.digest)


def test_index_with_escaping_path_never_writes_outside(tmp_path):
    # A hostile repository can publish an index whose digest matches its (malicious) bytes.
    payload = b"owned"
    sha = hashlib.sha256(payload).hexdigest()
    raw = json.dumps(
        {"format": "modelops.bundle/v1", "files": [{"path": "../../escaped.txt", "sha256": sha, "size": 5}]},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    digest = hashlib.sha256(raw).hexdigest()
    repo = tmp_path / "repo"
    (repo / "indexes" / "sha256").mkdir(parents=True)
    (repo / "files" / "sha256").mkdir(parents=True)
    (repo / "indexes" / "sha256" / f"{digest}.json").write_bytes(raw)
    (repo / "files" / "sha256" / sha).write_bytes(payload)
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(UnsafePathError):
        ensure_local(f"{repo}@sha256:{digest}", cache_dir=cache)
    assert not list(tmp_path.rglob("escaped.txt"))


def test_cache_hit_needs_no_repository_and_marker_holds_the_index(project, tmp_path):
    result = push(project, str(tmp_path / "repo"))
    cache = tmp_path / "cache"
    first = fetch_to_cache(result.ref, cache_dir=cache)
    assert first.downloaded
    (tmp_path / "repo").rename(tmp_path / "repo-gone")
    second = fetch_to_cache(result.digest, cache_dir=cache)  # bare digest, repository unreachable
    assert second.path == first.path and not second.downloaded
    assert resolve_index(result.digest, cache_dir=cache) == result.index


def test_leftover_tree_without_marker_is_replaced(project, tmp_path, tree):
    result = push(project, str(tmp_path / "repo"))
    cache = tmp_path / "cache"
    path = ensure_local(result.ref, cache_dir=cache)
    # Simulate a worker killed after the rename but before the marker: same tree, a file half-written.
    (cache / "sha256" / f"{parse_ref(result.ref).hex}.complete").unlink()
    (path / "README.md").chmod(0o644)
    (path / "README.md").write_text("half")
    again = fetch_to_cache(result.ref, cache_dir=cache)
    assert again.downloaded and tree(again.path)["README.md"] == b"# SIR\n"


def test_missing_bundle_and_env_default(project, tmp_path, monkeypatch):
    repo = str(tmp_path / "repo")
    digest = push(project, repo).digest
    monkeypatch.setenv("MODELOPS_BUNDLE_REPOSITORY", repo)
    assert ensure_local(digest, cache_dir=tmp_path / "cache").is_dir()  # repository from the environment
    with pytest.raises(NotFoundError, match="not in repository"):
        ensure_local("sha256:" + "0" * 64, cache_dir=tmp_path / "cache")


def test_ensure_pushed_pushes_only_when_changed(project, tmp_path):
    repo = str(tmp_path / "repo")
    ref = ensure_pushed(str(project), repo)
    index_file = next((tmp_path / "repo" / "indexes" / "sha256").iterdir())
    mtime = index_file.stat().st_mtime_ns
    assert ensure_pushed(str(project), repo) == ref
    assert index_file.stat().st_mtime_ns == mtime  # nothing rewritten
    (project / "README.md").write_text("# SIR v2\n")
    newer = ensure_pushed(str(project), repo)
    assert newer != ref and parse_ref(newer).repository == str((tmp_path / "repo").resolve())
    # A ref passes through, qualified with the repository when it names none.
    digest = parse_ref(ref).digest
    assert ensure_pushed(digest, repo) == ref
    assert ensure_pushed(ref, None) == ref


@pytest.mark.services
def test_azurite_round_trip_and_tamper(project, tmp_path, tree, azurite):
    container = f"bundles-{uuid.uuid4().hex[:8]}"
    url = f"az://{container}/team"
    options = azurite.storage_options()
    result = push(project, url, storage_options=options)
    assert result.ref == f"{url}@{result.digest}" and result.stats.uploaded == 6
    assert push(project, url, storage_options=options).stats.index_existed
    cache = tmp_path / "cache"
    got = fetch_to_cache(result.ref, cache_dir=cache, storage_options=options)
    assert tree(got.path) == {f.path: (project / f.path).read_bytes() for f in result.index}
    listed = open_repository(url, storage_options=options).list_bundles()
    assert [b.digest for b in listed] == [result.digest]

    # Tamper with one stored file and the stored index, through the Azure Blob API itself.
    fs = fsspec.filesystem("az", **options)
    entry = result.index.by_path()["data/observed.bin"]
    fs.pipe_file(f"{container}/team/files/sha256/{entry.sha256}", b"\x00" * entry.size)
    with pytest.raises(IntegrityError, match=r"data/(copy|observed)\.bin"):
        fetch_to_cache(result.ref, cache_dir=tmp_path / "cache2", storage_options=options)
    assert _no_bundle_left(tmp_path / "cache2", result.digest)
    fs.pipe_file(f"{container}/team/indexes/sha256/{parse_ref(result.ref).hex}.json", b'{"format":"x"}')
    with pytest.raises(IntegrityError, match="tampered"):
        fetch_to_cache(result.ref, cache_dir=tmp_path / "cache3", storage_options=options)


def test_falls_back_across_repositories_but_never_past_tampering(project, tmp_path, monkeypatch):
    good = tmp_path / "good"
    result = push(project, str(good))
    moved_ref = f"{tmp_path / 'moved-away'}@{result.digest}"  # the ref names a repository that is gone
    monkeypatch.setenv("MODELOPS_BUNDLE_REPOSITORY", str(good))
    assert fetch_to_cache(moved_ref, cache_dir=tmp_path / "c1").downloaded

    bad = tmp_path / "bad"
    push(project, str(bad))
    stored = bad / "indexes" / "sha256" / f"{parse_ref(result.ref).hex}.json"
    stored.write_bytes(stored.read_bytes().replace(b"README.md", b"READYOU.md"))
    with pytest.raises(IntegrityError):  # the good repository comes later, but tampering stops the search
        fetch_to_cache(f"{bad}@{result.digest}", cache_dir=tmp_path / "c2")
    monkeypatch.delenv("MODELOPS_BUNDLE_REPOSITORY")
    with pytest.raises(NotFoundError, match="none of 2 repositories"):
        fetch_to_cache(moved_ref, repository=str(tmp_path / "also-gone"), cache_dir=tmp_path / "c3")
