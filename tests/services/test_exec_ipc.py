"""Arrow IPC round-trips: exact for polars (dtypes, nulls, categoricals), faithful for pyarrow, clear errors."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal
from polars.testing.parametric import column, dataframes

from modelops.services.ipc import from_ipc, to_ipc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=dataframes(max_cols=6, max_size=40, allow_null=True))
def test_exec_ipc_polars_roundtrip_is_exact(df: pl.DataFrame) -> None:
    back = from_ipc(to_ipc({"t": df}))["t"]
    assert back.schema == df.schema
    assert_frame_equal(back, df, check_exact=True)


@settings(max_examples=30, deadline=None)
@given(
    df=dataframes(
        [
            column("cat", dtype=pl.Categorical, allow_null=True),
            column("i", dtype=pl.Int32, allow_null=True),
            column("f", dtype=pl.Float64, allow_null=True),
            column("s", dtype=pl.String, allow_null=True),
        ],
        max_size=30,
    )
)
def test_exec_ipc_categoricals_and_nulls_roundtrip(df: pl.DataFrame) -> None:
    back = from_ipc(to_ipc({"a": df, "b": df.head(3)}))
    assert list(back) == ["a", "b"]
    assert_frame_equal(back["a"], df, check_exact=True)
    assert back["a"].schema["cat"] == pl.Categorical


def test_exec_ipc_enum_and_nested_types() -> None:
    df = pl.DataFrame(
        {
            "state": pl.Series(["S", "I", None, "R"], dtype=pl.Enum(["S", "I", "R"])),
            "xs": [[1, 2], None, [], [3]],
            "when": pl.Series([0, 1, 2, None]).cast(pl.Datetime("ms")),
            "rec": [{"a": 1, "b": "x"}, None, {"a": 3, "b": None}, {"a": None, "b": "z"}],
        }
    )
    back = from_ipc(to_ipc({"df": df}))["df"]
    assert back.schema == df.schema
    assert_frame_equal(back, df, check_exact=True)


def test_exec_ipc_pyarrow_table_comes_back_as_polars() -> None:
    table = pa.table(
        {
            "u": pa.array([1, None, 2**63], pa.uint64()),
            "d": pa.array(["a", "b", None]).dictionary_encode(),
            "x": pa.array([0.5, None, -1.0]),
        }
    )
    back = from_ipc(to_ipc({"t": table}))["t"]
    assert_frame_equal(back, pl.from_arrow(table), check_exact=True)
    assert back["u"].to_list() == [1, None, 2**63]


def test_exec_ipc_rejects_other_types_naming_output_and_type() -> None:
    with pytest.raises(TypeError, match=r"output .bad. is a builtins\.list.*pyarrow\.Table, pandas\.DataFrame"):
        to_ipc({"good": pl.DataFrame({"a": [1]}), "bad": [1, 2]})
    with pytest.raises(TypeError, match=r"mapping of output name to table, got a builtins\.tuple"):
        to_ipc((pl.DataFrame(),))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="output names must be non-empty strings"):
        to_ipc({3: pl.DataFrame()})  # type: ignore[dict-item]


def test_exec_ipc_from_ipc_rejects_garbage_naming_output() -> None:
    with pytest.raises(ValueError, match=r"output 'x' is not a valid Arrow IPC stream \(5 bytes\)"):
        from_ipc({"x": b"hello"})
    with pytest.raises(TypeError, match=r"output 'y' is a builtins\.str"):
        from_ipc({"y": "text"})  # type: ignore[dict-item]
