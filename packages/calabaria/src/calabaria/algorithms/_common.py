"""Helpers shared by the algorithms: option checking and parameter-set construction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelops_contracts import UniqueParameterSet

from ..parameters import ParameterSpace, _plain

TERMINAL = ("completed", "failed", "timeout")


def reject_unknown(kind: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Unknown options are a TypeError naming them, so a typo in a study spec never passes silently."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"{kind} got unknown options {unknown}; it accepts {sorted(allowed)}")


def parameter_set(space: ParameterSpace, params: Mapping[str, Any]) -> UniqueParameterSet:
    """A UniqueParameterSet with plain Python values and the space's fixed values included."""
    plain = {k: _plain(v) for k, v in params.items()}
    plain.update(space.fixed)
    return UniqueParameterSet.from_dict(space.validate(plain))


def check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"ask(n) needs a non-negative int, got {n!r}")
    return n
