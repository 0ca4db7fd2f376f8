"""A study run from a bundle: `mops run` pushes the project directory and the simulations run from its ref."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelops.runner import RunOptions, run_study
from modelops.store.results import RunStore


def test_a_study_with_a_bundle_directory_is_pushed_and_run_from_its_ref(
    toy_study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "project"
    code.mkdir()
    # A model module under a name no other test imports, outside every search path: only the bundle provides it.
    source = (Path(__file__).parent / "run_toy_model.py").read_text()
    (code / "run_bundled_model.py").write_text(source)
    monkeypatch.setenv("MODELOPS_BUNDLE_REPOSITORY", str(tmp_path / "bundles"))
    monkeypatch.setenv("MODELOPS_BUNDLE_CACHE", str(tmp_path / "bundle-cache"))
    spec = toy_study(model={"fn_ref": "run_bundled_model:simulate"}, bundle=str(code))
    summary = run_study(spec, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="b1"))
    assert summary.status == "completed" and summary.completed == 12
    manifest = RunStore(str(tmp_path / "runs"), "b1").manifest()
    ref = manifest["bundle_ref"]
    assert ref and "@sha256:" in ref and ref.startswith(str(tmp_path / "bundles"))
    assert manifest["code_digest"].endswith(ref.split("sha256:")[1])  # the cache key follows the bundle digest
    # The simulations imported the model from the fetched bundle, not from the project directory.
    assert any((tmp_path / "bundle-cache").rglob("run_bundled_model.py"))
    # Given the ref itself, with the project gone and the local bundle cache empty, the same study runs the same.
    shutil.rmtree(code)
    shutil.rmtree(tmp_path / "bundle-cache")
    by_ref = toy_study(model={"fn_ref": "run_bundled_model:simulate"}, bundle=ref)
    again = run_study(by_ref, RunOptions(runs_dir=str(tmp_path / "runs"), run_id="b2"))
    assert again.status == "completed"
    first = RunStore(str(tmp_path / "runs"), "b1").load_trials().select("param_id", "loss")
    second = RunStore(str(tmp_path / "runs"), "b2").load_trials().select("param_id", "loss")
    assert first.equals(second)
