"""Packaging: the three packages are typed (py.typed reaches the wheels), and the default install has no cloud stack."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    REPO: "modelops",
    REPO / "packages" / "contracts": "modelops_contracts",
    REPO / "packages" / "calabaria": "calabaria",
}


def test_the_default_dependencies_leave_the_cloud_stack_to_the_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    default = " ".join(project["project"]["dependencies"])
    cloud = " ".join(project["project"]["optional-dependencies"]["cloud"])
    for name in ("pulumi", "pulumi-azure-native", "pulumi-kubernetes", "kubernetes", "adlfs", "oras", "cryptography"):
        assert name not in default and name in cloud, name
    # `uv run pytest` on a fresh clone must still install it: the dev group pulls the extra in.
    assert "modelops[cloud]" in project["dependency-groups"]["dev"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
def test_every_wheel_carries_py_typed(tmp_path: Path) -> None:
    for root, package in PACKAGES.items():
        out = subprocess.run(
            ["uv", "build", "--wheel", "--out-dir", str(tmp_path), str(root)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        (wheel,) = tmp_path.glob(f"{package}-*.whl")
        assert f"{package}/py.typed" in zipfile.ZipFile(wheel).namelist()
