"""The image recipe: pinned Python and uv, every package from uv.lock, non-root, and the spec's default tag.

`docker build` cannot run here, so this checks the recipe itself against the lock and the manifests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
from packaging.specifiers import SpecifierSet

from modelops.core.images import default_image
from modelops.k8s.common import RUN_AS_UID
from modelops_testing.real_services import REPO_ROOT

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _arg(name: str) -> str:
    for word, rest in _instructions():
        if word == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1]
    raise AssertionError(f"ARG {name} not found in the Dockerfile")


def test_k8s_python_and_uv_are_pinned_to_patch_versions() -> None:
    python = _arg("PYTHON_VERSION")
    assert re.fullmatch(r"\d+\.\d+\.\d+", python), python
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python in SpecifierSet(requires)
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    assert python in SpecifierSet(lock["requires-python"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", _arg("UV_VERSION"))
    froms = [rest for word, rest in _instructions() if word == "FROM"]
    assert all("latest" not in f for f in froms)
    # Build and run stages share the same interpreter, so the venv's python symlink resolves.
    assert sum("python:${PYTHON_VERSION}-slim-bookworm" in f for f in froms) == 2


def test_k8s_packages_come_only_from_the_lock() -> None:
    runs = [rest for word, rest in _instructions() if word == "RUN"]
    installs = [r for r in runs if re.search(r"\b(pip|uv pip|uv add|uv lock|poetry)\b", r)]
    assert not installs, f"packages installed outside the lock: {installs}"
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs and all("--locked" in s and "--no-dev" in s and "--all-packages" in s for s in syncs)
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    names = {p["name"] for p in lock["package"]}
    # What the pods run must be in the lock the image installs from.
    assert {"dask", "distributed", "modelops", "calabaria", "modelops-contracts", "optuna", "psycopg"} <= names


def test_k8s_lock_is_current_for_the_image_build() -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    proc = subprocess.run(
        [uv, "lock", "--check", "--offline"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"`uv sync --locked` in the image would fail: {proc.stderr}"


def test_k8s_image_runs_as_the_manifests_non_root_uid() -> None:
    users = [rest for word, rest in _instructions() if word == "USER"]
    assert users, "the image must switch away from root"
    assert users[-1] == f"{RUN_AS_UID}:{RUN_AS_UID}"
    assert any(f"--uid {RUN_AS_UID}" in rest for word, rest in _instructions() if word == "RUN")


def test_k8s_copied_paths_exist() -> None:
    for word, rest in _instructions():
        if word == "COPY" and "--from" not in rest:
            for src in rest.split()[:-1]:
                assert (REPO_ROOT / src).exists(), f"COPY {src}: no such path in the repository"


def test_k8s_makefile_builds_the_default_image() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    proc = subprocess.run([make, "-s", "print-image"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == default_image()
    dry = subprocess.run([make, "-n", "images"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30).stdout
    assert "-f docker/Dockerfile" in dry and f"-t {default_image()}" in dry
    pushed = subprocess.run(
        [make, "-n", "push", "REGISTRY=registry.example.com/team", "VERSION=9.9.9"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert "docker push registry.example.com/team/modelops:9.9.9" in pushed


def test_k8s_dockerignore_keeps_what_the_build_copies() -> None:
    ignore = (REPO_ROOT / "docker" / "Dockerfile.dockerignore").read_text()
    assert "**" in ignore.splitlines()  # everything excluded, then the needed paths re-included
    for needed in ("pyproject.toml", "uv.lock", "src/**", "examples/**"):
        assert f"!{needed}" in ignore
