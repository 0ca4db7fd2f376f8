"""The fast alignment paths (a reused grid, one batched join) must score exactly like aligning each replicate alone."""

import numpy as np
import polars as pl
import pytest

from calabaria.targets import Target, TargetError


def _replicates(n: int, seed: int, *, shuffle: bool) -> list[dict[str, pl.DataFrame]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = np.arange(0, 30, 1.0 if not shuffle else 0.5)
        df = pl.DataFrame(
            {
                "t": t,
                "region": ["a"] * t.size,
                "cases": rng.poisson(20, t.size) + 1.0,
                "deaths": rng.poisson(3, t.size) + 1.0,
            }
        )
        out.append({"out": df.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(1 << 30))) if shuffle else df})
    return out


CONFIGS = [
    {"keys": ["t"], "values": ["cases", "deaths"], "loss": "poisson_nll", "combine": "mean_loss"},
    {"keys": ["t", "region"], "values": {"cases": "cases"}, "loss": "sse", "combine": "mean_signal"},
    {
        "keys": [],
        "asof": "t",
        "values": ["cases"],
        "loss": "binomial_nll",
        "loss_options": {"n_column": "n"},
        "combine": "mean_likelihood",
    },
    {
        "keys": ["region"],
        "asof": "t",
        "values": ["cases"],
        "loss": "gaussian_nll",
        "loss_options": {"sigma": 2.0},
        "combine": "mean_loss",
    },
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("shuffle", [False, True])
def test_cal_batched_alignment_matches_per_replicate(config, shuffle):
    observed = pl.DataFrame(
        {
            "t": [2.25, 5.0, 7.0, 11.5],
            "region": ["a"] * 4,
            "cases": [18.0, 22.0, 19.0, 25.0],
            "deaths": [2.0, 3.0, 4.0, 2.0],
            "n": [100.0, 100.0, 120.0, 90.0],
        }
    )
    if config.get("asof") is None:
        observed = observed.with_columns(pl.col("t").round(0))
    target = Target.from_config({"name": "x", "output": "out", "observed": observed, **config})
    reps = _replicates(5, seed=3, shuffle=shuffle)
    batched = target._inputs_batched([r["out"] for r in reps], list(range(len(reps))))
    assert batched is not None  # the fast path really ran
    single = [target._inputs(r, i) for i, r in enumerate(reps)]
    _assert_same(batched, single)
    # Through evaluate's own path (grids made, reused across calls, replaced when a table does not fit): the same.
    for _ in range(2):
        _assert_same(target._inputs_all(reps), single)


def _assert_same(fast, reference):
    for a, b in zip(fast, reference, strict=True):
        np.testing.assert_array_equal(a.sim, b.sim)
        np.testing.assert_array_equal(a.obs, b.obs)
        assert a.extras.keys() == b.extras.keys()
        for key in a.extras:
            np.testing.assert_array_equal(a.extras[key], b.extras[key])


def _line_target():
    observed = pl.DataFrame({"t": [2, 4, 6], "cases": [1.0, 2.0, 3.0]})
    return Target.from_config(
        {"name": "x", "output": "out", "observed": observed, "keys": ["t"], "values": ["cases"], "loss": "mse"}
    )


def test_cal_grid_is_reused_only_for_equal_join_columns():
    target = _line_target()
    t = np.arange(10)
    first = {"out": pl.DataFrame({"t": t, "cases": t * 1.0})}
    target.evaluate([first])
    grid = target._memo["grid"]
    np.testing.assert_array_equal(grid.rows, [2, 4, 6])
    # Same days, other values: the grid is reused (the very same object) and the values are read at its rows.
    other = {"out": pl.DataFrame({"t": t, "cases": t * 10.0})}
    assert target._inputs_all([other])[0].sim.tolist() == [20.0, 40.0, 60.0]
    assert target._memo["grid"] is grid
    # Same length, days in another order: not reused; the new grid is the join's answer.
    reordered = {"out": pl.DataFrame({"t": t[::-1], "cases": t[::-1] * 1.0})}
    assert target._inputs_all([reordered])[0].sim.tolist() == [2.0, 4.0, 6.0]
    assert target._memo["grid"] is not grid
    np.testing.assert_array_equal(target._memo["grid"].rows, [7, 5, 3])
    # Same values under another dtype: a new grid too (dtypes are part of equality).
    floats = {"out": pl.DataFrame({"t": t[::-1] * 1.0, "cases": t[::-1] * 1.0})}
    assert not target._memo["grid"].fits(floats["out"])
    assert target._inputs_all([floats])[0].sim.tolist() == [2.0, 4.0, 6.0]


def test_cal_reused_grid_still_reports_missing_columns_and_values():
    target = _line_target()
    t = np.arange(10)
    target.evaluate([{"out": pl.DataFrame({"t": t, "cases": t * 1.0})}])
    no_cases = {"out": pl.DataFrame({"t": t, "deaths": t * 1.0})}
    with pytest.raises(TargetError, match=r"replicate 0: the simulated output has no column\(s\) \['cases'\]"):
        target.evaluate([no_cases])
    nulls = {"out": pl.DataFrame({"t": t, "cases": [1.0, 2.0, 3.0, 4.0, None, 6, 7, 8, 9, 10]})}
    with pytest.raises(TargetError, match="replicate 1 has 1 missing, NaN or infinite"):
        target.evaluate([{"out": pl.DataFrame({"t": t, "cases": t * 1.0})}, nulls])
    no_t = {"out": pl.DataFrame({"day": t, "cases": t * 1.0})}
    with pytest.raises(TargetError, match="no column"):
        target.evaluate([no_t])


def test_cal_batched_failures_still_name_the_replicate():
    observed = pl.DataFrame({"t": [1, 2, 3], "cases": [1.0, 2.0, 3.0]})
    target = Target.from_config(
        {"name": "x", "output": "out", "observed": observed, "keys": ["t"], "values": ["cases"], "loss": "mse"}
    )
    good = {"out": pl.DataFrame({"t": [1, 2, 3], "cases": [1.0, 2.0, 3.0]})}
    nan = {"out": pl.DataFrame({"t": [1, 2, 3], "cases": [1.0, float("nan"), 3.0]})}
    short = {"out": pl.DataFrame({"t": [1, 2], "cases": [1.0, 2.0]})}
    with pytest.raises(TargetError, match="replicate 1 has 1 missing, NaN or infinite"):
        target.evaluate([good, nan, good])
    with pytest.raises(TargetError, match="replicate 2"):
        target.evaluate([good, good, short])
    with pytest.raises(TargetError, match="replicate 1 has no output 'out'"):
        target.evaluate([good, {"other": good["out"]}])
