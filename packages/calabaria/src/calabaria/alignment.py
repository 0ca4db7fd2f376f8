"""Aligning a simulated table with observed data: an exact join on key columns, or an as-of join on time.

Every observed row must find its simulated counterpart; a model that simulates more rows (more days, more groups)
than were observed is fine, the extra rows are ignored. Alignment problems raise :class:`AlignmentError` with the
first unmatched keys, never an empty or partial comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

_ROW = "__calabaria_row__"
_MATCH = "__calabaria_matched__"


class AlignmentError(ValueError):
    """The simulated output cannot be aligned with the observed data."""


@dataclass(frozen=True)
class Alignment:
    """How to align: exact ``keys`` (may be empty with ``asof``), optional as-of column, value columns obs -> sim."""

    keys: tuple[str, ...]
    asof: str | None
    values: Mapping[str, str]


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _harmonise(obs: pl.DataFrame, sim: pl.DataFrame, cols: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give join columns one dtype on both sides: numbers become Float64 (1 matches 1.0), other types must agree."""
    for col in cols:
        a, b = obs.schema[col], sim.schema[col]
        if a == b:
            continue
        if _numeric(a) and _numeric(b):
            obs = obs.with_columns(pl.col(col).cast(pl.Float64))
            sim = sim.with_columns(pl.col(col).cast(pl.Float64))
        elif a.is_temporal() and b.is_temporal():
            sim = sim.with_columns(pl.col(col).cast(a))
        elif a == pl.String and b.is_temporal():
            # Observed data travel as JSON (dates as ISO strings); parse them to the model's date type.
            try:
                obs = obs.with_columns(_parse_temporal(col, b, "observed data"))
            except pl.exceptions.PolarsError as exc:
                raise AlignmentError(f"observed key column {col!r} does not parse as {b}: {exc}") from None
        else:
            raise AlignmentError(f"key column {col!r} is {a} in the observed data but {b} in the simulated output")
    return obs, sim


def _parse_temporal(col: str, dtype: pl.DataType, what: str) -> pl.Expr:
    if dtype == pl.Date:
        return pl.col(col).str.to_date(strict=True)
    if isinstance(dtype, pl.Datetime):
        return pl.col(col).str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=True)
    raise AlignmentError(f"key column {col!r} of the {what} is text; the simulated output has {dtype}")


def check_columns(df: pl.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AlignmentError(f"{what} has no column(s) {missing}; its columns are {df.columns}")


def align(obs: pl.DataFrame, sim: pl.DataFrame, how: Alignment) -> pl.DataFrame:
    """Return the observed rows (in their order) with one ``sim:<obs column>`` column per value column."""
    join_cols = [*how.keys, *([how.asof] if how.asof else [])]
    sim_cols = list(dict.fromkeys(how.values.values()))
    check_columns(sim, [*join_cols, *sim_cols], "the simulated output")
    if sim.height == 0:
        raise AlignmentError("the simulated output is empty (0 rows)")
    renamed = sim.select(
        *[pl.col(c) for c in join_cols],
        *[pl.col(s).alias(f"sim:{o}") for o, s in how.values.items()],
        pl.lit(True).alias(_MATCH),
    )
    left = obs.with_row_index(_ROW)
    left, renamed = _harmonise(left, renamed, join_cols)
    if how.asof is None:
        dupes = renamed.select(join_cols).is_duplicated()
        if dupes.any():
            example = renamed.filter(dupes).select(join_cols).row(0, named=True)
            raise AlignmentError(
                f"the simulated output has duplicate rows for key {example}; aggregate it so each key appears once"
            )
        joined = left.join(renamed, on=list(join_cols), how="left", maintain_order="left")
    else:
        joined = left.sort(how.asof).join_asof(
            renamed.sort(how.asof),
            on=how.asof,
            by=list(how.keys) or None,
            strategy="backward",
            check_sortedness=False,  # both sides were just sorted; polars cannot verify it within 'by' groups
        )
        joined = joined.sort(_ROW)
    # _MATCH is null exactly where no simulated row matched; a null *value* in a matched row is caught later as NaN.
    unmatched = joined.filter(pl.col(_MATCH).is_null())
    if unmatched.height:
        example = unmatched.select(join_cols).row(0, named=True)
        kind = "as-of match (no simulated row at or before it)" if how.asof else "matching simulated row"
        raise AlignmentError(
            f"{unmatched.height} of {obs.height} observed row(s) have no {kind}, e.g. {example}; "
            "the simulated output must cover every observed key"
        )
    return joined.drop(_ROW, _MATCH)
