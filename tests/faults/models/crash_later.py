"""Imports fine until the file named by $CRASH_LATER_MARKER exists; then every import (a new worker) segfaults.

Its simulation exits the worker, so every group needs a new worker, which cannot start: the pool must give up."""

import ctypes
import os

if os.path.exists(os.environ.get("CRASH_LATER_MARKER", "/nonexistent")):
    ctypes.string_at(0)


def simulate(params, seed):
    os._exit(1)
