"""Simulation outputs on the wire: one Arrow IPC stream per named table.

A simulation returns ``{name: table}``; workers ship ``{name: bytes}`` (the contracts' ``SimReturn``) and whoever
needs the tables decodes them with :func:`from_ipc`. polars DataFrames are written with polars' own IPC writer so
every polars dtype (categoricals, enums, nested types, nulls) round-trips exactly; pyarrow Tables are written with
pyarrow and come back as the polars DataFrame ``polars.from_arrow`` would give.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import polars as pl
import pyarrow as pa


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def table_to_ipc(name: str, table: pl.DataFrame | pa.Table) -> bytes:
    """One table as an uncompressed Arrow IPC stream; TypeError (naming ``name``) for anything else."""
    buf = io.BytesIO()
    if isinstance(table, pl.DataFrame):
        # Uncompressed: outputs are small and short-lived; compression costs more CPU than the bytes it saves here.
        table.write_ipc_stream(buf, compression="uncompressed")
    elif isinstance(table, pa.Table):
        with pa.ipc.new_stream(buf, table.schema) as writer:
            writer.write_table(table)
    else:
        hint = " (convert it with polars.from_pandas)" if type(table).__name__ == "DataFrame" else ""
        raise TypeError(
            f"output {name!r} is a {_type_name(table)}; simulation outputs must be polars.DataFrame or "
            f"pyarrow.Table{hint}"
        )
    return buf.getvalue()


def to_ipc(outputs: Mapping[str, pl.DataFrame | pa.Table]) -> dict[str, bytes]:
    """Encode every named table as an Arrow IPC stream.

    Raises TypeError when ``outputs`` is not a mapping, a name is not a non-empty string, or a value is not a
    polars DataFrame / pyarrow Table; the message names the offending output and its type.
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
