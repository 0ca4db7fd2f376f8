"""Run records: durable per trial, compacted to Parquet, merged across runners, on local paths and fsspec URLs."""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl
import pytest

from modelops.store.results import RunNotFound, RunStore, list_runs


def _trial(i: int, loss: float | None = 1.0, status: str = "completed") -> tuple[dict, list[dict]]:
    pid = f"{i:064x}"
    row = {
        "param_id": pid,
        "status": status,
        "loss": loss,
        "n_replicates": 2,
        "error": None if status == "completed" else "boom",
        "params_json": f'{{"x": {i}}}',
        "param.x": float(i),
        "loss.a": loss,
    }
    reps = [{"param_id": pid, "replicate": r, "seed": 2**64 - 1 - r, "ok": True, "loss.a": loss} for r in range(2)]
    return row, reps


@pytest.fixture(params=["local", "memory"])
def runs_dir(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # memory:// stands in for an object store: no local paths, no rename, whole-object writes only.
    return str(tmp_path / "runs") if request.param == "local" else f"memory://runs-{uuid.uuid4().hex[:8]}"


def test_each_trial_is_durable_before_compaction_and_compaction_bounds_files(runs_dir: str) -> None:
    store = RunStore(runs_dir, "r")
    journal = store.journal("host-1", compact_every=4)
    for i in range(3):
        journal.append(*_trial(i))
    # Not compacted yet: a reader (or a resumed run after a crash) already sees all three.
    trials, replicates = store.load()
    assert trials["param.x"].to_list() == [0.0, 1.0, 2.0]
    assert trials["trial"].to_list() == [0, 1, 2]
    assert replicates.height == 6 and replicates["seed"].dtype == pl.UInt64
    assert replicates["seed"].max() == 2**64 - 1
    for i in range(3, 10):
        journal.append(*_trial(i, loss=None, status="failed") if i == 5 else _trial(i))
    journal.close()
    assert len(store.fs.glob(store.path("trials/part-*.parquet"))) == 3  # 4 + 4 + 2
    assert store.fs.glob(store.path("pending/*.json")) == []
    trials = store.load_trials()
    assert trials.height == 10 and trials["param_id"].n_unique() == 10
    assert trials.filter(pl.col("status") == "failed")["loss"].to_list() == [None]


def test_a_crash_between_part_write_and_pending_delete_leaves_no_duplicates(runs_dir: str) -> None:
    store = RunStore(runs_dir, "r")
    journal = store.journal("host-1", compact_every=100)
    for i in range(3):
        journal.append(*_trial(i))
    saved = {name: store.read_bytes(name) for name in journal._pending}
    journal.compact()
    # Put the pending files back, as if the process died right after writing the part file.
    for name, data in saved.items():
        store.write_bytes(name, data)
    trials, replicates = store.load()
    assert trials.height == 3 and replicates.height == 6


def test_several_runners_merge_and_are_renumbered_in_tell_order(runs_dir: str) -> None:
    store = RunStore(runs_dir, "r")
    a = store.journal("host-a", compact_every=2)
    b = store.journal("host-b", compact_every=2)
    for i in range(3):
        a.append(*_trial(i))
        b.append(*_trial(100 + i))
    a.close()
    trials = store.load_trials()  # b's rows are still pending files: readers see them too
    assert trials.height == 6
    assert sorted(trials["trial"].to_list()) == list(range(6))  # both started at 0: renumbered by tell time
    assert trials["param_id"].n_unique() == 6


def test_a_truncated_pending_file_is_ignored(runs_dir: str) -> None:
    store = RunStore(runs_dir, "r")
    journal = store.journal("h", compact_every=100)
    journal.append(*_trial(0))
    store.write_bytes("pending/h-000000001.json", b'{"trial": {"param_')  # a write cut short by a crash
    assert store.load_trials().height == 1


def test_consolidate_and_list_runs(runs_dir: str) -> None:
    store = RunStore(runs_dir, "r1")
    store.write_json("manifest.json", {"run_id": "r1", "started_at": "2026-01-01T00:00:00+00:00", "status": "done"})
    journal = store.journal("h")
    journal.append(*_trial(0))
    journal.close()
    trials_url, replicates_url = store.consolidate()
    assert replicates_url.endswith("r1/replicates.parquet")
    assert trials_url.endswith("r1/trials.parquet")
    assert store.fs.exists(store.path("trials.parquet")) and store.fs.exists(store.path("replicates.parquet"))
    other = RunStore(runs_dir, "r2")
    other.write_json("manifest.json", {"run_id": "r2", "started_at": "2026-02-01T00:00:00+00:00"})
    assert [m["run_id"] for m in list_runs(runs_dir)] == ["r2", "r1"]
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        RunStore(runs_dir, "nope").manifest()
