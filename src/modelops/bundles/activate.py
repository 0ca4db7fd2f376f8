"""Putting a bundle on the import path of a long-lived worker process.

A worker may run tasks from several bundles over its life (the modeller pushes a fix, the next study uses the new
digest). Python caches imported modules in sys.modules by name, so without care the second bundle's
``model.sim`` would silently be the first bundle's. ``activate`` therefore removes the previously activated bundle
directories from sys.path and forgets the modules loaded from them before putting the new bundle first.

One bundle is active per process at a time: run tasks of different bundles in different worker processes, or one
after the other (Dask workers with one thread per process, the default for simulations, do exactly that).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

_lock = threading.Lock()
_active: list[str] = []


def _loaded_from(module: object, root: str) -> bool:
    prefix = root + os.sep
    file = getattr(module, "__file__", None)
    if isinstance(file, str) and file.startswith(prefix):
        return True
    paths = getattr(module, "__path__", None)
    try:
        return any(isinstance(p, str) and (p == root or p.startswith(prefix)) for p in paths or ())
    except TypeError:
        return False


def activate(path: str | Path) -> Path:
    """Make ``path`` (a bundle directory) the first entry of sys.path, forgetting modules of other bundles."""
    root = str(Path(path).resolve())
    with _lock:
        for old in [p for p in _active if p != root]:
            while old in sys.path:
                sys.path.remove(old)
            for name, module in list(sys.modules.items()):
                if _loaded_from(module, old):
                    del sys.modules[name]
            _active.remove(old)
        if not sys.path or sys.path[0] != root:
            while root in sys.path:
                sys.path.remove(root)
            sys.path.insert(0, root)
        if root not in _active:
            _active.append(root)
        importlib.invalidate_caches()
    return Path(root)
