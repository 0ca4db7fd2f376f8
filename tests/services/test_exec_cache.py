"""The simulation cache: keys, verified reads, atomic writes, corruption recovery, code identity, object stores."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from modelops.services import SimulationGroup, run_group
from modelops.services.ipc import to_ipc
from modelops.store.cache import SimulationCache, code_identity
from modelops_contracts import make_param_id

from .conftest import MODELS_DIR


def test_exec_cache_key_depends_on_every_part() -> None:
    base = SimulationCache.key("code", "m:f", "pid", 1)
    variants = [
        ("code2", "m:f", "pid", 1),
        ("code", "m:g", "pid", 1),
        ("code", "m:f", "pid2", 1),
        ("code", "m:f", "pid", 2),
    ]
    assert len({base, *(SimulationCache.key(*v) for v in variants)}) == 5
    assert SimulationCache.key("code", "m:f", "pid", 1) == base


def test_exec_cache_put_get_roundtrip(tmp_path: Path) -> None:
    import polars as pl

    cache = SimulationCache(str(tmp_path / "c"))
    key = cache.key("code", "m:f", "pid", 7)
    assert cache.get(key) is None and key not in cache
    outputs = to_ipc({"a": pl.DataFrame({"x": [1, 2]}), "b": pl.DataFrame({"y": ["s"]})})
    cache.put(key, outputs)
    assert key in cache and cache.get(key) == outputs
    assert not [p for p in (tmp_path / "c").rglob("*") if p.name.endswith(".tmp")]  # no temporary files left


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other_key"])
def test_exec_cache_corrupt_entries_are_detected_and_removed(tmp_path: Path, damage: str) -> None:
    cache = SimulationCache(str(tmp_path))
    key = cache.key("code", "m:f", "pid", 1)
    payload = {"t": b"\x00" * 1000 + b"payload" * 100}
    cache.put(key, payload)
    path = Path(cache.path(key))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        i = data.index(b"payload") + 3  # inside an output's bytes: CRC and SHA-256 catch it
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a valid entry stored under the wrong name must not be served
        other = cache.key("code", "m:f", "pid", 2)
        cache.put(other, {"t": b"other"})
        path.write_bytes(Path(cache.path(other)).read_bytes())
    assert cache.get(key) is None
    assert cache.corrupt_entries == 1 and not path.exists()


def test_exec_cache_writes_are_atomic_under_concurrent_readers(tmp_path: Path) -> None:
    """Writers keep replacing one entry with 4 MB payloads while readers read it: a reader gets a whole entry
    or nothing, never a partial one (a partial read would count as corrupt)."""
    cache = SimulationCache(str(tmp_path))
    key = cache.key("code", "m:f", "pid", 1)
    versions = [{"t": bytes([v]) * (4 << 20)} for v in range(3)]
    stop = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def writer(n: int) -> None:
        for i in range(12):
            cache.put(key, versions[(n + i) % 3])
        stop.set()

    def reader() -> None:
        while not stop.is_set():
            got = cache.get(key)
            if got is None:
                continue
            if got not in versions:
                problems.append("mixed entry")
            seen.append(got["t"][0])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not problems and cache.corrupt_entries == 0
    assert seen, "readers never saw an entry"


def test_exec_run_group_uses_cache_and_recomputes_corrupt_entries(tmp_path: Path) -> None:
    url = str(tmp_path / "cache")
    params = {"steps": 6, "drift": 0.1}
    g = SimulationGroup(
        "exec_models:walk", params, make_param_id(params), (1, 2, 3), cache_url=url, search_path=(MODELS_DIR,),
        return_outputs=True,
    )  # fmt: skip
    first = run_group(g)
    assert first.ok and first.n_cached == 0
    second = run_group(g)
    assert second.n_cached == 3
    assert [r.outputs for r in second.replicates] == [r.outputs for r in first.replicates]
    # corrupt one entry: it is recomputed (not served), and the fresh result equals the original
    entries = sorted((tmp_path / "cache").rglob("*.zip"))
    assert len(entries) == 3
    entries[0].write_bytes(entries[0].read_bytes()[:-40])
    third = run_group(g)
    assert third.n_cached == 2 and third.ok
    assert [r.outputs for r in third.replicates] == [r.outputs for r in first.replicates]
    assert run_group(g).n_cached == 3


def test_exec_code_identity_follows_source_and_bundle(tmp_path: Path) -> None:
    pkg = f"exec_codeid_{uuid.uuid4().hex[:8]}"
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "sim.py").write_text("def f(p, s):\n    return {}\n")
    (tmp_path / pkg / "helpers.py").write_text("RATE = 1\n")
    ref = f"{pkg}.sim:f"
    first = code_identity(ref, None, [tmp_path])
    assert first == code_identity(ref, None, [tmp_path])
    (tmp_path / pkg / "helpers.py").write_text("RATE = 2\n")  # a sibling module changed: outputs may change
    second = code_identity(ref, None, [tmp_path])
    assert second != first
    digest = "ab" * 32
    assert code_identity(ref, f"registry/models@sha256:{digest}") == f"bundle:sha256:{digest}"
    with pytest.raises(ValueError, match="not content-addressed"):
        code_identity(ref, "registry/models:latest")


def test_exec_code_identity_of_installed_package_uses_version() -> None:
    ident = code_identity("polars:DataFrame", None)
    assert ident.startswith("src:") and ident == code_identity("polars:DataFrame", None)


@pytest.mark.services
def test_exec_cache_on_azure_blob(azurite) -> None:
    import fsspec

    container = f"cache-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("az", **azurite.storage_options())
    fs.mkdir(container)
    cache = SimulationCache(f"az://{container}/sims", azurite.storage_options())
    key = cache.key("code", "m:f", "pid", 3)
    assert cache.get(key) is None
    cache.put(key, {"t": b"abc" * 1000})
    assert cache.get(key) == {"t": b"abc" * 1000}
    fs.pipe_file(f"{container}/sims/{key[:2]}/{key}.zip", b"broken")
    assert cache.get(key) is None and cache.corrupt_entries == 1
    assert not fs.exists(f"{container}/sims/{key[:2]}/{key}.zip")


def test_exec_code_identity_of_single_file_model_covers_its_neighbours(tmp_path: Path) -> None:
    name = f"exec_single_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("def f(p, s):\n    return {}\n")
    (tmp_path / "exec_helpers_for_single.py").write_text("K = 1\n")
    first = code_identity(f"{name}:f", None, [tmp_path])
    (tmp_path / "exec_helpers_for_single.py").write_text("K = 2\n")
    assert code_identity(f"{name}:f", None, [tmp_path]) != first


def test_exec_failing_cache_costs_a_recomputation_not_a_simulation(tmp_path: Path, caplog) -> None:
    params = {"steps": 4}
    cache_url = str(tmp_path / "cache")
    g = SimulationGroup(
        "exec_models:walk", params, make_param_id(params), (1, 2), cache_url=cache_url, search_path=(MODELS_DIR,)
    )
    ident = code_identity(g.fn_ref, None, g.search_path)
    for seed in g.seeds:  # a file where each entry's fan-out directory should be: reads and writes both fail
        key = SimulationCache.key(ident, g.fn_ref, g.param_id, seed)
        (tmp_path / "cache").mkdir(exist_ok=True)
        (tmp_path / "cache" / key[:2]).write_text("in the way")
    with caplog.at_level("WARNING", logger="modelops.services"):
        res = run_group(g)
        assert res.ok and res.n_cached == 0
        # an unusable cache URL (its root is a file) is no worse
        bad = SimulationGroup(**{**g.__dict__, "cache_url": str(tmp_path / "cache" / key[:2] / "sub")})
        assert run_group(bad).ok
    assert "simulating without it" in caplog.text and "cache" in caplog.text


@pytest.mark.services
def test_exec_group_caches_and_writes_outputs_on_azure_blob(azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers take object-store credentials from their environment, never from the task."""
    import fsspec

    from modelops.services.tasks import replicate_output_path
    from modelops.store.cache import unpack_outputs

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    container = f"runs-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("az", **azurite.storage_options())
    fs.mkdir(container)
    params = {"steps": 5, "drift": 0.2}
    g = SimulationGroup(
        "exec_models:walk",
        params,
        make_param_id(params),
        (4, 5),
        cache_url=f"az://{container}/cache",
        outputs_url=f"az://{container}/raw",
        search_path=(MODELS_DIR,),
    )
    first = run_group(g)
    assert first.ok and first.n_cached == 0
    assert run_group(g).n_cached == 2
    path = replicate_output_path(f"{container}/raw", g.param_id, 1)
    outputs, meta = unpack_outputs(fs.cat_file(path))
    assert meta["seed"] == 5 and set(outputs) == {"series", "summary"}
