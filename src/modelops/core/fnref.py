"""Resolve ``"package.module:attr"`` references to callables, where the code runs.

Specs name simulations, model classes and evaluator factories by reference, so the runtime never imports the
science package and a worker imports only what it runs. ``attr`` may be dotted (``"mod:Class.method"``). A reference
to a *class* with a ``simulate`` method resolves to the bound ``simulate`` of one instance per process: model
classes are built once (their setup may be expensive) and reused for every simulation.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The one grammar of a reference: specs validate with it, parse() splits with it.
FN_REF_RULE = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<attr>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)$")

_instances: dict[type, Any] = {}
_lock = threading.Lock()


class FnRefError(ValueError):
    """A reference is malformed, names a missing attribute, or names something that cannot be called."""


def parse(ref: str) -> tuple[str, str]:
    """Split ``"package.module:attr"`` into (module, attr); FnRefError explains the expected form."""
    if not isinstance(ref, str):
        raise FnRefError(f"a function reference must be a string like 'package.module:function', got {ref!r}")
    match = FN_REF_RULE.match(ref.strip())
    if match is None:
        raise FnRefError(
            f"bad function reference {ref!r}: expected 'package.module:attribute' (one colon, dotted Python "
            "identifiers on both sides), e.g. 'my_model.sim:simulate' or 'my_model:SIRModel'"
        )
    return match["module"], match["attr"]


def add_search_path(search_path: Sequence[str | Path]) -> None:
    """Put each directory at the front of sys.path (once), so project and bundle code imports first."""
    for entry in reversed([str(Path(p)) for p in search_path]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if search_path:
        importlib.invalidate_caches()


def _forget_shadowed(module: str, search_path: Sequence[str | Path]) -> None:
    """Drop an already imported top-level module that a search-path directory provides from another file.

    In one process (workers: 0, the Python API, a notebook) two studies may name a model module alike
    (``model:simulate``) in different projects: Python would hand the second study the first one's module from
    sys.modules. The study's own project must win, so the stale module (and its submodules) are forgotten here.
    """
    top = module.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is None or not search_path:
        return
    origin = getattr(loaded, "__file__", None)
    for entry in search_path:
        base = Path(entry)
        candidates = (base / f"{top}.py", base / top / "__init__.py")
        provided = next((c for c in candidates if c.is_file()), None)
        if provided is None:
            continue
        if origin is None or Path(origin).resolve() != provided.resolve():
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
        return


def import_module(module: str, ref: str) -> Any:
    """Import ``module`` for ``ref``; a missing target module gets a message that says how to fix it.

    A ModuleNotFoundError raised *inside* the user's module (it imports something that is not installed) is
    re-raised as itself, with a note naming the reference: that is the user's real problem, not a lookup error.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            raise ModuleNotFoundError(
                f"cannot import module {module!r} for {ref!r}: no module named {missing!r}. Check the spelling, "
                "install the package, or add the model project's directory to the search path",
                name=missing,
            ) from None
        exc.add_note(f"(raised while importing {module!r} for {ref!r})")
        raise


def _instance_of(cls: type, ref: str) -> Any:
    with _lock:
        if cls not in _instances:
            try:
                _instances[cls] = cls()
            except TypeError as exc:
                raise FnRefError(
                    f"{ref!r} names the class {cls.__qualname__}, which must be constructible with no arguments "
                    f"to be used as a model ({exc})"
                ) from exc
        return _instances[cls]


def resolve(ref: str, *, search_path: Sequence[str | Path] = ()) -> Callable[..., Any]:
    """The callable ``ref`` names.

    - ``"pkg.mod:func"`` gives ``func``; ``"pkg.mod:Class.method"`` walks the dotted attribute.
    - a class with a ``simulate`` method gives the bound ``simulate`` of one instance per process.
    - ``search_path`` entries are put on sys.path first.
    Raises FnRefError (bad format, missing attribute, not callable) or ModuleNotFoundError (missing module).
    """
    module_name, attr = parse(ref)
    add_search_path(search_path)
    _forget_shadowed(module_name, search_path)
    obj: Any = import_module(module_name, ref)
    walked = module_name
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            public = sorted(n for n in dir(obj) if not n.startswith("_"))
            shown = ", ".join(public[:20]) + (", ..." if len(public) > 20 else "")
            raise FnRefError(
                f"{walked!r} has no attribute {part!r} (resolving {ref!r}); available: {shown or '(nothing public)'}"
            ) from None
        walked = f"{walked}:{part}" if walked == module_name else f"{walked}.{part}"
    if isinstance(obj, type) and callable(getattr(obj, "simulate", None)):
        return _instance_of(obj, ref).simulate
    if not callable(obj):
        raise FnRefError(f"{ref!r} resolves to a {type(obj).__name__}, which is not callable")
    return obj
