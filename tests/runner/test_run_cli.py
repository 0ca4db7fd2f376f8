"""The `mops run` / `mops runs` / `mops demo` commands: output, JSON, errors, and run records on an object store."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops.cli.demo import find_example

runner = CliRunner()


def _invoke(*args: str) -> object:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def finished_run(toy_study, tmp_path: Path) -> tuple[Path, str]:
    spec = toy_study()
    runs = tmp_path / "runs"
    result = _invoke("run", str(spec), "--runs-dir", str(runs), "--run-id", "cli-1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["recorded"] == 12
    return runs, "cli-1"


def test_run_prints_the_best_trials_and_the_paths(toy_study, tmp_path: Path) -> None:
    result = _invoke("run", str(toy_study()), "--runs-dir", str(tmp_path / "runs"), "--run-id", "p1")
    assert result.exit_code == 0, result.output
    assert "best 5 trials" in result.output and "completed: 12 trials" in result.output
    assert str(tmp_path / "runs" / "p1" / "trials.parquet") in result.output.replace("\n", "")


def test_runs_list_show_export(finished_run, tmp_path: Path) -> None:
    runs, run_id = finished_run
    listed = json.loads(_invoke("runs", "list", "--runs-dir", str(runs), "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id] and listed[0]["trials"] == 12
    shown = json.loads(_invoke("runs", "show", run_id, "--runs-dir", str(runs), "--json").stdout)
    assert shown["status"] == "completed" and shown["trials"] == 12 and shown["failed"] == 0
    assert shown["last_trial_at"] >= shown["started_at"]
    assert set(shown["best"]["params"]) == {"slope", "intercept"}
    assert set(shown["best"]["target_losses"]) == {"line"}
    text = _invoke("runs", "show", run_id, "--runs-dir", str(runs)).output
    assert "best trial" in text and "loss: line" in text
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"export.{fmt}"
        result = _invoke("runs", "export", run_id, "--format", fmt, "--out", str(out), "--runs-dir", str(runs))
        assert result.exit_code == 0, result.output
        frame = pl.read_csv(out) if fmt == "csv" else pl.read_parquet(out)
        assert frame.height == 12 and "param.slope" in frame.columns


def test_runs_plot_writes_three_pngs(finished_run, tmp_path: Path) -> None:
    runs, run_id = finished_run
    result = _invoke("runs", "plot", run_id, "--runs-dir", str(runs), "--out", str(tmp_path / "plots"))
    assert result.exit_code == 0, result.output
    for name in ("loss_by_trial.png", "parameters.png", "best_fit.png"):
        data = (tmp_path / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_errors_are_messages_not_tracebacks(toy_study, tmp_path: Path) -> None:
    missing = _invoke("run", str(tmp_path / "nope.yaml"))
    # Exit codes (docs/user-guide.md): 2 invalid input (file, spec, option), 1 the command failed.
    assert missing.exit_code == 2 and "file not found" in missing.output
    bad = toy_study(replicates=0)
    result = _invoke("run", str(bad), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "replicates" in result.output and "Traceback" not in result.output
    unknown = _invoke("runs", "show", "ghost", "--runs-dir", str(tmp_path / "runs"))
    assert unknown.exit_code == 1 and "no run 'ghost'" in unknown.output
    clash = _invoke("run", str(bad), "--resume", "a", "--run-id", "b")
    assert clash.exit_code == 2 and "different runs" in clash.output
    fmt = _invoke("runs", "export", "x", "--format", "xlsx", "--runs-dir", str(tmp_path / "runs"))
    assert fmt.exit_code == 2 and "csv" in fmt.output


def test_demo_finds_the_example_from_the_repository_and_below(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert find_example(repo) == repo / "examples" / "sir" / "study.yaml"
    assert find_example(repo / "src" / "modelops") == repo / "examples" / "sir" / "study.yaml"
    # Outside any checkout it falls back to the sources' own checkout.
    assert find_example(tmp_path) == repo / "examples" / "sir" / "study.yaml"


@pytest.mark.services
def test_a_run_recorded_on_an_object_store_is_shown_from_it(
    toy_study, tmp_path: Path, azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.chdir(tmp_path)  # the journal of a remote run lives in ./.modelops/state
    fs = fsspec.filesystem("az", connection_string=azurite.connection_string)
    fs.mkdir("mops-runs")
    runs = "az://mops-runs/team"
    result = _invoke("run", str(toy_study()), "--runs-dir", runs, "--run-id", "blob-1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["url"] == "az://mops-runs/team/blob-1"
    assert fs.exists("mops-runs/team/blob-1/trials.parquet")
    shown = json.loads(_invoke("runs", "show", "blob-1", "--runs-dir", runs, "--json").stdout)
    assert shown["trials"] == 12 and shown["status"] == "completed"
    listed = json.loads(_invoke("runs", "list", "--runs-dir", runs, "--json").stdout)
    assert [r["run_id"] for r in listed] == ["blob-1"]
    plotted = _invoke("runs", "plot", "blob-1", "--runs-dir", runs)
    assert plotted.exit_code == 0, plotted.output
    assert fs.exists("mops-runs/team/blob-1/plots/best_fit.png")


def test_the_run_only_app_parses_run_exactly_as_the_whole_app() -> None:
    # `mops run` builds only the run command (start-up time); its help and its errors must not differ.
    from modelops.cli.app import build_run_app

    lean = CliRunner().invoke(build_run_app(), ["run", "--help"], catch_exceptions=False)
    assert lean.exit_code == 0 and lean.output == _invoke("run", "--help").output
    missing = CliRunner().invoke(build_run_app(), ["run"], catch_exceptions=False)
    assert missing.exit_code == 2 and missing.output == runner.invoke(app, ["run"]).output
