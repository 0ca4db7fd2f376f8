"""Parameter sets and their stable identifiers.

A parameter set is identified by a digest of its canonical JSON form, so the same parameters give the same
``param_id`` in every process, on every machine, in every release of this package. The algorithm is fixed:

    BLAKE2b(digest_size=32) over the UTF-8 bytes of
    "contracts:param:v1|" + json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

Only plain JSON-like values are allowed (bool, int, str, finite float, None, and lists/tuples/dicts with str keys of
these). numpy scalars are refused on purpose, even ``numpy.float64`` which subclasses float: their JSON form and
their type would otherwise leak into ids and results silently. Convert with ``float(x)`` / ``int(x)`` first.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .errors import ContractViolationError

PARAM_ID_PREFIX = "contracts:param:v1|"
PARAM_ID_LENGTH = 64

Scalar = bool | int | float | str | None


def _check_value(value: Any, path: str) -> None:
    # type() rather than isinstance(): subclasses of float/int (numpy.float64, IntEnum...) are refused.
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return
    if kind is float:
        if not math.isfinite(value):
            raise ContractViolationError(
                f"parameter {path} is {value!r}; parameter values must be finite floats (no NaN or inf)"
            )
        return
    if kind in (list, tuple):
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]")
        return
    if kind is dict:
        _check_mapping(value, path)
        return
    raise ContractViolationError(
        f"parameter {path} has type {kind.__module__}.{kind.__qualname__}; allowed are bool, int, str, "
        "finite float, None and lists/tuples/dicts of these (convert numpy scalars with float()/int())"
    )


def _check_mapping(params: Mapping[str, Any], path: str) -> None:
    for key, value in params.items():
        if type(key) is not str:
            raise ContractViolationError(
                f"parameter key {key!r} at {path or 'top level'} has type {type(key).__name__}; keys must be str"
            )
        _check_value(value, f"{path}.{key}" if path else repr(key))


def canonical_json(params: Mapping[str, Any]) -> str:
    """The canonical JSON text of a parameter mapping (validated), as hashed by :func:`make_param_id`."""
    if not isinstance(params, Mapping):
        raise ContractViolationError(f"parameters must be a mapping of str to values, not {type(params).__name__}")
    plain = dict(params)
    _check_mapping(plain, "")
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_param_id(params: Mapping[str, Any]) -> str:
    """Return the stable 64-hex-character id of a parameter mapping.

    Key order does not matter; value types do (``1`` and ``1.0`` and ``True`` give different ids).
    Raises ContractViolationError for values outside the allowed JSON-like types or non-finite floats.
    """
    text = PARAM_ID_PREFIX + canonical_json(params)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=32).hexdigest()


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class UniqueParameterSet:
    """An immutable parameter set with its stable id.

    ``params`` is a read-only mapping (``types.MappingProxyType``); build one with :meth:`from_dict`. Constructing one
    directly checks that ``param_id`` is the id of ``params``, so an id can never drift from its parameters.
    """

    params: Mapping[str, Any]
    param_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.param_id, str) or not self.param_id:
            raise ContractViolationError("param_id must be a non-empty string")
        # Thaw first: a frozen set's nested values are read-only proxies and tuples, which hash like dicts and lists.
        expected = make_param_id(_thaw(self.params))
        if expected != self.param_id:
            raise ContractViolationError(
                f"param_id {self.param_id!r} does not match its params (expected {expected}); "
                "build parameter sets with UniqueParameterSet.from_dict(params)"
            )
        if not isinstance(self.params, MappingProxyType):
            object.__setattr__(self, "params", _freeze(dict(self.params)))

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> UniqueParameterSet:
        """Build a parameter set from a plain mapping, computing its id."""
        return cls(params=_freeze(dict(params)), param_id=make_param_id(params))

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable, JSON-ready copy of the parameters."""
        plain: dict[str, Any] = json.loads(canonical_json(_thaw(self.params)))  # an object: params is a mapping
        return plain


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value
