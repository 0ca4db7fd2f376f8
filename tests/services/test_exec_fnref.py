"""Resolving "module:attr" references: the happy paths and every error a user can make."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from modelops.core.fnref import FnRefError, resolve


def _module(tmp_path: Path, source: str) -> str:
    name = f"exec_fnref_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    return name


def test_exec_fnref_resolves_function_dotted_attr_and_model_class(tmp_path: Path) -> None:
    name = _module(
        tmp_path,
        "class Model:\n"
        "    built = 0\n"
        "    def __init__(self):\n"
        "        type(self).built += 1\n"
        "    def simulate(self, params, seed):\n"
        "        return {'seed': seed}\n"
        "    @staticmethod\n"
        "    def helper(params, seed):\n"
        "        return 'static'\n"
        "def f(params, seed):\n"
        "    return seed + 1\n",
    )
    assert resolve(f"{name}:f", search_path=[tmp_path])({}, 1) == 2
    assert resolve(f"{name}:Model.helper", search_path=[tmp_path])({}, 0) == "static"
    sim = resolve(f"{name}:Model", search_path=[tmp_path])
    again = resolve(f"{name}:Model", search_path=[tmp_path])
    assert sim({}, 7) == {"seed": 7}
    assert sim.__self__ is again.__self__  # one instance per process
    assert type(sim.__self__).built == 1


@pytest.mark.parametrize("ref", ["no_colon", "a:b:c", "a.:b", ":f", "mod:", "1mod:f", "mod:f-g", ""])
def test_exec_fnref_bad_format(ref: str) -> None:
    with pytest.raises(FnRefError, match=r"expected 'package\.module:attribute'"):
        resolve(ref)


def test_exec_fnref_missing_module_says_how_to_fix() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"cannot import module 'no_such_mod_xyz\.sim'.*search path") as ei:
        resolve("no_such_mod_xyz.sim:f")
    assert ei.value.name == "no_such_mod_xyz"


def test_exec_fnref_missing_module_inside_user_code_surfaces_as_itself(tmp_path: Path) -> None:
    name = _module(tmp_path, "import definitely_not_installed_pkg\ndef f(p, s):\n    return {}\n")
    with pytest.raises(ModuleNotFoundError) as ei:
        resolve(f"{name}:f", search_path=[tmp_path])
    assert ei.value.name == "definitely_not_installed_pkg"
    assert "cannot import module" not in str(ei.value)
    assert any(name in note for note in ei.value.__notes__)


def test_exec_fnref_missing_attribute_lists_what_exists(tmp_path: Path) -> None:
    name = _module(tmp_path, "def simulate(p, s):\n    return {}\nVALUE = 3\n")
    with pytest.raises(FnRefError, match=r"has no attribute 'simulat'.*available: VALUE, simulate"):
        resolve(f"{name}:simulat", search_path=[tmp_path])
    with pytest.raises(FnRefError, match="resolves to a int, which is not callable"):
        resolve(f"{name}:VALUE", search_path=[tmp_path])


def test_exec_fnref_model_class_needing_arguments(tmp_path: Path) -> None:
    name = _module(
        tmp_path, "class M:\n    def __init__(self, x):\n        pass\n    def simulate(self, p, s):\n        pass\n"
    )
    with pytest.raises(FnRefError, match="constructible with no arguments"):
        resolve(f"{name}:M", search_path=[tmp_path])
