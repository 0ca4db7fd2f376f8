"""The process pool's launcher and worker (``python -m modelops.services.poolworker FD``): never imported by a runner.

The runner starts one *launcher* (``python -m modelops.services.poolworker FD [MODULE ...]``), a plain subprocess
(no multiprocessing: nothing re-imports the user's ``__main__``, so a script without an ``if __name__ ==
"__main__"`` guard and a Jupyter kernel both work) in a new session (a terminal Ctrl-C reaches only the runner).
The launcher imports the task code and the scientific stack (plus the MODULEs), then forks one worker per request:
a worker forked from a warm parent is ready in milliseconds, and its parent is the launcher, not the runner, so a
model that kills its parent takes down only the launcher (the runner starts another).

Control socket (FD, a Unix socket pair with the runner):
- runner -> launcher: one byte per request with a file descriptor attached (``socket.send_fds``): the worker's end of
  a fresh socket pair; the 8-byte payload is the runner's token for that worker.
- launcher -> runner (multiprocessing.connection framing): ``("pid", token, pid)`` after each fork and
  ``("exit", pid, wait_status)`` when a worker ends.

Worker socket (runner <-> worker, pickled messages):
- worker -> runner: ``("hello", pid)``; ``("ready", digest, None | (stage, message))`` after a context;
  ``("result", task_id, index, GroupResult)`` as each group of a task finishes.
- runner -> worker: ``("context", RunContext)``; ``("task", task_id, items)`` where an item is a full SimulationGroup or
  ``(params, param_id, seeds)`` for the last context; ``("exit",)``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

#: Imported once in the launcher, before it forks, and shared by every worker (copy-on-write): the task code and the
#: scientific stack a model and the evaluator use. polars and pyarrow start a few idle threads at import; a fork
#: copies only the forking thread, and no pool has work before the first simulation (checked: 180 forks after these
#: imports, each running polars, pyarrow and numpy, none hung). Extra modules (the study's evaluator, the model's
#: heavy dependencies) come on the command line; one that fails to import is left for the worker to report.
LAUNCHER_PRELOAD = ("numpy", "polars", "pyarrow", "fsspec", "modelops.services.context", "modelops.services.tasks")


def _worker(fd: int) -> None:
    """Serve one runner connection until it closes: contexts, then tasks, results streamed group by group."""
    conn = Connection(fd)
    from modelops.services.context import RunContext, warm
    from modelops.services.tasks import SimulationGroup, run_group

    conn.send(("hello", os.getpid()))
    context: RunContext | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        if kind == "context":
            context = message[1]
            conn.send(("ready", context.digest, warm(context)))
        elif kind == "task":
            _, task_id, items = message
            for index, item in enumerate(items):
                group = item if isinstance(item, SimulationGroup) else context.group(*item)  # type: ignore[union-attr]
                conn.send(("result", task_id, index, run_group(group)))
        elif kind == "exit":
            return


def _launch(control_fd: int, preload: Sequence[str]) -> None:
    sock = socket.socket(fileno=control_fd)
    reports = Connection(os.dup(control_fd))
    for name in (*LAUNCHER_PRELOAD, *preload):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    children: set[int] = set()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler (not SIG_IGN) so the wakeup fd sees SIGCHLD
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "control")
    selector.register(wake_r, selectors.EVENT_READ, "child")

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            reports.send(("exit", pid, status))

    try:
        while True:
            for key, _ in selector.select():
                if key.data == "child":
                    os.read(wake_r, 4096)
                    reap()
                    continue
                payload, fds, _, _ = socket.recv_fds(sock, 8, 1)
                if not payload:  # the runner is gone: so are we, and every worker with us
                    raise EOFError
                (token,) = struct.unpack("Q", payload)
                pid = os.fork()
                if pid == 0:
                    # The worker: drop the launcher's plumbing, keep only its own socket.
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    selector.close()
                    for extra in (wake_r, wake_w, reports.fileno()):
                        os.close(extra)
                    sock.close()
                    code = 0
                    try:
                        _worker(fds[0])
                    except BaseException:
                        code = 1
                    finally:
                        sys.stdout.flush()
                        sys.stderr.flush()
                        os._exit(code)
                children.add(pid)
                for fd in fds:
                    os.close(fd)
                reports.send(("pid", token, pid))
    except (EOFError, OSError):
        pass
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # A terminal Ctrl-C goes to the runner only (we are in our own session anyway); the runner decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _launch(int(args[0]), args[1:])


if __name__ == "__main__":
    main()
