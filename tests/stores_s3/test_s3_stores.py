"""runs, the simulation cache and bundles on s3:// URLs, against a local S3-compatible server (moto's server mode),
including tamper detection for bundles; and gs:// URL handling when gcsfs is (or is not) installed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from modelops.bundles import IntegrityError, fetch_to_cache, open_repository, parse_ref, push
from modelops.cli.app import app
from modelops.store.cache import SimulationCache

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]
TOY_PROJECT = REPO / "tests" / "runner"  # run_toy_model.py: a noisy line, true slope 2.0


def _fs() -> Any:
    return fsspec.filesystem("s3", skip_instance_cache=True)


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _toy_study(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(10)
    rng = np.random.default_rng(0)
    pl.DataFrame({"t": t, "y": 2.0 * t + 1.0 + rng.normal(0, 0.5, t.size)}).write_csv(folder / "observed.csv")
    spec = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": "toy",
        "model": {"fn_ref": "run_toy_model:simulate", "project": str(TOY_PROJECT)},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0}},
        "targets": [
            {
                "name": "line",
                "output": "line",
                "observed": "observed.csv",
                "keys": ["t"],
                "values": ["y"],
                "loss": "mse",
            }
        ],
        "algorithm": {"ref": "optuna", "sampler": "random", "n_trials": 12, "seed": 3},
        "replicates": 2,
        "execution": {"workers": 0},
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_run_recorded_on_s3_is_listed_shown_and_plotted_from_it(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)  # the journal of a remote run lives in ./.modelops/state
    runs = f"s3://{bucket}/team"
    result = _invoke("run", str(_toy_study(tmp_path / "study")), "--runs-dir", runs, "--run-id", "s3-1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["url"] == f"{runs}/s3-1"
    fs = _fs()
    assert fs.exists(f"{bucket}/team/s3-1/trials.parquet")
    shown = json.loads(_invoke("runs", "show", "s3-1", "--runs-dir", runs, "--json").stdout)
    assert shown["trials"] == 12 and shown["status"] == "completed"
    listed = json.loads(_invoke("runs", "list", "--runs-dir", runs, "--json").stdout)
    assert [r["run_id"] for r in listed] == ["s3-1"]
    assert _invoke("runs", "plot", "s3-1", "--runs-dir", runs).exit_code == 0
    assert fs.exists(f"{bucket}/team/s3-1/plots/best_fit.png")
    # The same study run locally records the same trials: the store changes where, not what.
    local = _invoke(
        "run", str(tmp_path / "study" / "study.yaml"), "--runs-dir", str(tmp_path / "runs"), "--run-id", "l"
    )
    assert local.exit_code == 0, local.output
    remote = pl.read_parquet(fs.cat_file(f"{bucket}/team/s3-1/trials.parquet"))
    here = pl.read_parquet(tmp_path / "runs" / "l" / "trials.parquet")
    timing = {"duration_s", "sim_s", "told_at", "runner"}  # wall-clock times and the recording process
    assert remote.columns == here.columns
    differ = [c for c in here.columns if c not in timing and not remote[c].equals(here[c])]
    assert differ == [], differ


def test_simulation_cache_on_s3_drops_a_corrupt_entry(bucket: str) -> None:
    cache = SimulationCache(f"s3://{bucket}/sims")
    key = cache.key("code", "m:f", "pid", 3)
    assert cache.get(key) is None
    cache.put(key, {"t": b"abc" * 1000})
    assert cache.get(key) == {"t": b"abc" * 1000}
    fs = _fs()
    fs.pipe_file(f"{bucket}/sims/{key[:2]}/{key}.zip", b"broken")
    assert cache.get(key) is None and cache.corrupt_entries == 1
    assert not fs.exists(f"{bucket}/sims/{key[:2]}/{key}.zip")


def _project(root: Path) -> Path:
    (root / "sirmodel").mkdir(parents=True)
    (root / "sirmodel" / "__init__.py").write_text("")
    (root / "sirmodel" / "model.py").write_text("def simulate(params, seed):\n    return {'x': [seed]}\n")
    (root / "data").mkdir()
    (root / "data" / "observed.bin").write_bytes(bytes(range(256)) * 512)
    (root / "data" / "copy.bin").write_bytes(bytes(range(256)) * 512)  # same bytes: stored once
    (root / "README.md").write_text("# SIR\n")
    return root


def _tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def test_bundle_round_trip_on_s3_and_tamper_detection(bucket: str, tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    url = f"s3://{bucket}/team"
    result = push(project, url)
    assert result.ref == f"{url}@{result.digest}"
    assert push(project, url).stats.index_existed  # idempotent
    got = fetch_to_cache(result.ref, cache_dir=tmp_path / "cache")
    assert _tree(got.path) == {f.path: (project / f.path).read_bytes() for f in result.index}
    assert [b.digest for b in open_repository(url).list_bundles()] == [result.digest]

    # Tamper with one stored file, then with the stored index, through the S3 API itself.
    fs = _fs()
    entry = result.index.by_path()["data/observed.bin"]
    fs.pipe_file(f"{bucket}/team/files/sha256/{entry.sha256}", b"\x00" * entry.size)
    with pytest.raises(IntegrityError, match=r"data/(copy|observed)\.bin"):
        fetch_to_cache(result.ref, cache_dir=tmp_path / "cache2")
    assert not (tmp_path / "cache2" / "sha256" / parse_ref(result.ref).hex).exists()
    fs.pipe_file(f"{bucket}/team/indexes/sha256/{parse_ref(result.ref).hex}.json", b'{"format":"x"}')
    with pytest.raises(IntegrityError, match="tampered"):
        fetch_to_cache(result.ref, cache_dir=tmp_path / "cache3")


def test_bundle_cli_push_to_s3_needs_no_storage_options(bucket: str, tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    pushed = _invoke("bundle", "push", str(project), "--to", f"s3://{bucket}/cli", "--json")
    assert pushed.exit_code == 0, pushed.output
    assert _fs().ls(f"{bucket}/cli")


def test_gs_urls_are_understood_and_a_missing_gcsfs_is_explained(tmp_path: Path, monkeypatch) -> None:
    from modelops.bundles.refs import parse_ref as parse
    from modelops.store.urls import FilesystemMissing, check_url, scheme_of

    ref = parse("gs://modelops-dev-alice-bundles-ab12cd34/team@sha256:" + "a" * 64)
    assert ref.repository == "gs://modelops-dev-alice-bundles-ab12cd34/team"
    assert scheme_of("gs://b/x") == "gs" and check_url("s3://b/x") == "s3://b/x"
    # Without gcsfs: one message naming the package and the extra, from the library, `mops runs` and `mops bundle`.
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    with pytest.raises(FilesystemMissing, match=r"gcsfs.*modelops\[gcp\]"):
        SimulationCache("gs://some-bucket/sims")
    listed = _invoke("runs", "list", "--runs-dir", "gs://some-bucket/runs")
    assert listed.exit_code == 2 and "modelops[gcp]" in listed.output, listed.output
    pushed = _invoke("bundle", "push", str(_project(tmp_path / "p")), "--to", "gs://some-bucket/team")
    assert pushed.exit_code != 0 and "modelops[gcp]" in pushed.output, pushed.output
    assert listed.exception is None or isinstance(listed.exception, SystemExit)
    assert pushed.exception is None or isinstance(pushed.exception, SystemExit)


def test_gs_url_opens_a_gcs_filesystem_when_gcsfs_is_installed() -> None:
    pytest.importorskip("gcsfs")
    from modelops.store.urls import url_to_fs

    fs, root = url_to_fs("gs://modelops-dev-alice-results-ab12cd34/runs", token="anon")
    assert "gs" in fs.protocol and root == "modelops-dev-alice-results-ab12cd34/runs"
