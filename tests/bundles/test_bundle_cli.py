"""`mops bundle push|pull|ls|diff` through the real CLI application."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from modelops.bundles import parse_ref, scan
from modelops.cli.app import app


@pytest.fixture
def mops(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_BUNDLE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MODELOPS_BUNDLE_REPOSITORY", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output + result.stderr
        return result

    return run


def test_push_prints_only_the_ref_then_pull_ls_diff(project, tmp_path, tree, mops):
    repo = str(tmp_path / "repo")
    ref = mops("bundle", "push", str(project), "--to", repo).stdout.strip()
    assert parse_ref(ref).digest == scan(project).digest and parse_ref(ref).repository == repo

    again = json.loads(mops("bundle", "push", str(project), "--to", repo, "--json").stdout)
    assert again["ref"] == ref and again["already_present"] and again["uploaded"] == 0

    path = mops("bundle", "pull", ref).stdout.strip()
    assert path.startswith(str(tmp_path / "cache"))
    expected = {f.path: (project / f.path).read_bytes() for f in scan(project).index}
    from pathlib import Path

    assert tree(Path(path)) == expected
    pulled = json.loads(mops("bundle", "pull", ref, "--json").stdout)
    assert pulled == {"path": path, "digest": parse_ref(ref).digest, "files": len(expected), "downloaded": False}
    mops("bundle", "pull", ref, "--dest", str(tmp_path / "copy"))
    assert tree(tmp_path / "copy") == expected

    listed = json.loads(mops("bundle", "ls", repo, "--json").stdout)
    assert [b["ref"] for b in listed] == [ref] and listed[0]["files"] == len(expected)
    assert "sir-project" in mops("bundle", "ls", repo).stdout

    same = json.loads(mops("bundle", "diff", ref, str(project), "--json").stdout)
    assert same["unchanged"] and same["directory_digest"] == parse_ref(ref).digest
    (project / "sirmodel" / "params.py").write_text("BASE = 0.9\n")
    (project / "new.py").write_text("x = 1\n")
    (project / "README.md").unlink()
    changed = mops("bundle", "diff", ref, str(project), "--exit-code", code=1).stdout
    assert "+ new.py" in changed and "- README.md" in changed and "M sirmodel/params.py" in changed


def test_repository_from_environment(project, tmp_path, mops, monkeypatch):
    monkeypatch.setenv("MODELOPS_BUNDLE_REPOSITORY", str(tmp_path / "env-repo"))
    ref = mops("bundle", "push", str(project)).stdout.strip()
    assert parse_ref(ref).repository == str(tmp_path / "env-repo")
    digest = parse_ref(ref).digest
    assert mops("bundle", "pull", digest).stdout.strip().endswith(digest.split(":")[1])
    assert digest in mops("bundle", "ls", "--json").stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["bundle", "pull", "sha256:abc"], "is not a bundle reference"),
        (["bundle", "pull", "sha256:" + "0" * 64], "no repository is known"),
        (["bundle", "push", "/does/not/exist", "--to", "/tmp/x"], "is not a directory"),
        (["bundle", "ls"], "no bundle repository given"),
    ],
)
def test_errors_are_messages_with_hints_not_tracebacks(args, message, mops):
    result = mops(*args, code=1)
    err = " ".join(result.stderr.split())
    assert message in err and "hint:" in err and "Traceback" not in result.output


def test_pull_from_a_repository_without_the_bundle(tmp_path, mops):
    (tmp_path / "empty-repo").mkdir()
    result = mops("bundle", "pull", f"{tmp_path / 'empty-repo'}@sha256:{'1' * 64}", code=1)
    assert "is not in repository" in " ".join(result.stderr.split())


def test_tampered_bundle_pull_fails_with_integrity_error(project, tmp_path, mops):
    repo = tmp_path / "repo"
    ref = mops("bundle", "push", str(project), "--to", str(repo)).stdout.strip()
    blob = repo / "files" / "sha256" / scan(project).index.by_path()["README.md"].sha256
    blob.write_bytes(b"# Evil\n")
    err = " ".join(mops("bundle", "pull", ref, code=1).stderr.split())
    assert "README.md" in err and "tampered" in err


@pytest.mark.services
def test_cli_against_a_real_registry(project, tmp_path, tree, mops, oci_registry):
    url = f"oci://{oci_registry.host}/cli/bundles"
    ref = mops("bundle", "push", str(project), "--to", url).stdout.strip()
    assert ref.startswith(url + "@sha256:")
    listed = json.loads(mops("bundle", "ls", url, "--json").stdout)
    assert [b["ref"] for b in listed] == [ref] and listed[0]["source"] == "sir-project"
    mops("bundle", "pull", ref, "--dest", str(tmp_path / "from-registry"))
    assert tree(tmp_path / "from-registry") == {f.path: (project / f.path).read_bytes() for f in scan(project).index}
    assert json.loads(mops("bundle", "diff", ref, str(project), "--json").stdout)["unchanged"]
