"""Targets: config validation, alignment (exact and as-of), replicate combination, weighted sums, and errors."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from calabaria.targets import TargetError, TargetSet
from modelops_contracts import TargetEvaluation, TargetEvaluator

OBS = {"columns": {"t": [1, 2, 3], "cases": [2, 4, 6]}}


def target(**overrides) -> dict:
    base = {"name": "inc", "output": "incidence", "observed": OBS, "keys": ["t"], "values": ["cases"], "loss": "sse"}
    base.update(overrides)
    return base


def rep(t, cases, name="incidence", col="cases") -> dict[str, pl.DataFrame]:
    return {name: pl.DataFrame({"t": t, col: cases})}


def test_is_a_target_evaluator_and_scores_an_exact_join() -> None:
    ts = TargetSet.from_config({"targets": [target()]})
    assert isinstance(ts, TargetEvaluator)
    # simulated rows in another order, with an extra day the data does not have
    ev = ts.evaluate([rep([4, 3, 2, 1], [0.0, 6.0, 5.0, 2.0])])
    assert isinstance(ev, TargetEvaluation)
    assert ev.loss == pytest.approx(1.0)
    assert dict(ev.target_losses) == {"inc": pytest.approx(1.0)}
    assert ev.summaries["inc"]["points"] == 3


def test_replicate_combinations() -> None:
    reps = [rep([1, 2, 3], [1.0, 3.0, 5.0]), rep([1, 2, 3], [3.0, 5.0, 7.0])]
    signal = TargetSet.from_config({"targets": [target(combine="mean_signal")]}).evaluate(reps)
    assert signal.loss == pytest.approx(0.0)  # the mean signal is exactly the data
    assert list(signal.replicate_losses) == []
    per_loss = TargetSet.from_config({"targets": [target(combine="mean_loss")]}).evaluate(reps)
    assert per_loss.loss == pytest.approx(3.0)  # each replicate is off by 1 at three points
    assert [r["inc"] for r in per_loss.replicate_losses] == pytest.approx([3.0, 3.0])


def test_mean_likelihood_uses_log_sum_exp_with_extreme_values() -> None:
    obs = {"columns": {"t": [0], "cases": [1000]}}
    cfg = target(observed=obs, loss="poisson_nll", combine="mean_likelihood")
    ev = TargetSet.from_config({"targets": [cfg]}).evaluate([rep([0], [10.0]), rep([0], [20.0])])
    ll = [-lam + 1000 * math.log(lam) - math.lgamma(1001) for lam in (10.0, 20.0)]
    top = max(ll)
    expected = -(top + math.log(sum(math.exp(v - top) for v in ll) / 2))
    assert ev.loss == pytest.approx(expected)
    assert ev.loss > 1000  # both likelihoods underflow to 0 as plain floats, yet the loss is finite
    assert [r["inc"] for r in ev.replicate_losses] == pytest.approx([-v for v in ll])


def test_weighted_sum_over_named_targets_and_value_mapping() -> None:
    prev = {"columns": {"t": [1, 2], "pos": [3, 5], "tested": [10, 10]}}
    cfg = {
        "targets": [
            target(weight=2.0),
            {
                "name": "prevalence",
                "output": "prev",
                "observed": prev,
                "keys": ["t"],
                "values": {"pos": "p"},
                "loss": "binomial_nll",
                "loss_options": {"n_column": "tested"},
            },
        ]
    }
    ts = TargetSet.from_config(cfg)
    outputs = {**rep([1, 2, 3], [2.0, 4.0, 7.0]), "prev": pl.DataFrame({"t": [1, 2], "p": [0.3, 0.5]})}
    ev = ts.evaluate([outputs])
    binom = -sum(
        math.log(math.comb(10, k)) + k * math.log(p) + (10 - k) * math.log(1 - p) for k, p in ((3, 0.3), (5, 0.5))
    )
    assert ev.target_losses["inc"] == pytest.approx(1.0)
    assert ev.target_losses["prevalence"] == pytest.approx(binom)
    assert ev.loss == pytest.approx(2.0 * 1.0 + binom)


def test_asof_join_takes_the_latest_simulated_row_at_or_before_each_observation() -> None:
    obs = {"columns": {"t": [1.5, 3.0], "region": ["a", "a"], "cases": [10, 30]}}
    cfg = target(observed=obs, keys=["region"], asof="t")
    frame = pl.DataFrame({"t": [0.0, 1.0, 2.0, 3.0], "region": ["a"] * 4, "cases": [0.0, 11.0, 20.0, 30.0]})
    sim = {"incidence": frame}
    assert TargetSet.from_config({"targets": [cfg]}).evaluate([sim]).loss == pytest.approx(1.0)
    early = {"incidence": pl.DataFrame({"t": [2.0, 3.0], "region": ["a", "a"], "cases": [1.0, 2.0]})}
    with pytest.raises(TargetError, match=r"1 of 2 observed row\(s\) have no as-of match"):
        TargetSet.from_config({"targets": [cfg]}).evaluate([early])


def test_int_and_float_keys_join() -> None:
    ts = TargetSet.from_config({"targets": [target()]})
    assert ts.evaluate([rep([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])]).loss == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("outputs", "needle"),
    [
        ({"other": pl.DataFrame({"t": [1]})}, "replicate 0 has no output 'incidence'"),
        (rep([1, 2, 3], [1.0, 2.0, 3.0], col="infections"), "no column(s) ['cases']"),
        (rep([1, 2], [1.0, 2.0]), "1 of 3 observed row(s) have no matching simulated row, e.g. {'t': 3}"),
        (rep([7, 8], [1.0, 2.0]), "3 of 3 observed row(s)"),
        (rep([1, 1, 2, 3], [1.0, 1.0, 2.0, 3.0]), "duplicate rows for key {'t': 1}"),
        (rep([1, 2, 3], [1.0, float("nan"), 3.0]), "1 missing, NaN or infinite"),
        (rep([1, 2, 3], [1.0, None, 3.0]), "1 missing, NaN or infinite"),
        ({"incidence": pl.DataFrame({"t": ["1", "2", "3"], "cases": [1.0, 2.0, 3.0]})}, "key column 't' is Int64"),
        ({"incidence": pl.DataFrame(schema={"t": pl.Int64, "cases": pl.Float64})}, "is empty (0 rows)"),
    ],
)
def test_evaluation_failures_name_the_target_and_the_problem(outputs: dict, needle: str) -> None:
    ts = TargetSet.from_config({"targets": [target()]})
    with pytest.raises(TargetError) as info:
        ts.evaluate([outputs])
    assert str(info.value).startswith("target 'inc': ")
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({"targets": []}, "non-empty list"),
        ({"targets": [target(loss="rmse")]}, "unknown loss 'rmse'"),
        ({"targets": [target(combine="mean_likelihood")]}, "needs a likelihood loss"),
        ({"targets": [target(values=["deaths"])]}, "the observed data has no column(s) ['deaths']"),
        ({"targets": [target(weight=-1)]}, "'weight' must be a finite number >= 0"),
        ({"targets": [target(keys=[])]}, "give 'keys'"),
        ({"targets": [target(colour="red")]}, "unknown keys ['colour']"),
        ({"targets": [target(observed="missing.csv")]}, "does not exist"),
        ({"targets": [target(), target()]}, "unique"),
        ({"targets": [target(loss="gaussian_nll")]}, "exactly one of options 'sigma'"),
        ({"targets": [target(observed={"columns": {"t": [1, 2], "cases": [1.0, None]}})]}, "missing, NaN or infinite"),
        ({"targets": [target()], "base": "/"}, "unknown keys ['base']"),
    ],
)
def test_config_is_validated_eagerly(cfg: dict, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        TargetSet.from_config(cfg)
    assert needle in str(info.value)


def test_observed_files_relative_to_base_dir(tmp_path: Path) -> None:
    frame = pl.DataFrame({"t": [1, 2, 3], "cases": [2, 4, 6]})
    frame.write_csv(tmp_path / "inc.csv")
    frame.write_parquet(tmp_path / "inc.parquet")
    for name in ("inc.csv", "inc.parquet"):
        ts = TargetSet.from_config({"targets": [target(observed=name)], "base_dir": str(tmp_path)})
        assert ts.evaluate([rep([1, 2, 3], [2.0, 4.0, 8.0])]).loss == pytest.approx(4.0)


def test_outputs_as_arrow_ipc_bytes() -> None:
    import io

    buf = io.BytesIO()
    pl.DataFrame({"t": [1, 2, 3], "cases": [2.0, 4.0, 7.0]}).write_ipc_stream(buf)
    ts = TargetSet.from_config({"targets": [target()]})
    assert ts.evaluate([{"incidence": buf.getvalue()}]).loss == pytest.approx(1.0)


def test_dates_inlined_as_text_align_with_simulated_dates() -> None:
    import datetime as dt

    obs = {"columns": {"day": ["2024-01-02", "2024-01-03"], "cases": [5, 7]}}
    sim = {"incidence": pl.DataFrame({"day": [dt.date(2024, 1, d) for d in (1, 2, 3)], "cases": [0.0, 5.0, 8.0]})}
    exact = TargetSet.from_config({"targets": [target(observed=obs, keys=["day"])]})
    assert exact.evaluate([sim]).loss == pytest.approx(1.0)
    stamps = {"columns": {"at": ["2024-01-01 12:00:00", "2024-01-03 00:00:00"], "cases": [1, 4]}}
    times = [dt.datetime(2024, 1, d) for d in (1, 2, 3)]
    asof = TargetSet.from_config({"targets": [target(observed=stamps, keys=[], asof="at")]})
    frame = pl.DataFrame({"at": times, "cases": [1.0, 2.0, 3.0]})
    assert asof.evaluate([{"incidence": frame}]).loss == pytest.approx(1.0)  # 12:00 on day 1 takes day 1's row
    garbled = {"columns": {"day": ["soon"], "cases": [1]}}
    bad = TargetSet.from_config({"targets": [target(observed=garbled, keys=["day"])]})
    with pytest.raises(TargetError, match="does not parse as Date"):
        bad.evaluate([sim])
