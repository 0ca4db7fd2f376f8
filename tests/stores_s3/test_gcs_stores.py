"""runs, the simulation cache and bundles on gs:// URLs against a local GCS emulator (gcp-storage-emulator from PyPI,
the JSON API gcsfs speaks), including tamper detection for bundles. Credentials and the endpoint reach the code
only through environment variables (STORAGE_EMULATOR_HOST, fsspec's FSSPEC_GS_TOKEN)."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelops_testing.gcs import GcsServer, gcs_emulator
from modelops_testing.real_services import ServiceUnavailable, services_required

pytestmark = pytest.mark.services
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the S3 module's study and project builders are reused as they are
from test_s3_stores import _invoke, _project, _toy_study, _tree  # noqa: E402


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[GcsServer]:
    pytest.importorskip("gcsfs")
    try:
        with gcs_emulator() as server:
            yield server
    except ServiceUnavailable as exc:
        if services_required():
            pytest.fail(f"required service unavailable: {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def bucket(gcs_server: GcsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import copy
    import os

    import fsspec.config
    import gcsfs

    saved = copy.deepcopy(fsspec.config.conf)
    for key, value in gcs_server.env().items():
        monkeypatch.setenv(key, value)
    # gcsfs picks its filesystem class, and fsspec its per-protocol defaults, from the environment: apply them now.
    importlib.reload(gcsfs)
    fsspec.config.set_conf_env(fsspec.config.conf)
    name = f"mops-{uuid.uuid4().hex[:12]}"
    _fs().mkdir(name)
    yield name
    # Leave no emulator settings behind for later tests (fsspec's config and gcsfs's class are process-wide).
    fsspec.config.conf.clear()
    fsspec.config.conf.update(saved)
    os.environ.pop("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", None)
    importlib.reload(gcsfs)


def _fs() -> Any:
    import fsspec

    return fsspec.filesystem("gs", skip_instance_cache=True)


def test_a_run_recorded_on_gcs_is_listed_and_shown_from_it(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    runs = f"gs://{bucket}/team"
    result = _invoke("run", str(_toy_study(tmp_path / "study")), "--runs-dir", runs, "--run-id", "gs-1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["url"] == f"{runs}/gs-1"
    assert _fs().exists(f"{bucket}/team/gs-1/trials.parquet")
    shown = json.loads(_invoke("runs", "show", "gs-1", "--runs-dir", runs, "--json").stdout)
    assert shown["trials"] == 12 and shown["status"] == "completed"
    listed = json.loads(_invoke("runs", "list", "--runs-dir", runs, "--json").stdout)
    assert [r["run_id"] for r in listed] == ["gs-1"]


def test_simulation_cache_on_gcs_drops_a_corrupt_entry(bucket: str) -> None:
    from modelops.store.cache import SimulationCache

    cache = SimulationCache(f"gs://{bucket}/sims")
    key = cache.key("code", "m:f", "pid", 3)
    assert cache.get(key) is None
    cache.put(key, {"t": b"abc" * 1000})
    assert cache.get(key) == {"t": b"abc" * 1000}
    _fs().pipe_file(f"{bucket}/sims/{key[:2]}/{key}.zip", b"broken")
    assert cache.get(key) is None and cache.corrupt_entries == 1


def test_bundle_round_trip_on_gcs_and_tamper_detection(bucket: str, tmp_path: Path) -> None:
    from modelops.bundles import IntegrityError, fetch_to_cache, parse_ref, push

    project = _project(tmp_path / "project")
    url = f"gs://{bucket}/team"
    result = push(project, url)
    got = fetch_to_cache(result.ref, cache_dir=tmp_path / "cache")
    assert _tree(got.path) == {f.path: (project / f.path).read_bytes() for f in result.index}
    entry = result.index.by_path()["data/observed.bin"]
    _fs().pipe_file(f"{bucket}/team/files/sha256/{entry.sha256}", b"\x00" * entry.size)
    with pytest.raises(IntegrityError, match=r"data/(copy|observed)\.bin"):
        fetch_to_cache(result.ref, cache_dir=tmp_path / "cache2")
    _fs().pipe_file(f"{bucket}/team/indexes/sha256/{parse_ref(result.ref).hex}.json", b'{"format":"x"}')
    with pytest.raises(IntegrityError, match="tampered"):
        fetch_to_cache(result.ref, cache_dir=tmp_path / "cache3")
