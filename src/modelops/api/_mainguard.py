"""Let a script without ``if __name__ == "__main__":`` start local worker processes.

Local workers are started with the ``spawn`` method (Dask's default, and the only one that is safe on every OS
and with threads running). A spawned child re-imports the parent's ``__main__`` module from its file so that
functions defined there can be unpickled. For a script without the guard that import runs the script again, which
calls ``modelops.run`` again inside the child, which fails with "An attempt has been made to start a new process
before the current process has finished its bootstrapping phase".

ModelOps never sends anything from ``__main__`` to a worker: the model, the targets and the algorithm travel by
``"module:attr"`` reference. So while a run starts worker processes, this hides where ``__main__`` came from
(its ``__file__`` and ``__spec__``, which is all ``multiprocessing.spawn.get_preparation_data`` reads), and the
children start without re-running the script. Everything is put back when the run ends.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

_MISSING = object()
_lock = threading.Lock()
# Runs may overlap (threads): the first to start hides __main__'s origin, the last to end puts it back.
_depth = 0
_saved: dict[str, object] = {}


@contextlib.contextmanager
def children_skip_main() -> Iterator[None]:
    """Hide ``__main__``'s origin from processes spawned inside the block (restored when the last block ends)."""
    global _depth, _saved
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = {key: main.__dict__.get(key, _MISSING) for key in ("__file__", "__spec__")}
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for key, value in _saved.items():
                    if value is _MISSING:
                        main.__dict__.pop(key, None)
                    else:
                        main.__dict__[key] = value
                _saved = {}
