"""Every example spec, rendered by the CLI as a user would, is strictly valid for Kubernetes 1.29-1.33 and passes
checkov with 0 failed checks; the workload-identity examples carry no SAS, key or password."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from modelops.cli.app import app
from modelops_testing.real_services import REPO_ROOT

from .test_k8s_checkov import _checkov
from .test_k8s_validate import VERSIONS, validate

EXAMPLES = REPO_ROOT / "examples"
# Written outside the repository by the fixture below (the study path made absolute, so it still resolves).
MANAGED_RENDER = Path(tempfile.gettempdir()) / f"modelops-render-adaptive-managed-{os.getpid()}.yaml"


def _managed_for_render() -> Path:
    """examples/adaptive-managed.yaml with its commented render-only values filled in, as a user would."""
    text = (EXAMPLES / "adaptive-managed.yaml").read_text()
    for key in ("host", "admin_user", "key_vault", "admin_client_id", "client_id", "tenant_id", "storage_account"):
        text = re.sub(rf"^(\s*)# ({key}: )", r"\1\2", text, flags=re.M)
    text = text.replace("study: sir/", f"study: {EXAMPLES}/sir/")
    MANAGED_RENDER.write_text(text)
    return MANAGED_RENDER


RENDERS = {
    "workspace": ["workspace", "render", str(EXAMPLES / "workspace.yaml")],
    "adaptive": ["adaptive", "render", str(EXAMPLES / "adaptive.yaml"), "--run-id", "exp-001"],
    "adaptive-managed": ["adaptive", "render", str(MANAGED_RENDER), "--run-id", "exp-002"],
}


@pytest.fixture(autouse=True)
def _managed_example() -> object:
    _managed_for_render()
    yield
    MANAGED_RENDER.unlink(missing_ok=True)


def _render(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str) -> str:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GHCR_USERNAME", "someone")  # examples on ghcr.io render a pull secret
    monkeypatch.setenv("GHCR_TOKEN", "ghp_example")
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_k8s_every_example_renders_strictly_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == {"workspace.yaml", "adaptive.yaml", "adaptive-managed.yaml"}
    for name, args in RENDERS.items():
        docs = [d for d in yaml.safe_load_all(_render(args, monkeypatch, tmp_path)) if d]
        assert docs, name
        for doc in docs:
            for version in VERSIONS:
                validate(doc, version)


@pytest.mark.slow
def test_k8s_every_example_passes_checkov(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = _checkov()
    out = tmp_path / "rendered"
    out.mkdir()
    for name, args in RENDERS.items():
        (out / f"{name}.yaml").write_text(_render(args, monkeypatch, tmp_path, "--show-secrets"))
    proc = subprocess.run(
        [exe, "-d", str(out), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    reports = json.loads(proc.stdout)
    report = reports[0] if isinstance(reports, list) else reports
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0, "\n".join(failed)
    assert report["summary"]["passed"] > 50


def test_k8s_managed_example_without_values_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["adaptive", "render", str(EXAMPLES / "adaptive-managed.yaml"), "--run-id", "x"])
    assert result.exit_code == 2  # invalid input (docs/user-guide.md: exit codes)
    assert "object_store.client_id" in result.output or "host" in result.output


def test_k8s_managed_example_render_has_no_sas_key_or_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2024-01-01&sig=SHOULDNOTAPPEAR")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=SHOULDNOTAPPEAR")
    monkeypatch.setenv("PGPASSWORD", "SHOULDNOTAPPEAR")
    text = _render(RENDERS["adaptive-managed"], monkeypatch, tmp_path, "--show-secrets")
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert "Secret" not in {d["kind"] for d in docs}
    assert "SHOULDNOTAPPEAR" not in text
    assert not re.search(r"sig=|SharedAccessSignature|AccountKey|BEGIN [A-Z ]*PRIVATE KEY", text)
    for doc in docs:
        spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            assert "envFrom" not in c
            for env in c.get("env", []):
                # No variable that carries a credential: the password arrives only as a mounted file.
                assert not re.search(r"PASSWORD|SAS|KEY|SECRET|CONNECTION_STRING", env["name"]), env
