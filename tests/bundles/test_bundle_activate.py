"""A long-lived worker switching bundles imports the new bundle's code, not the cached modules of the old one."""

from __future__ import annotations

import importlib
import sys

import pytest

from modelops.bundles import activate, ensure_local, push


@pytest.fixture
def clean_imports(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys.modules["modelops.bundles.activate"], "_active", [])
    yield
    for name in [n for n in sys.modules if n == "sirmodel" or n.startswith("sirmodel.")]:
        del sys.modules[name]


def test_switching_bundles_reimports_their_modules(project, tmp_path, clean_imports):
    repo, cache = str(tmp_path / "repo"), tmp_path / "cache"
    v1 = ensure_local(push(project, repo).ref, cache_dir=cache)
    (project / "sirmodel" / "params.py").write_text("BASE = 0.7\n")
    v2 = ensure_local(push(project, repo).ref, cache_dir=cache)

    activate(v1)
    assert importlib.import_module("sirmodel.params").BASE == 0.3
    model = importlib.import_module("sirmodel.model")
    assert model.__file__.startswith(str(v1))
    out = model.simulate({}, 7)

    activate(v2)
    assert str(v1) not in sys.path and sys.path[0] == str(v2)
    assert importlib.import_module("sirmodel.params").BASE == 0.7
    assert importlib.import_module("sirmodel.model").__file__.startswith(str(v2))

    activate(v1)  # and back: same code, same outputs
    assert importlib.import_module("sirmodel.model").simulate({}, 7) == out
