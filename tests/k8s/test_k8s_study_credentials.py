"""Files beside a study that look like credentials are refused: the study ships in a ConfigMap (issue 20, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.k8s.adaptive import StudyFiles, StudyFilesError
from modelops_testing.real_services import REPO_ROOT


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("credentials.json", b'{"user": "me"}'),
        ("data/secrets.yaml", b"a: 1\n"),
        ("service-account.json", b"{}"),
        ("keys/id_rsa.txt", b"ssh"),
        ("api_key.txt", b"x"),
        ("notes.txt", b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"),
        ("config.json", b'{"client_secret": "s3cr3t"}'),
        ("extra.yaml", b"dsn: postgresql+psycopg://optuna:hunter2@db:5432/optuna\n"),
        ("blob.txt", b"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + b"A" * 40 + b"==\n"),
        ("sas.txt", b"sv=2024-01-01&ss=b&srt=co&sp=rwdlac&sig=" + b"B" * 43 + b"%3D\n"),
    ],
)
def test_k8s_credential_like_files_beside_a_study_are_refused(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / "study.yaml").write_text("apiVersion: modelops/v1\nkind: Study\n")
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    with pytest.raises(StudyFilesError, match="ConfigMap") as err:
        StudyFiles.from_path(tmp_path / "study.yaml")
    assert name.rsplit("/", 1)[-1] in str(err.value)
    # The message names the file, never its content.
    for secret in ("s3cr3t", "hunter2", "AAAAAAAAAAAA", "BBBBBBBBBBBB", "abc"):
        assert secret not in str(err.value)


def test_k8s_files_that_are_not_shipped_are_not_judged(tmp_path: Path) -> None:
    # Unknown suffixes never reach the ConfigMap, so they are no reason to refuse the study.
    (tmp_path / "study.yaml").write_text("a: 1\n")
    (tmp_path / "id_ed25519").write_text("key")
    assert set(StudyFiles.from_path(tmp_path / "study.yaml").files) == {"study.yaml"}


def test_k8s_ordinary_study_files_still_ship(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text("storage: {kind: postgres}\n")
    (tmp_path / "tokenizer.py").write_text("def split(s):\n    return s.split()\n")  # 'token' inside a word: fine
    (tmp_path / "keys.csv").write_text("key,value\na,1\n")
    files = StudyFiles.from_path(tmp_path / "study.yaml").files
    assert set(files) == {"study.yaml", "tokenizer.py", "keys.csv"}


@pytest.mark.parametrize("example", ["sir", "starsim"])
def test_k8s_the_examples_ship_without_refusal(example: str) -> None:
    assert StudyFiles.from_path(REPO_ROOT / "examples" / example / "study.yaml").files
