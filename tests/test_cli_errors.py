"""The CLI's one error boundary: one message, the documented exit codes, --json errors, markup and secrets.

docs/user-guide.md ("Errors and exit codes") documents the table and the JSON shape tested here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelops.cli import output
from modelops.cli.app import app

runner = CliRunner()
SHAPE = {"code", "kind", "message", "hint", "problems"}


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _json_error(result) -> dict:
    body = json.loads(result.stdout)
    assert set(body) == {"error"} and set(body["error"]) == SHAPE
    return body["error"]


def test_invalid_input_is_exit_2_with_problems_in_json(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "apiVersion: modelops/v1\nkind: Study\nreplicates: 0\n")
    text = runner.invoke(app, ["run", str(spec)])
    assert text.exit_code == 2 and text.stdout == ""
    assert text.stderr.startswith("error: ") and text.stderr.count("error: ") == 1 and "hint: " in text.stderr
    result = runner.invoke(app, ["run", str(spec), "--json"])
    error = _json_error(result)
    assert result.exit_code == 2 and error["code"] == 2 and error["kind"] == "invalid_input"
    fields = {p["field"] for p in error["problems"]}
    assert {"model", "targets", "replicates"} <= fields and result.stderr == ""


def test_a_file_level_problem_has_no_field_and_no_generic_hint(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "a: 1\na: 2\n")
    error = _json_error(runner.invoke(app, ["run", str(spec), "--json"]))
    assert error["problems"] == [
        {"field": "", "message": "line 2, column 1: duplicate key 'a' (first at line 1); keep one of them"}
    ]
    assert error["hint"] is None and error["message"] == f"{spec}: {error['problems'][0]['message']}"


def test_usage_errors_are_exit_2_and_json_when_asked() -> None:
    plain = runner.invoke(app, ["runs", "show"])
    assert plain.exit_code == 2 and "Missing argument" in plain.output
    error = _json_error(runner.invoke(app, ["runs", "show", "--json"]))
    assert error["code"] == 2 and error["kind"] == "usage" and "Missing argument" in error["message"]


def test_markup_in_user_text_prints_as_written(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "apiVersion: modelops/v1\nkind: Study\nname: '[bold red]x[/] :smile: [link=a]b'\n")
    result = runner.invoke(app, ["run", str(spec)])
    assert result.exit_code == 2 and "'[bold red]x[/] :smile: [link=a]b'" in result.stderr
    assert "😄" not in result.stderr


def test_an_unexpected_exception_is_one_message_exit_70(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import modelops.store.results as results

    def broken(*args, **kwargs):
        raise RuntimeError("something [bold]odd[/] happened")

    monkeypatch.setattr(results, "list_runs", broken)
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 70 and isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[0] == "error: internal error: RuntimeError: something [bold]odd[/] happened"
    assert "MODELOPS_DEBUG=1" in result.stderr and "Traceback" not in result.output
    monkeypatch.setenv("MODELOPS_DEBUG", "1")
    debug = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert isinstance(debug.exception, RuntimeError)  # the traceback, for a bug report


def test_interrupt_is_exit_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import modelops.store.results as results

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "list_runs", interrupted)
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path), "--json"])
    assert result.exit_code == 130 and _json_error(result)["kind"] == "interrupted"


def test_every_message_is_redacted_at_the_boundary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import modelops.store.results as results

    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-0123456789")

    def leaky(*args, **kwargs):  # as a library error would word it, e.g. calabaria's "cannot open Optuna storage"
        raise OSError("cannot open 'postgresql+psycopg://postgres:hunter22@127.0.0.1:1/test' with tok-0123456789")

    monkeypatch.setattr(results, "list_runs", leaky)
    for extra in ((), ("--json",)):
        result = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path), *extra])
        assert result.exit_code == 1 and "postgres:***@127.0.0.1:1" in result.output
        assert "hunter22" not in result.output and "tok-0123456789" not in result.output


def test_the_exit_code_table_is_documented() -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "user-guide.md").read_text(encoding="utf-8")
    for code in (
        output.EXIT_ERROR,
        output.EXIT_INPUT,
        output.EXIT_RUN_FAILED,
        output.EXIT_INTERNAL,
        output.EXIT_INTERRUPTED,
    ):
        assert f"| {code} " in guide, code
    for key in sorted(SHAPE):
        assert f'"{key}"' in guide, key
