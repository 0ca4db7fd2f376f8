"""Fixtures for bundle tests: a small but realistic modeller's project, and a byte-level view of a tree."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

MODEL_CODE = '''\
"""A tiny deterministic model: what a worker must run byte-for-byte."""

import random

from sirmodel.params import BASE


def simulate(params, seed):
    rng = random.Random(seed)
    beta = float(params.get("beta", BASE))
    return {"infected": [round(beta * rng.random(), 12) for _ in range(5)]}
'''


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative POSIX path -> bytes), ignoring nothing."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


@pytest.fixture
def tree() -> Callable[[Path], dict[str, bytes]]:
    return tree_bytes


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with code, data, an empty file, duplicate contents, and things that must be ignored."""
    root = tmp_path / "sir-project"
    (root / "sirmodel").mkdir(parents=True)
    (root / "sirmodel" / "__init__.py").write_text("")
    (root / "sirmodel" / "params.py").write_text("BASE = 0.3\n")
    (root / "sirmodel" / "model.py").write_text(MODEL_CODE)
    (root / "data").mkdir()
    (root / "data" / "observed.bin").write_bytes(bytes(range(256)) * 512)  # 128 KiB
    (root / "data" / "copy.bin").write_bytes(bytes(range(256)) * 512)  # same bytes: stored once
    (root / "README.md").write_text("# SIR\n")
    (root / ".gitignore").write_text("*.log\noutputs/\n")
    (root / "run.log").write_text("ignored by .gitignore\n")
    (root / "outputs").mkdir()
    (root / "outputs" / "big.parquet").write_bytes(b"x" * 1000)
    (root / "sirmodel" / "__pycache__").mkdir()
    (root / "sirmodel" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


EXPECTED_FILES = [
    ".gitignore",
    "README.md",
    "data/copy.bin",
    "data/observed.bin",
    "sirmodel/__init__.py",
    "sirmodel/model.py",
    "sirmodel/params.py",
]


@pytest.fixture
def expected_files() -> list[str]:
    return list(EXPECTED_FILES)
