"""Indexing a project for a bundle: a symlink loop (or any unreadable entry) is one clear error naming the path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelops.bundles.errors import BundleError
from modelops.bundles.scan import scan
from modelops.cli.app import app


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "model.py").write_text("def simulate(p, s):\n    return {}\n")
    return root


def test_a_two_link_loop_names_the_path(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    with pytest.raises(BundleError, match=r"^a is a symlink loop"):
        scan(root)


def test_a_self_loop_deep_in_the_tree_names_the_path(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "sub" / "me").symlink_to("me")
    with pytest.raises(BundleError, match=r"pkg/sub/me is a symlink loop"):
        scan(root)


def test_an_ignored_loop_is_skipped(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "loop").symlink_to("loop")
    (root / ".modelopsignore").write_text("loop\n")
    assert [f.path for f in scan(root).index.files] == [".modelopsignore", "model.py"]


def test_a_directory_that_cannot_be_listed_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    (root / "data").mkdir()
    real_scandir = os.scandir

    def failing(path):  # root can list anything, so the OSError is injected where the kernel would raise it
        if str(path).endswith("data"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", failing)
    with pytest.raises(BundleError, match=r"cannot index data: Permission denied"):
        scan(root)


def test_bundle_push_of_a_loop_is_one_message(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    result = CliRunner().invoke(app, ["bundle", "push", str(root), "--to", str(tmp_path / "repo")])
    assert (result.exit_code == 1 and result.exception is None) or isinstance(result.exception, SystemExit)
    assert "a is a symlink loop" in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1
