"""Models and algorithms for the hostile-input corpus: one well-behaved line model, and each way user code misbehaves.

Referenced from the corpus's specs as ``hostile_model:<name>`` with ``model.project`` set to this directory.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

MARKUP = "[bold red]boom[/] [link=file:///etc/passwd]x[/link] :smile: [/] [red"


def simulate(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    """``y = slope * t + 1 + noise`` on t = 0..9 (output ``line``)."""
    rng = np.random.default_rng(seed)
    t = np.arange(10, dtype=np.int64)
    return {"line": pl.DataFrame({"t": t, "y": float(params["slope"]) * t + 1.0 + rng.normal(0, 0.5, t.size)})}


def raise_markup(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    """Every simulation fails with an error text full of rich markup and emoji codes."""
    raise ValueError(f"model failed: {MARKUP}")


def wrong_outputs(params: Mapping[str, Any], seed: int) -> Any:
    return {"[bold]not_line[/]": pl.DataFrame({"t": [0], "y": [1.0]})}


def not_a_mapping(params: Mapping[str, Any], seed: int) -> Any:
    return 42


def hang(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    time.sleep(10**6)
    raise AssertionError("unreachable")


def hang_sometimes(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    if seed % 10 == 0:
        time.sleep(10**6)
    return simulate(params, seed)


def exit_sometimes(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    if seed % 10 == 0:
        os._exit(1)
    return simulate(params, seed)


def segfault_sometimes(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    if seed % 10 == 0:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return simulate(params, seed)


def stop_self(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    if seed % 10 == 0:
        os.kill(os.getpid(), signal.SIGSTOP)
    return simulate(params, seed)


def kill_parent(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    os.kill(os.getppid(), signal.SIGKILL)
    return simulate(params, seed)


NOT_CALLABLE = 5


class RaisingAlgorithm:
    """An algorithm whose constructor raises (with markup in the message)."""

    def __init__(self, space: Any, **options: Any) -> None:
        raise RuntimeError(f"constructor failed: {MARKUP}")


class NoAskAlgorithm:
    """An algorithm without ask()."""

    def __init__(self, space: Any, **options: Any) -> None:
        self.space = space

    def tell(self, results: Any) -> None:
        pass
