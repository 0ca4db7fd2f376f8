import json

from typer.testing import CliRunner

from modelops.cli.app import app

runner = CliRunner()


def test_version_table():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    for name in ("modelops", "modelops-contracts", "calabaria", "python", "dask", "optuna", "pulumi"):
        assert name in result.output


def test_version_json():
    result = runner.invoke(app, ["version", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["modelops"] == "0.1.0"
    assert data["python"].startswith("3.")


def test_missing_distribution_is_reported_not_fatal(monkeypatch):
    from modelops import versions

    monkeypatch.setattr(versions, "CORE_DISTRIBUTIONS", ("modelops", "surely-not-installed-dist"))
    assert versions.core_versions()["surely-not-installed-dist"] is None
    result = runner.invoke(app, ["version"])
    assert "not installed" in result.output


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "version" in result.output
