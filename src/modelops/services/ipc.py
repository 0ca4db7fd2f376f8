"""Simulation outputs on the wire: one Arrow IPC stream per named table.

A simulation returns ``{name: table}``; workers ship ``{name: bytes}`` (the contracts' ``SimReturn``) and whoever
needs the tables decodes them with :func:`from_ipc`. polars DataFrames are written with polars' own IPC writer so
every polars dtype (categoricals, enums, nested types, nulls) round-trips exactly; pyarrow Tables are written with
pyarrow and come back as the polars DataFrame ``polars.from_arrow`` would give. A pandas DataFrame (converted with
``polars.from_pandas``; its index is dropped unless named, then kept as a column) and a mapping of column name to
equal-length arrays or lists are accepted too, so models written against pandas or plain numpy need no conversion.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import polars as pl
import pyarrow as pa


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _from_pandas(name: str, frame: Any) -> pl.DataFrame:
    index = frame.index
    # A named index (e.g. ``day`` after a groupby) carries data; the default RangeIndex does not.
    if any(n is not None for n in getattr(index, "names", [None])):
        frame = frame.reset_index()
    try:
        return pl.from_pandas(frame)
    except Exception as exc:  # pandas' object columns fail in several ways
        raise TypeError(f"output {name!r} is a pandas DataFrame polars cannot convert: {exc}") from None


def _from_columns(name: str, columns: Mapping[Any, Any]) -> pl.DataFrame:
    lengths: dict[str, int] = {}
    for col, values in columns.items():
        if not isinstance(col, str) or not col:
            raise TypeError(f"output {name!r}: column names must be non-empty strings, got {col!r}")
        try:
            lengths[col] = len(values)
        except TypeError:
            raise TypeError(
                f"output {name!r}: column {col!r} is a {_type_name(values)}; give a list or array per column"
            ) from None
    if len(set(lengths.values())) > 1:
        raise TypeError(f"output {name!r}: columns must have equal lengths, got {lengths}")
    try:
        return pl.DataFrame(dict(columns))
    except Exception as exc:
        raise TypeError(f"output {name!r} is not a table of columns: {exc}") from None


def as_table(name: str, table: Any) -> pl.DataFrame | pa.Table:
    """A model's output as a polars DataFrame or pyarrow Table (pandas and dicts of columns are converted)."""
    if isinstance(table, pl.DataFrame | pa.Table):
        return table
    kind = type(table)
    if kind.__name__ == "DataFrame" and kind.__module__.split(".")[0] == "pandas":
        return _from_pandas(name, table)
    if isinstance(table, Mapping):
        return _from_columns(name, table)
    raise TypeError(
        f"output {name!r} is a {_type_name(table)}; simulation outputs must be a polars.DataFrame, pyarrow.Table, "
        "pandas.DataFrame or a mapping of column name to equal-length arrays"
    )


def table_to_ipc(name: str, table: Any) -> bytes:
    """One table as an uncompressed Arrow IPC stream; TypeError (naming ``name``) for anything else."""
    buf = io.BytesIO()
    table = as_table(name, table)
    if isinstance(table, pl.DataFrame):
        # Uncompressed: outputs are small and short-lived; compression costs more CPU than the bytes it saves here.
        table.write_ipc_stream(buf, compression="uncompressed")
    else:
        with pa.ipc.new_stream(buf, table.schema) as writer:
            writer.write_table(table)
    return buf.getvalue()


def to_ipc(outputs: Mapping[str, Any]) -> dict[str, bytes]:
    """Encode every named table as an Arrow IPC stream.

    Raises TypeError when ``outputs`` is not a mapping, a name is not a non-empty string, or a value is not a
    table (see :func:`as_table`); the message names the offending output and its type.
    """
    if not isinstance(outputs, Mapping):
        raise TypeError(
            f"simulation outputs must be a mapping of output name to table, got a {_type_name(outputs)}; "
            "return e.g. {'incidence': polars.DataFrame(...)}"
        )
    encoded: dict[str, bytes] = {}
    for name, table in outputs.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"output names must be non-empty strings, got {name!r} ({_type_name(name)})")
        encoded[name] = table_to_ipc(name, table)
    return encoded


def from_ipc(data: Mapping[str, bytes]) -> dict[str, pl.DataFrame]:
    """Decode ``{name: Arrow IPC stream bytes}`` into polars DataFrames.

    Raises TypeError for values that are not bytes-like and ValueError (naming the output) for bytes that are not a
    valid Arrow IPC stream.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a mapping of output name to Arrow IPC bytes, got a {_type_name(data)}")
    tables: dict[str, pl.DataFrame] = {}
    for name, payload in data.items():
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"output {name!r} is a {_type_name(payload)}; expected Arrow IPC stream bytes")
        try:
            tables[name] = pl.read_ipc_stream(io.BytesIO(payload))
        except Exception as exc:  # polars raises several error types for malformed streams
            raise ValueError(f"output {name!r} is not a valid Arrow IPC stream ({len(payload)} bytes): {exc}") from exc
    return tables
