"""Every loss against hand-computed values, and the stable -log(mean likelihood)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calabaria.losses import LossError, LossInputs, check_options, get_loss, neg_log_mean_exp


def inputs(sim, obs, **extras) -> LossInputs:
    extra = {k: np.asarray(v, float) for k, v in extras.items()}
    return LossInputs(np.asarray(sim, float), np.asarray(obs, float), extra)


def lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def test_distance_losses() -> None:
    x = inputs([1, 2, 3], [1, 1, 1])
    assert get_loss("sse")(x, {}) == pytest.approx(5.0)
    assert get_loss("mse")(x, {}) == pytest.approx(5 / 3)
    assert get_loss("mae")(x, {}) == pytest.approx(1.0)


def test_poisson_nll_is_the_full_negative_log_likelihood() -> None:
    # rate 2, count 3: 2 - 3 ln 2 + ln 3!;  rate 0.5, count 0: 0.5
    expected = (2 - 3 * math.log(2) + math.log(6)) + 0.5
    assert get_loss("poisson_nll")(inputs([2, 0.5], [3, 0]), {}) == pytest.approx(expected)
    # a zero rate where nothing was seen is fine (probability 1); where cases were seen it is an error, not inf
    assert get_loss("poisson_nll")(inputs([0.0], [0]), {}) == pytest.approx(0.0)
    with pytest.raises(LossError, match="rate is 0"):
        get_loss("poisson_nll")(inputs([0.0], [2]), {})


def test_binomial_nll() -> None:
    k, n, p = 3, 10, 0.2
    expected = -(math.log(math.comb(n, k)) + k * math.log(p) + (n - k) * math.log(1 - p))
    assert get_loss("binomial_nll")(inputs([p], [k], n=[n]), {}) == pytest.approx(expected)
    with pytest.raises(LossError, match=r"probabilities in \[0, 1\]"):
        get_loss("binomial_nll")(inputs([1.2], [k], n=[n]), {})
    with pytest.raises(LossError, match="more successes than trials"):
        get_loss("binomial_nll")(inputs([0.5], [11], n=[10]), {})


def test_beta_binomial_nll() -> None:
    k, n, p, c = 3, 10, 0.2, 5.0
    a, b = p * c, (1 - p) * c
    expected = -(math.log(math.comb(n, k)) + lbeta(k + a, n - k + b) - lbeta(a, b))
    got = get_loss("beta_binomial_nll")(inputs([p], [k], n=[n]), {"concentration": c})
    assert got == pytest.approx(expected)
    # overdispersion makes an outlier less surprising than under the binomial
    outlier = inputs([0.2], [9], n=[10])
    assert get_loss("beta_binomial_nll")(outlier, {"concentration": c}) < get_loss("binomial_nll")(outlier, {})


def test_gaussian_nll() -> None:
    expected = 0.5 * math.log(2 * math.pi * 4) + 1 / 8
    assert get_loss("gaussian_nll")(inputs([0.0], [1.0], sigma=[2.0]), {}) == pytest.approx(expected)


def test_nan_and_empty_inputs_are_errors_not_zero() -> None:
    with pytest.raises(LossError, match="NaN or infinite"):
        get_loss("sse")(inputs([1, np.nan], [1, 1]), {})
    with pytest.raises(LossError, match="no aligned points"):
        get_loss("mse")(inputs([], []), {})


def test_neg_log_mean_exp_is_stable_for_extreme_log_likelihoods() -> None:
    # -log((e^-1000 + e^-1001) / 2) = 1000 - log((1 + e^-1) / 2); naively exp underflows to 0 and the loss is inf
    assert neg_log_mean_exp(np.array([-1000.0, -1001.0])) == pytest.approx(1000 - math.log((1 + math.exp(-1)) / 2))
    with np.errstate(divide="ignore"):
        assert np.isinf(-np.log(np.mean(np.exp([-1000.0, -1001.0]))))
    assert neg_log_mean_exp(np.array([-2.0])) == pytest.approx(2.0)
    assert neg_log_mean_exp(np.array([-1e6, -5.0])) == pytest.approx(5 + math.log(2))


@pytest.mark.parametrize(
    ("name", "opts", "needle"),
    [
        ("nope", {}, "unknown loss 'nope'"),
        ("sse", {"sigma": 1}, "does not take options ['sigma']"),
        ("beta_binomial_nll", {"n": 10}, "needs options ['concentration']"),
        ("binomial_nll", {}, "exactly one of options 'n'"),
        ("gaussian_nll", {"sigma": 0}, "positive finite number"),
        ("gaussian_nll", {}, "exactly one of options 'sigma'"),
        ("binomial_nll", {"n_column": 3}, "must name a column"),
    ],
)
def test_option_checks(name: str, opts: dict, needle: str) -> None:
    with pytest.raises(LossError) as info:
        check_options(get_loss(name), opts)
    assert needle in str(info.value)
