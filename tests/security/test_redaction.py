"""The one redaction: what counts as a secret, where it is replaced, and a DSN copied from a run still connecting."""

from __future__ import annotations

import json

import pytest

from modelops.core.redaction import (
    MARKER,
    SPEC_NOTE,
    password_is_marker,
    redact_data,
    redact_spec,
    redact_text,
    strip_marker_password,
)
from modelops.specs.study import PostgresStorage
from modelops.store.manifest import redact_dsn
from modelops.store.results import RunStore


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("cannot open Optuna storage 'postgresql+psycopg://postgres:hunter22@127.0.0.1:1/test'", "hunter22"),
        ("postgresql://u1:p%40ss%2Fw0rd@db:5432/x", "p%40ss%2Fw0rd"),
        ("redis://:onlypassword@cache:6379/0", "onlypassword"),
        ("host=db user=u password=s3cr3t-value dbname=x", "s3cr3t-value"),
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=QUJDREVGR0g=;EndpointSuffix=x", "QUJDREVGR0g="),
        ("BlobEndpoint=http://h/a;SharedAccessSignature=sv=2021&ss=b&sig=AbC%2Bdef%3D", "AbC%2Bdef%3D"),
        ("https://acct.blob.core.windows.net/c?sv=2021-08-06&se=2030&sig=Zm9vYmFy", "Zm9vYmFy"),
        ("{'token': 'x', 'url': 'http://h/?access_token=tok123456'}", "tok123456"),
    ],
)
def test_secrets_in_text_are_replaced(text: str, secret: str) -> None:
    clean = redact_text(text, environ={})
    assert secret not in clean and MARKER in clean


def test_values_of_secret_variables_are_replaced_verbatim_and_quoted() -> None:
    env = {
        "PGPASSWORD": "pg-pw/with+chars",
        "AZURE_STORAGE_SAS_TOKEN": "sv=2021&sig=abcdef",
        "MY_API_KEY": "key-123456",
        "SERVICE_TOKEN": "tok-abcdef",
        "SHORT_KEY": "ab",  # too short to redact (it would blank every "ab")
        "HOME": "/root",  # not a secret name
    }
    text = "pg-pw/with+chars pg-pw%2Fwith%2Bchars key-123456 tok-abcdef ab /root sv=2021&sig=abcdef"
    clean = redact_text(text, environ=env)
    for secret in ("pg-pw/with+chars", "pg-pw%2Fwith%2Bchars", "key-123456", "tok-abcdef", "abcdef"):
        assert secret not in clean
    assert " ab " in clean and "/root" in clean


def test_ordinary_text_is_untouched() -> None:
    for text in ("tcp://127.0.0.1:8786", "az://container/runs/x", "loss 0.25 at trial 3", "user@example.com"):
        assert redact_text(text, environ={}) == text


def test_nested_data_and_run_records(tmp_path) -> None:
    data = {"storage": "postgresql://u:pw123456@h/db", "list": ["x", {"k": "password=abcdef"}], "n": 3}
    clean = redact_data(data, environ={})
    assert "pw123456" not in json.dumps(clean) and "abcdef" not in json.dumps(clean) and clean["n"] == 3
    store = RunStore(str(tmp_path), "r1")
    store.write_json("manifest.json", {"summary": {"error": "cannot open 'postgresql://u:pw123456@h/db'"}})
    assert b"pw123456" not in (tmp_path / "r1" / "manifest.json").read_bytes()
    journal = store.journal("runner-a")
    journal.append({"param_id": "p", "status": "failed", "error": "boom postgresql://u:pw123456@h/db"}, [])
    journal.close()
    assert b"pw123456" not in b"".join(p.read_bytes() for p in (tmp_path / "r1").rglob("*") if p.is_file())
    assert redact_dsn("postgresql://u:pw123456@h/db") == "postgresql://u:***@h/db" and redact_dsn(None) is None


def test_spec_copy_has_the_marker_and_the_note() -> None:
    spec = "storage:\n  kind: postgres\n  dsn: postgresql://u1:pw-secret@127.0.0.1:5432/test  # comment kept\n"
    kept = redact_spec(spec, environ={})
    assert kept.startswith(SPEC_NOTE) and "pw-secret" not in kept and "u1:***@127.0.0.1" in kept
    assert "# comment kept" in kept
    assert redact_spec("name: x\n", environ={}) == "name: x\n"  # nothing secret: the copy is the spec exactly


def test_a_dsn_with_the_marker_takes_the_password_from_the_environment() -> None:
    assert password_is_marker("postgresql://u1:***@h:5432/db") and not password_is_marker("postgresql://u1:x@h/db")
    assert strip_marker_password("postgresql://u1:***@h:5432/db") == "postgresql://u1@h:5432/db"
    storage = PostgresStorage(kind="postgres", dsn="postgresql://u1:***@h:5432/db")
    assert storage.dsn == "postgresql://u1@h:5432/db"
    assert PostgresStorage(kind="postgres", dsn="postgresql://u1:pw@h/db").dsn == "postgresql://u1:pw@h/db"


def test_a_resume_is_judged_by_the_recorded_digest_not_the_redacted_text(tmp_path, monkeypatch) -> None:
    """Observed data that happens to contain a secret-looking string is redacted in study.json; resume still works."""
    from hostile_corpus import base_spec, write_observed, write_spec

    from modelops.runner import RunOptions, run_study

    monkeypatch.setenv("SOME_SERVICE_TOKEN", "label-abcdef")
    study = tmp_path / "study"
    study.mkdir()
    write_observed(study, "t,y,tag\n" + "".join(f"{t},{2 * t + 1},label-abcdef\n" for t in range(10)))
    spec = write_spec(study, base_spec())
    options = RunOptions(workers=0, run_id="fp-1", runs_dir=str(tmp_path / "runs"), handle_signals=False)
    assert run_study(spec, options).status == "completed"
    assert b"label-abcdef" not in (tmp_path / "runs" / "fp-1" / "study.json").read_bytes()
    again = run_study(spec, RunOptions(**{**options.__dict__, "resume": True}))
    assert again.status == "completed" and again.new_trials == 0
