"""Round trips through a real OCI registry (the CNCF distribution server, `docker-registry`) on loopback."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import oras.provider
import pytest

from modelops.bundles import (
    IntegrityError,
    RepositoryError,
    ensure_local,
    fetch_to_cache,
    open_repository,
    parse_ref,
    pull,
    push,
)
from modelops.bundles.oci import parse_oci_url
from modelops_testing.real_services import (
    OciRegistry,
    ServiceUnavailable,
    free_port,
    oci_registry_server,
    services_required,
)

pytestmark = pytest.mark.services


def _url(registry: OciRegistry) -> str:
    return f"oci://{registry.host}/modelops/b{uuid.uuid4().hex[:8]}"


def test_oci_round_trip_is_byte_identical_and_deduplicated(project, tmp_path, tree, oci_registry):
    url = _url(oci_registry)
    result = push(project, url)
    assert result.ref == f"{url}@{result.digest}"
    assert (result.stats.uploaded, result.stats.reused) == (6, 1)
    expected = {f.path: (project / f.path).read_bytes() for f in result.index}
    assert tree(ensure_local(result.ref, cache_dir=tmp_path / "cache")) == expected
    pull(result.ref, tmp_path / "pulled")
    assert tree(tmp_path / "pulled") == expected

    assert push(project, url).stats.index_existed
    (project / "sirmodel" / "params.py").write_text("BASE = 0.5\n")
    second = push(project, url)
    assert second.stats.uploaded == 1  # only the changed file: the registry already has the others' blobs
    listed = open_repository(url).list_bundles()
    assert {b.digest for b in listed} == {result.digest, second.digest}
    assert all(b.files == 7 and b.size == result.index.total_size for b in listed)


def test_bundle_is_a_plain_oras_artifact(project, tmp_path, tree, oci_registry):
    """Anyone with oras can inspect a bundle: files are layers titled with their paths, the index is the config."""
    url = _url(oci_registry)
    result = push(project, url)
    host, name, _ = parse_oci_url(url)
    client = oras.provider.Registry(hostname=host, insecure=True)
    target = f"{host}/{name}:sha256-{parse_ref(result.ref).hex}"
    manifest = client.get_manifest(target)
    assert manifest["config"]["digest"] == result.digest  # the config blob IS the index
    client.pull(target=target, outdir=str(tmp_path / "oras"))
    assert tree(tmp_path / "oras") == {f.path: (project / f.path).read_bytes() for f in result.index}


def test_missing_repository_lists_empty_and_unreachable_registry_fails_fast(oci_registry):
    assert open_repository(f"oci://{oci_registry.host}/never/pushed").list_bundles() == []
    with pytest.raises(RepositoryError, match="cannot reach the OCI registry"):
        open_repository(f"oci://127.0.0.1:{free_port()}/x").list_bundles()


def test_oci_url_forms():
    assert parse_oci_url("oci://127.0.0.1:5000/a/b") == ("127.0.0.1:5000", "a/b", True)
    assert parse_oci_url("oci://localhost/a") == ("localhost", "a", True)
    assert parse_oci_url("oci://myacr.azurecr.io/bundles") == ("myacr.azurecr.io", "bundles", False)
    assert parse_oci_url("oci+http://registry.lan:5000/b") == ("registry.lan:5000", "b", True)
    for bad in ("oci://host", "oci:///name", "http://host/name"):
        with pytest.raises(RepositoryError):
            parse_oci_url(bad)


@contextlib.contextmanager
def _registry_with_visible_storage(root: Path) -> Iterator[OciRegistry]:
    """A private registry (not the session's shared one), since the test tampers with its stored blobs."""
    try:
        server = oci_registry_server(root)
        registry = server.__enter__()
    except ServiceUnavailable as exc:
        if services_required():
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    try:
        yield registry
    finally:
        server.__exit__(None, None, None)


def _stored_blob(root: Path, digest: str) -> Path:
    hex_ = digest.split(":")[1]
    return root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hex_[:2] / hex_ / "data"


def test_tampered_registry_blobs_are_caught(project, tmp_path):
    storage = tmp_path / "registry"
    storage.mkdir()
    with _registry_with_visible_storage(storage) as registry:
        result = push(project, _url(registry))
        entry = result.index.by_path()["sirmodel/model.py"]
        blob = _stored_blob(storage, entry.digest)
        original = blob.read_bytes()
        blob.write_bytes(original[:-1] + b"#")  # same size, one byte changed
        with pytest.raises(IntegrityError, match=r"sirmodel/model\.py"):
            fetch_to_cache(result.ref, cache_dir=tmp_path / "cache")
        assert not (tmp_path / "cache" / "sha256" / f"{parse_ref(result.ref).hex}.complete").exists()
        blob.write_bytes(original)

        index_blob = _stored_blob(storage, result.digest)
        raw = index_blob.read_bytes()
        index_blob.write_bytes(raw.replace(b'"size":6', b'"size":7'))
        assert index_blob.read_bytes() != raw
        with pytest.raises(IntegrityError, match="tampered"):
            fetch_to_cache(result.ref, cache_dir=tmp_path / "cache")
        index_blob.write_bytes(raw)
        assert fetch_to_cache(result.ref, cache_dir=tmp_path / "cache").downloaded  # intact again: installs
