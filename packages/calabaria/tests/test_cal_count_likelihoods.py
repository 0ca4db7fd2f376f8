"""Negative binomial, rate floors, on_impossible, and duplicate observed keys."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from calabaria.losses import ImpossibleError, LossError, LossInputs, check_options, get_loss
from calabaria.targets import IMPOSSIBLE_PENALTY, TargetError, TargetSet

OBS = {"columns": {"day": [0, 1, 2, 3], "cases": [0, 3, 7, 2]}}


def _inputs(sim, obs, **extras) -> LossInputs:
    arrays = {k: np.asarray(v, float) for k, v in extras.items()}
    return LossInputs(np.asarray(sim, float), np.asarray(obs, float), arrays)


def test_cal_negative_binomial_matches_scipy_and_tends_to_poisson() -> None:
    nb = get_loss("negative_binomial_nll")
    sim, obs, r = [0.5, 2.0, 9.0, 40.0], [0, 3, 7, 2], 3.5
    p = r / (r + np.array(sim))
    expected = -stats.nbinom.logpmf(obs, r, p).sum()
    assert nb(_inputs(sim, obs, dispersion=[r] * 4), {"dispersion": r}) == pytest.approx(expected, rel=1e-12)
    big = 1e9  # r -> infinity: the Poisson
    poisson = get_loss("poisson_nll")(_inputs(sim, obs), {})
    assert nb(_inputs(sim, obs, dispersion=[big] * 4), {"dispersion": big}) == pytest.approx(poisson, rel=1e-6)
    assert nb(_inputs([0.0], [0], dispersion=[2.0]), {"dispersion": 2.0}) == pytest.approx(0.0)


def test_cal_rate_floor_and_impossible_errors() -> None:
    poisson = get_loss("poisson_nll")
    with pytest.raises(ImpossibleError, match="rate_floor"):
        poisson(_inputs([0.0, 1.0], [2, 1]), {})
    floored = poisson(_inputs([0.0, 1.0], [2, 1]), {"rate_floor": 0.5})
    assert floored == pytest.approx(-(stats.poisson.logpmf(2, 0.5) + stats.poisson.logpmf(1, 1.0)))
    with pytest.raises(LossError, match="rate_floor"):
        check_options(poisson, {"rate_floor": -1})
    nb = get_loss("negative_binomial_nll")
    with pytest.raises(LossError, match="exactly one of options 'dispersion'"):
        check_options(nb, {})
    with pytest.raises(LossError, match="positive finite"):
        check_options(nb, {"dispersion": 0})


def _target(**extra) -> dict:
    return {"name": "inc", "output": "inc", "observed": OBS, "keys": ["day"], "values": ["cases"], **extra}


def _rep(cases, **cols) -> dict:
    return {"inc": pl.DataFrame({"day": [0, 1, 2, 3], "cases": cases, **cols})}


def test_cal_on_impossible_penalty_is_finite_graded_and_fail_keeps_the_old_behaviour() -> None:
    ts = TargetSet.from_config({"targets": [_target(loss="poisson_nll")]})
    one_zero = ts.evaluate([_rep([0.0, 0.0, 7.0, 2.0])])
    two_zeros = ts.evaluate([_rep([0.0, 0.0, 0.0, 2.0])])
    assert IMPOSSIBLE_PENALTY < one_zero.loss < two_zeros.loss < 2 * IMPOSSIBLE_PENALTY
    assert one_zero.summaries["inc"]["impossible"]["count"] == 1
    fine = ts.evaluate([_rep([0.5, 3.0, 7.0, 2.0])])
    assert fine.loss < 20 and "impossible" not in fine.summaries["inc"]
    strict = TargetSet.from_config({"targets": [_target(loss="poisson_nll", on_impossible="fail")]})
    with pytest.raises(TargetError, match="simulated rate is 0 at 1 point"):
        strict.evaluate([_rep([0.0, 0.0, 7.0, 2.0])])
    with pytest.raises(TargetError, match="on_impossible"):
        TargetSet.from_config({"targets": [_target(loss="poisson_nll", on_impossible="ignore")]})


def test_cal_mean_likelihood_counts_an_impossible_replicate_as_likelihood_zero() -> None:
    ts = TargetSet.from_config({"targets": [_target(loss="poisson_nll", combine="mean_likelihood")]})
    good = _rep([0.5, 3.0, 7.0, 2.0])
    mixed = ts.evaluate([good, _rep([0.0, 0.0, 7.0, 2.0])])
    alone = ts.evaluate([good])
    assert mixed.loss == pytest.approx(alone.loss + np.log(2))  # -log((L + 0) / 2)
    both = ts.evaluate([_rep([0.0, 0.0, 7.0, 2.0])] * 2)
    assert both.loss > IMPOSSIBLE_PENALTY


def test_cal_negative_binomial_dispersion_from_the_simulated_output() -> None:
    ts = TargetSet.from_config(
        {"targets": [_target(loss="negative_binomial_nll", loss_options={"dispersion_column": "k"})]}
    )
    sim = [0.5, 3.0, 7.0, 2.0]
    ev = ts.evaluate([_rep(sim, k=[2.0] * 4)])
    fixed = TargetSet.from_config({"targets": [_target(loss="negative_binomial_nll", loss_options={"dispersion": 2})]})
    assert ev.loss == pytest.approx(fixed.evaluate([_rep(sim)]).loss)
    with pytest.raises(TargetError, match="no column 'k'"):
        ts.evaluate([_rep(sim)])


def test_cal_observed_duplicate_keys_are_refused_with_key_and_rows() -> None:
    dup = {"columns": {"day": [0, 1, 1, 2], "cases": [1, 2, 3, 4]}}
    with pytest.raises(TargetError, match=r"repeated key \['day'\]; e\.g\. key \{'day': 1\} at rows \[1, 2\]"):
        TargetSet.from_config({"targets": [{**_target(loss="mse"), "observed": dup}]})
    two = {"columns": {"g": ["a", "a", "b"], "day": [0, 0, 0], "cases": [1, 2, 3]}}
    with pytest.raises(TargetError, match=r"key \{'g': 'a', 'day': 0\} at rows \[0, 1\]"):
        TargetSet.from_config({"targets": [{**_target(loss="mse"), "keys": ["g", "day"], "observed": two}]})
