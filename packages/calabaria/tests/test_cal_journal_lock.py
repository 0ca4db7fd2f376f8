"""The journal's flock: writers in separate processes never interleave, and a killed holder blocks nobody."""

import json
import subprocess
import sys
import threading
from pathlib import Path

from calabaria.algorithms._storage import FlockJournalLock

APPEND = """
import sys
from calabaria.algorithms._storage import PageCacheJournalFileBackend
backend = PageCacheJournalFileBackend(sys.argv[1])
w = int(sys.argv[2])
for i in range(150):
    # Long lines, two per append: unlocked appends of this size can interleave with another process's.
    backend.append_logs([{"writer": w, "i": i, "pad": "x" * 5000}, {"writer": w, "i": i, "pad": "y"}])
"""

HOLD = """
import sys, threading
from calabaria.algorithms._storage import FlockJournalLock
lock = FlockJournalLock(sys.argv[1])  # kept: closing its descriptor would release it
lock.acquire()
print("held", flush=True)
threading.Event().wait()
"""


def test_cal_concurrent_writers_never_interleave(tmp_path):
    path = str(tmp_path / "journal.log")
    procs = [subprocess.Popen([sys.executable, "-c", APPEND, path, str(w)]) for w in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    with open(path) as f:
        logs = [json.loads(line) for line in f]  # every line whole
    assert len(logs) == 3 * 150 * 2
    for w in range(3):
        assert [log["i"] for log in logs if log["writer"] == w] == [i for i in range(150) for _ in range(2)]
    # Each append's two lines are adjacent: the lock covered the whole write.
    for a, b in zip(logs[::2], logs[1::2], strict=True):
        assert (a["writer"], a["i"], a["pad"][0], b["pad"]) == (b["writer"], b["i"], "x", "y")


def test_cal_a_killed_holder_releases_the_lock(tmp_path):
    path = str(tmp_path / "journal.log")
    Path(path).touch()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        got = threading.Event()
        mine = FlockJournalLock(path)

        def take() -> None:
            mine.acquire()
            got.set()

        threading.Thread(target=take, daemon=True).start()
        assert not got.wait(0.3)  # held by the other process
        holder.kill()  # SIGKILL: no chance to release anything
        holder.wait(10)
        assert got.wait(5)  # released by the kernel at once: no stale lock file, no grace period
        mine.release()
        for _ in range(3):  # the same lock object serves again, in turn
            mine.acquire()
            mine.release()
    finally:
        holder.kill()
        holder.wait(10)
