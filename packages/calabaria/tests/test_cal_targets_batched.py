"""The batched alignment (all replicates in one join) must score exactly like aligning each replicate alone."""

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
    batched = target._inputs_batched(reps)
    assert batched is not None  # the fast path really ran
    single = [target._inputs(r, i) for i, r in enumerate(reps)]
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_array_equal(a.sim, b.sim)
        np.testing.assert_array_equal(a.obs, b.obs)
        assert a.extras.keys() == b.extras.keys()
        for key in a.extras:
            np.testing.assert_array_equal(a.extras[key], b.extras[key])


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
