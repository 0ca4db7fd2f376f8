"""CLI conventions: --version, the cloud extra's message, whole ids and paths off a terminal, `-o -`, one trial shape
in every --json, a failed run's reasons in `runs show`, and `runs compare`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import modelops
from modelops.cli.app import CLOUD_COMMANDS, app

from .conftest import sir_study

runner = CliRunner()


def _invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), catch_exceptions=False, env=env)


@pytest.fixture
def runs(sir_project: Path, tmp_path: Path) -> tuple[str, modelops.Run, modelops.Run]:
    """Two finished runs with long ids in a deep runs directory (ids and paths longer than a terminal line)."""
    runs_dir = tmp_path / ("a-rather-long-folder-name-for-runs-" * 3) / "runs"
    first = modelops.run(
        sir_study(),
        workers=0,
        runs_dir=str(runs_dir),
        base_dir=sir_project,
        run_id="sir-calibration-with-a-long-descriptive-name-for-the-paper-001",
    )
    second = modelops.run(
        sir_study(),
        workers=0,
        runs_dir=str(runs_dir),
        base_dir=sir_project,
        n_trials=6,
        run_id="sir-calibration-with-a-long-descriptive-name-for-the-paper-002",
    )
    return str(runs_dir), first, second


def test_version_flag_prints_one_line() -> None:
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mops (modelops) {modelops.__version__}"


@pytest.mark.parametrize("command", CLOUD_COMMANDS)
def test_cloud_commands_without_the_extra_say_which_extra_to_install(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sys.modules[name] = None is how Python marks a module as not importable: find_spec and import both fail.
    monkeypatch.setitem(sys.modules, "pulumi", None)
    result = _invoke(command, "--help")
    assert result.exit_code == 1
    assert f"`mops {command}` needs the cloud extra" in result.output
    assert "pip install 'modelops[cloud]'" in result.output.replace("\n", " ")


def test_cloud_commands_run_when_the_extra_is_installed() -> None:
    assert _invoke("workspace", "--help").exit_code == 0


def test_the_installed_command_says_so_too_when_kubernetes_is_missing() -> None:
    code = (
        "import sys; sys.modules['kubernetes'] = None\n"
        "from modelops.cli.app import main\n"
        "sys.argv = ['mops', 'workspace', 'render', 'workspace.yaml']\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    message = " ".join(out.stderr.split())  # the error console may fold long lines off a terminal
    assert "needs the cloud extra" in message and "missing: kubernetes" in message
    assert "modelops[cloud]" in message and "Traceback" not in message


def test_runs_list_and_plot_print_ids_and_paths_whole_off_a_terminal(runs) -> None:
    runs_dir, first, second = runs
    listed = _invoke("runs", "list", "--runs-dir", runs_dir, env={"COLUMNS": "60"})
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    for run in (first, second):
        assert any(run.run_id in line for line in lines), listed.stdout
    plotted = _invoke("runs", "plot", first.run_id, "--runs-dir", runs_dir, env={"COLUMNS": "60"})
    assert plotted.exit_code == 0, plotted.output
    loss_png = f"{first.url}/plots/loss_by_trial.png"
    assert any(line.endswith(loss_png) for line in plotted.stdout.splitlines()), plotted.stdout
    shown = _invoke("runs", "show", first.run_id, "--runs-dir", runs_dir, env={"COLUMNS": "60"})
    assert any(first.url in line for line in shown.stdout.splitlines()), shown.stdout


def test_export_to_stdout(runs) -> None:
    runs_dir, first, _ = runs
    csv = _invoke("runs", "export", first.run_id, "-o", "-", "--runs-dir", runs_dir)
    assert csv.exit_code == 0
    frame = pl.read_csv(io.StringIO(csv.stdout))
    assert frame.height == 10 and "param.beta" in frame.columns
    assert not Path("-").exists()
    parquet = runner.invoke(app, ["runs", "export", first.run_id, "-f", "parquet", "-o", "-", "--runs-dir", runs_dir])
    assert parquet.exit_code == 0
    assert pl.read_parquet(io.BytesIO(parquet.stdout_bytes)).equals(first.trials)


def test_every_json_shapes_the_best_trial_the_same_way(runs, sir_project: Path, tmp_path: Path) -> None:
    runs_dir, first, _ = runs
    shown = json.loads(_invoke("runs", "show", first.run_id, "--runs-dir", runs_dir, "--json").stdout)
    assert shown["best"] == first.best.to_json()
    assert set(shown["best"]) == {"trial", "param_id", "status", "loss", "params", "target_losses", "error"}
    assert isinstance(shown["best"]["params"], dict) and "params_json" not in shown["best"]
    spec = sir_project / "study.yaml"
    with modelops.study(sir_study(), base_dir=sir_project).spec_file() as written:
        spec.write_text(written.read_text())
    ran = _invoke("run", str(spec), "--workers", "0", "--runs-dir", str(tmp_path / "more"), "--json")
    assert ran.exit_code == 0, ran.output
    best = json.loads(ran.stdout)["best"]
    assert set(best) == set(shown["best"]) and best["params"].keys() == shown["best"]["params"].keys()


def test_runs_show_says_why_a_run_failed(sir_project: Path, tmp_path: Path) -> None:
    (sir_project / "broken_model.py").write_text(
        "def simulate(params, seed):\n"
        "    if params['beta'] < 0.25:\n"
        "        raise ValueError('beta below 0.25 is not supported')\n"
        "    raise ValueError(f'beta {params[\"beta\"]:.3f} is out of range')\n"
    )
    with pytest.raises(modelops.RunError, match="trials all failed"):
        modelops.run(
            sir_study(model={"fn_ref": "broken_model:simulate"}, algorithm={"ref": "sweep", "n_trials": 12}),
            workers=0,
            runs_dir=str(tmp_path / "runs"),
            base_dir=sir_project,
            run_id="broken",
        )
    report = json.loads(_invoke("runs", "show", "broken", "--runs-dir", str(tmp_path / "runs"), "--json").stdout)
    assert report["status"] == "failed" and "trials all failed" in report["error"]
    failures = report["failures"]
    assert sum(k["trials"] for k in failures) == report["failed"] >= 10
    assert len(failures) == 6 and failures[-1]["reason"].endswith("other reasons)")
    assert failures[0]["reason"] == "ValueError: beta below 0.25 is not supported"
    assert failures[0]["trials"] >= 2
    text = _invoke("runs", "show", "broken", "--runs-dir", str(tmp_path / "runs")).stdout
    assert "the run stopped with an error" in text and "trials all failed" in text
    assert "failed trials, by reason" in text and "ValueError: beta" in text
    assert "no completed trial yet" not in text


def test_runs_compare_puts_runs_side_by_side(runs) -> None:
    runs_dir, first, second = runs
    data = json.loads(_invoke("runs", "compare", first.run_id, second.run_id, "--runs-dir", runs_dir, "--json").stdout)
    assert [r["run_id"] for r in data] == [first.run_id, second.run_id]
    assert [r["trials"] for r in data] == [10, 6]
    assert data[0]["best"]["loss"] == first.best.loss
    text = _invoke("runs", "compare", first.run_id, second.run_id, "--runs-dir", runs_dir).stdout
    for label in ("best loss", "beta", "gamma", "loss: incidence", "trials"):
        assert label in text, text
    assert first.run_id in text and second.run_id in text
    assert "10/10" in text and "6/6" in text
    alone = _invoke("runs", "compare", first.run_id, "--runs-dir", runs_dir)
    assert alone.exit_code == 1 and "at least two runs" in alone.output
