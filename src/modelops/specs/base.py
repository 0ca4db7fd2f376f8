"""What every spec shares: strict models (unknown keys rejected) and YAML loading whose errors name the field.

A user who mistypes a key, or gives a value of the wrong kind, gets one message per problem naming the file, the
dotted field path and what was expected, never a pydantic traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SpecError(ValueError):
    """A spec could not be read or is invalid. ``problems`` lists one ``(field path, message)`` per problem."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"]
        lines += [f"  - {path or '(document)'}: {message}" for path, message in problems]
        super().__init__("\n".join(lines))


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _explain(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling against the spec reference"
    if kind == "missing":
        return "required; add this key"
    message = error["msg"]
    # pydantic prefixes errors raised by our validators with "Value error, "; the rest is already our wording.
    return message.removeprefix("Value error, ")


def problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    """One ``(field path, message)`` per pydantic error, in the user's words."""
    return [(_field_path(e["loc"]), _explain(e)) for e in exc.errors()]


def parse_spec(model: type[M], data: Any, source: str = "spec") -> M:
    """Validate a plain mapping as ``model``; raise SpecError naming every bad field."""
    if not isinstance(data, dict):
        raise SpecError(source, [("", f"expected a mapping of keys to values, got {type(data).__name__}")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, problems_from(exc)) from None


def read_yaml(path: str | Path) -> Any:
    """Read a YAML document through the input boundary (regular file, size limit, UTF-8, bounded safe YAML).

    A missing file, a FIFO, a wrong encoding, a syntax error, a duplicate key or an alias bomb becomes a SpecError
    naming the file (see :mod:`modelops.specs.inputs`).
    """
    from modelops.specs.inputs import read_yaml_file

    return read_yaml_file(path)


def load_spec(model: type[M], path: str | Path) -> M:
    """Read and validate a YAML spec file as ``model``."""
    return parse_spec(model, read_yaml(path), source=str(path))
