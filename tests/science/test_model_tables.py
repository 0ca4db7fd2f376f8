"""Models may return pandas DataFrames and dicts of equal-length arrays (issue 14 item 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from modelops.services.ipc import from_ipc, to_ipc


def test_pandas_frames_and_column_dicts_round_trip() -> None:
    frame = pd.DataFrame({"day": np.arange(3), "cases": [1.5, 2.0, np.nan], "who": ["a", "b", None]})
    indexed = pd.DataFrame({"cases": [4, 5]}, index=pd.Index([10, 11], name="day"))
    back = from_ipc(to_ipc({"p": frame, "i": indexed, "d": {"day": np.arange(3), "x": [0.1, 0.2, 0.3]}}))
    assert back["p"]["cases"].to_list()[:2] == [1.5, 2.0] and back["p"]["cases"].is_null().to_list()[2]
    assert back["p"]["who"].to_list() == ["a", "b", None]
    assert back["i"].columns == ["day", "cases"] and back["i"]["day"].to_list() == [10, 11]  # a named index is data
    assert back["d"].equals(pl.DataFrame({"day": np.arange(3), "x": [0.1, 0.2, 0.3]}))


def test_column_dicts_with_unequal_lengths_or_bad_columns_are_refused() -> None:
    with pytest.raises(TypeError, match=r"output 'd': columns must have equal lengths, got \{'a': 2, 'b': 3\}"):
        to_ipc({"d": {"a": [1, 2], "b": [1, 2, 3]}})
    with pytest.raises(TypeError, match=r"column 'a' is a builtins\.int"):
        to_ipc({"d": {"a": 3}})
    with pytest.raises(TypeError, match="column names must be non-empty strings"):
        to_ipc({"d": {1: [1]}})
