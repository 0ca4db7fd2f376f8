"""Models that misbehave on purpose, imported by reference on the workers (search_path: this directory)."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import polars as pl


def _ok(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {"out": pl.DataFrame({"k": [int(params["k"])], "seed": [seed]})}


def hang(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Sleeps for ever when params['hang'] is true."""
    if params.get("hang"):
        while True:
            time.sleep(3600)
    return _ok(params, seed)


def stop_self(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """SIGSTOPs its own process when params['stop'] is true."""
    if params.get("stop"):
        os.kill(os.getpid(), signal.SIGSTOP)
    return _ok(params, seed)


def exit_some(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """os._exit(1) for k divisible by 10 (10% of k = 0..n)."""
    if int(params["k"]) % 10 == 0:
        os._exit(1)
    return _ok(params, seed)


def segfault_some(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """A real segmentation fault (reads address 0) for k % 10 == 5."""
    if int(params["k"]) % 10 == 5:
        ctypes.string_at(0)
    return _ok(params, seed)


def kill_parent(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """SIGKILLs its parent process when params['kill'] is true, then returns normally."""
    if params.get("kill"):
        os.kill(os.getppid(), signal.SIGKILL)
    return _ok(params, seed)


def fine(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return _ok(params, seed)
