"""Bundle identity: what a directory's index holds, that it is deterministic, and that it is strictly parsed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops.bundles import (
    BundleIndex,
    FileEntry,
    IntegrityError,
    RefError,
    UnsafePathError,
    diff_indexes,
    digest_of,
    looks_like_ref,
    parse_ref,
    scan,
)
from modelops.bundles.index import check_relpath

HEX = "ab" * 32


def test_index_lists_every_unignored_file_with_digest_and_size(project, expected_files):
    scanned = scan(project)
    assert [f.path for f in scanned.index] == expected_files
    model = scanned.index.by_path()["sirmodel/model.py"]
    data = (project / "sirmodel" / "model.py").read_bytes()
    assert model.sha256 == hashlib.sha256(data).hexdigest() and model.size == len(data)
    assert scanned.sources["data/copy.bin"] == project / "data" / "copy.bin"


def test_digest_is_the_sha256_of_canonical_index_bytes(project):
    index = scan(project).index
    raw = index.to_bytes()
    assert index.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    doc = json.loads(raw)
    assert doc["format"] == "modelops.bundle/v1"
    assert raw == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()  # canonical form
    assert BundleIndex.from_bytes(raw) == index


def test_same_tree_gives_same_digest_wherever_and_however_it_was_made(project, tmp_path):
    copy = tmp_path / "elsewhere" / "other-name"
    shutil.copytree(project, copy)
    # Different creation order and timestamps must not matter.
    os.utime(copy / "README.md", (1, 1))
    (copy / "data" / "observed.bin").unlink()
    (copy / "data" / "observed.bin").write_bytes((project / "data" / "observed.bin").read_bytes())
    assert scan(copy).digest == scan(project).digest


def test_any_changed_byte_gives_another_digest(project):
    before = scan(project).digest
    blob = bytearray((project / "data" / "observed.bin").read_bytes())
    blob[70_000] ^= 0x01
    (project / "data" / "observed.bin").write_bytes(bytes(blob))
    changed = scan(project).digest
    assert changed != before
    (project / "README.md").rename(project / "README.txt")  # a rename alone changes the bundle too
    assert scan(project).digest not in (before, changed)


def test_ignore_rules_nested_negated_and_modelopsignore(project):
    (project / "data" / ".gitignore").write_text("*.bin\n!observed.bin\n")
    (project / ".modelopsignore").write_text("README.md\nnotes/\n")
    (project / "notes").mkdir()
    (project / "notes" / "todo.txt").write_text("x")
    (project / "keep.log").write_text("y")
    (project / ".modelopsignore").write_text("README.md\nnotes/\n!keep.log\n")
    paths = [f.path for f in scan(project).index]
    assert "data/observed.bin" in paths and "data/copy.bin" not in paths  # nested .gitignore, negation
    assert "README.md" not in paths and not any(p.startswith("notes/") for p in paths)
    assert "keep.log" in paths  # .modelopsignore wins over .gitignore
    assert "run.log" not in paths and ".modelopsignore" in paths and "data/.gitignore" in paths


def test_an_ignored_directory_cannot_be_reincluded(project):
    (project / ".modelopsignore").write_text("!outputs/big.parquet\n")
    assert "outputs/big.parquet" not in [f.path for f in scan(project).index]


def test_symlink_inside_the_project_is_followed(project):
    (project / "current.bin").symlink_to("data/observed.bin")
    (project / "alias").symlink_to("sirmodel", target_is_directory=True)
    index = scan(project).index.by_path()
    assert index["current.bin"].sha256 == index["data/observed.bin"].sha256
    assert "alias/model.py" in index


def test_symlink_loop_inside_the_project_terminates(project):
    (project / "sirmodel" / "loop").symlink_to("..", target_is_directory=True)
    paths = [f.path for f in scan(project).index]
    assert "sirmodel/model.py" in paths


def test_symlink_out_of_the_project_is_rejected_unless_ignored(project, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the model")
    (project / "leak.txt").symlink_to(outside)
    with pytest.raises(UnsafePathError, match=r"leak\.txt is a symlink .* outside the project"):
        scan(project)
    (project / ".modelopsignore").write_text("leak.txt\n")
    assert "leak.txt" not in [f.path for f in scan(project).index]


def test_dangling_symlink_is_rejected(project):
    (project / "gone").symlink_to(project / "does-not-exist")
    with pytest.raises(UnsafePathError, match="dangling"):
        scan(project)


@pytest.mark.parametrize(
    "bad", ["/etc/passwd", "../escape", "a/../../b", "a//b", "a/", "./a", "a\\b", "", "a/./b", "x\x00y"]
)
def test_unsafe_paths_are_rejected(bad):
    with pytest.raises(UnsafePathError):
        check_relpath(bad)


@pytest.mark.parametrize("bad", ["../escape", "/abs/path"])
def test_index_from_a_repository_with_escaping_path_is_rejected(bad):
    raw = json.dumps(
        {"format": "modelops.bundle/v1", "files": [{"path": bad, "sha256": HEX, "size": 1}]}, sort_keys=True
    ).encode()
    with pytest.raises(UnsafePathError):
        BundleIndex.from_bytes(raw)


@pytest.mark.parametrize(
    "files, message",
    [
        ([{"path": "a", "sha256": HEX, "size": 1}] * 2, "twice"),
        ([{"path": "a", "sha256": HEX, "size": 1}, {"path": "a/b", "sha256": HEX, "size": 1}], "both as a file"),
        ([{"path": "a", "sha256": "XYZ", "size": 1}], "64 lowercase hex"),
        ([{"path": "a", "sha256": HEX, "size": -1}], "non-negative"),
        ([{"path": "a", "sha256": HEX}], "exactly path, sha256 and size"),
    ],
)
def test_malformed_indexes_are_rejected(files, message):
    raw = json.dumps({"format": "modelops.bundle/v1", "files": files}).encode()
    with pytest.raises(IntegrityError, match=message):
        BundleIndex.from_bytes(raw)


def test_not_json_is_an_integrity_error():
    with pytest.raises(IntegrityError, match="not valid JSON"):
        BundleIndex.from_bytes(b"\xff\x00garbage")


def test_parse_ref_forms():
    digest = f"sha256:{HEX}"
    assert parse_ref(digest).repository is None and parse_ref(digest).digest == digest
    ref = parse_ref(f"az://bundles/team@{digest}")
    assert (ref.repository, ref.digest, ref.hex) == ("az://bundles/team", digest, HEX)
    assert parse_ref(f"oci://user@host:5000/b@{digest}").repository == "oci://user@host:5000/b"
    assert digest_of(f"/srv/repo@{digest}") == digest
    assert str(parse_ref(f"/srv/repo@{digest}")) == f"/srv/repo@{digest}"
    for bad in ["", "sha256:abc", f"sha256:{HEX.upper()}", f"md5:{HEX}", f"@{digest}", "./my-project"]:
        assert not looks_like_ref(bad)
        with pytest.raises(RefError):
            parse_ref(bad)


def test_diff_indexes():
    old = BundleIndex.of([FileEntry("a", HEX, 1), FileEntry("b", HEX, 1), FileEntry("c", HEX, 1)])
    new = BundleIndex.of([FileEntry("a", HEX, 1), FileEntry("b", "cd" * 32, 1), FileEntry("d", HEX, 1)])
    d = diff_indexes(old, new)
    assert (d.added, d.removed, d.modified, d.unchanged) == (("d",), ("c",), ("b",), False)
    assert diff_indexes(old, old).unchanged


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6}){0,2}", fullmatch=True),
        st.tuples(st.binary(max_size=8), st.integers(0, 100)),
        min_size=1,
        max_size=8,
    )
)
def test_index_bytes_round_trip_and_ignore_input_order(files):
    # Drop entries that would be both a file and a directory.
    names = sorted(files)
    names = [n for n in names if not any(m.startswith(n + "/") for m in names)]
    entries = [FileEntry(n, hashlib.sha256(files[n][0]).hexdigest(), files[n][1]) for n in names]
    forward, backward = BundleIndex.of(entries), BundleIndex.of(reversed(entries))
    assert forward.to_bytes() == backward.to_bytes()
    assert BundleIndex.from_bytes(forward.to_bytes()) == forward


def test_scan_of_a_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "f").write_text("x")
    from modelops.bundles import BundleError

    with pytest.raises(BundleError, match="not a directory"):
        scan(tmp_path / "f")
