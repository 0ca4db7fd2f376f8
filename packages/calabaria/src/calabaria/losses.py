"""Losses and likelihoods comparing a simulated signal with observed data, point by point.

Every loss works on aligned 1-D float arrays (``sim``, ``obs``, plus per-point extras such as a binomial ``n``) and
returns a finite float, or raises :class:`LossError` saying why it cannot (NaN, a rate of zero where cases were seen,
a probability outside [0, 1]...). Likelihood losses also give the total log-likelihood, which replicate combination
needs for ``-log(mean likelihood)``.

| name | formula (summed over points unless said) | sim is |
|---|---|---|
| sse | (sim - obs)^2 | the expected value |
| mse | mean (sim - obs)^2 | the expected value |
| mae | mean abs(sim - obs) | the expected value |
| poisson_nll | -log Poisson(obs; rate=max(sim, rate_floor)), full (with log obs!) | the expected count |
| negative_binomial_nll | -log NegBinom(obs; mean mu=max(sim, rate_floor), size r); var mu+mu^2/r | expected count |
| binomial_nll | -log Binomial(obs; n, p=sim) | the probability |
| beta_binomial_nll | -log BetaBinomial(obs; n, a=p*c, b=(1-p)*c), c = concentration | the probability |
| gaussian_nll | -log Normal(obs; mean=sim, sd=sigma) | the mean |

Count likelihoods take ``rate_floor`` (default 0, off): simulated rates below it are raised to it before scoring, so
an epidemic that died out (rate 0 where cases were observed) gets a finite, very poor likelihood instead of an
impossible one. ``negative_binomial_nll`` takes ``dispersion`` (r > 0, a number) or ``dispersion_column`` (a column of
the *simulated* output, so a model can carry a fitted dispersion parameter into its output and have it calibrated).

Impossible data (likelihood 0, e.g. a Poisson rate of 0 where cases were seen) raise :class:`ImpossibleError`, a
LossError: the target decides whether that fails the trial or costs a finite penalty (``on_impossible``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# scipy.stats is imported where a likelihood needs it, not here: it costs ~0.7 s per process (the runner and every
# worker import this module), and the squared and absolute errors most studies use never touch it.


class LossError(ValueError):
    """A loss cannot be computed from the data it was given; the message says what is wrong."""


class ImpossibleError(LossError):
    """The observed data have likelihood 0 under the simulated values (not a malformed input: a very bad fit)."""


@dataclass(frozen=True)
class LossInputs:
    """Aligned data of one target: simulated and observed values, and per-point extras (e.g. ``n``, ``sigma``)."""

    sim: np.ndarray
    obs: np.ndarray
    extras: Mapping[str, np.ndarray]


def _floored(rate: np.ndarray, opts: Mapping[str, Any]) -> np.ndarray:
    floor = float(opts.get("rate_floor", 0.0))
    return np.maximum(rate, floor) if floor > 0 else rate


def _counts(x: LossInputs, loss: str, opts: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    rate, k = x.sim, x.obs
    if np.any(rate < 0):
        raise LossError(f"{loss} needs non-negative simulated rates; got a minimum of {rate.min()!r}")
    if np.any(k < 0) or np.any(k != np.round(k)):
        raise LossError(f"{loss} needs observed counts that are non-negative integers")
    rate = _floored(rate, opts)
    bad = (rate == 0) & (k > 0)
    if np.any(bad):
        raise ImpossibleError(
            f"{loss}: the simulated rate is 0 at {int(bad.sum())} point(s) where cases were observed "
            "(likelihood 0); set loss_options rate_floor (e.g. 0.1) or simulate a positive expected count there"
        )
    return rate, k


def _loglik_poisson(x: LossInputs, opts: Mapping[str, Any]) -> np.ndarray:
    rate, k = _counts(x, "poisson_nll", opts)
    from scipy import stats

    return stats.poisson.logpmf(k, rate)


def _loglik_negative_binomial(x: LossInputs, opts: Mapping[str, Any]) -> np.ndarray:
    mu, k = _counts(x, "negative_binomial_nll", opts)
    r = x.extras.get("dispersion")
    if r is None:
        raise LossError("negative_binomial_nll needs loss_options dispersion (a number) or dispersion_column")
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise LossError("negative_binomial_nll needs a finite dispersion > 0 at every point")
    from scipy import special

    # NB(k; mean mu, size r) = C(k+r-1, k) (r/(r+mu))^r (mu/(r+mu))^k, written with log-gamma and xlogy so mu = 0
    # with k = 0 is exactly log 1 = 0 (scipy's nbinom with p = 1 returns the same, but is slower per call).
    log_total = np.log(r + mu)
    return (
        special.gammaln(k + r)
        - special.gammaln(r)
        - special.gammaln(k + 1)
        + r * (np.log(r) - log_total)
        + special.xlogy(k, mu)
        - k * log_total
    )


# How an impossible fit is still graded (targets' on_impossible: penalty): count likelihoods are recomputed with the
# simulated rate floored here, probabilities clipped this far inside (0, 1). Tiny on purpose: each impossible point
# then costs about -log(1e-6) = 13.8 nats per observed case, so fewer impossible points always score better.
RESCUE_RATE = 1e-6
RESCUE_PROBABILITY = 1e-9


def _rescue_rate(x: LossInputs, opts: Mapping[str, Any]) -> tuple[LossInputs, dict[str, Any]]:
    floor = max(float(opts.get("rate_floor", 0.0)), RESCUE_RATE)
    return LossInputs(np.maximum(x.sim, floor), x.obs, x.extras), {**opts, "rate_floor": floor}


def _rescue_probability(x: LossInputs, opts: Mapping[str, Any]) -> tuple[LossInputs, Mapping[str, Any]]:
    return LossInputs(np.clip(x.sim, RESCUE_PROBABILITY, 1 - RESCUE_PROBABILITY), x.obs, x.extras), opts


def _check_probability(p: np.ndarray, loss: str) -> None:
    if np.any((p < 0) | (p > 1)):
        raise LossError(f"{loss} needs simulated probabilities in [0, 1]; got range [{p.min()!r}, {p.max()!r}]")


def _trials_and_successes(x: LossInputs, loss: str) -> tuple[np.ndarray, np.ndarray]:
    n = x.extras.get("n")
    if n is None:
        raise LossError(f"{loss} needs the number of trials: give loss_options n_column (observed column) or n")
    k = x.obs
    if np.any(n < 0) or np.any(n != np.round(n)) or np.any(k < 0) or np.any(k != np.round(k)):
        raise LossError(f"{loss} needs non-negative integer successes and trials")
    if np.any(k > n):
        raise LossError(f"{loss}: {int((k > n).sum())} point(s) have more successes than trials")
    return k, n


def _loglik_binomial(x: LossInputs, opts: Mapping[str, Any]) -> np.ndarray:
    _check_probability(x.sim, "binomial_nll")
    k, n = _trials_and_successes(x, "binomial_nll")
    from scipy import stats

    out = stats.binom.logpmf(k, n, x.sim)
    if np.any(np.isneginf(out)):
        raise ImpossibleError(
            "binomial_nll: a simulated probability of exactly 0 or 1 contradicts the observed data (likelihood 0)"
        )
    return out


def _loglik_beta_binomial(x: LossInputs, opts: Mapping[str, Any]) -> np.ndarray:
    _check_probability(x.sim, "beta_binomial_nll")
    k, n = _trials_and_successes(x, "beta_binomial_nll")
    c = float(opts["concentration"])
    # scipy's betabinom needs a, b > 0: a probability of exactly 0 or 1 has no overdispersion, so it degenerates.
    p = x.sim
    if np.any((p == 0) | (p == 1)):
        raise LossError("beta_binomial_nll needs simulated probabilities strictly inside (0, 1)")
    from scipy import stats

    return stats.betabinom.logpmf(k, n, p * c, (1 - p) * c)


def _loglik_gaussian(x: LossInputs, opts: Mapping[str, Any]) -> np.ndarray:
    sigma = x.extras.get("sigma")
    if sigma is None:
        raise LossError("gaussian_nll needs sigma: give loss_options sigma (a number) or sigma_column")
    if np.any(sigma <= 0):
        raise LossError("gaussian_nll needs sigma > 0 at every point")
    from scipy import stats

    return stats.norm.logpdf(x.obs, loc=x.sim, scale=sigma)


def _sse(x: LossInputs, opts: Mapping[str, Any]) -> float:
    return float(np.sum((x.sim - x.obs) ** 2))


def _mse(x: LossInputs, opts: Mapping[str, Any]) -> float:
    return float(np.mean((x.sim - x.obs) ** 2))


def _mae(x: LossInputs, opts: Mapping[str, Any]) -> float:
    return float(np.mean(np.abs(x.sim - x.obs)))


@dataclass(frozen=True)
class Loss:
    """One named loss: either a distance (``distance``) or a likelihood (``loglik`` per point; loss = -sum)."""

    name: str
    distance: Callable[[LossInputs, Mapping[str, Any]], float] | None = None
    loglik: Callable[[LossInputs, Mapping[str, Any]], np.ndarray] | None = None
    options: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    # Inputs (and options) that make an impossible fit possible again, for grading it (see RESCUE_RATE).
    rescue: Callable[[LossInputs, Mapping[str, Any]], tuple[LossInputs, Mapping[str, Any]]] | None = None

    @property
    def is_likelihood(self) -> bool:
        return self.loglik is not None

    def log_likelihood(self, x: LossInputs, opts: Mapping[str, Any]) -> float:
        """Total log-likelihood of the observations (likelihood losses only)."""
        if self.loglik is None:
            raise LossError(f"{self.name} is not a likelihood")
        _check_finite(x, self.name)
        total = float(np.sum(self.loglik(x, opts)))
        if not np.isfinite(total):
            raise ImpossibleError(
                f"{self.name}: the log-likelihood is {total!r}; the data are impossible under the model"
            )
        return total

    def __call__(self, x: LossInputs, opts: Mapping[str, Any]) -> float:
        if self.loglik is not None:
            return -self.log_likelihood(x, opts)
        assert self.distance is not None
        _check_finite(x, self.name)
        value = self.distance(x, opts)
        if not np.isfinite(value):
            raise LossError(f"{self.name} overflowed to {value!r}; rescale the data")
        return value


def _check_finite(x: LossInputs, name: str) -> None:
    if x.sim.size == 0:
        raise LossError(f"{name}: there are no aligned points to compare")
    for label, arr in (("simulated", x.sim), ("observed", x.obs), *x.extras.items()):
        bad = ~np.isfinite(arr)
        if np.any(bad):
            raise LossError(f"{name}: {int(bad.sum())} {label} value(s) are NaN or infinite")


_BINOMIAL_OPTS = frozenset({"n_column", "n"})
LOSSES: dict[str, Loss] = {
    "sse": Loss("sse", distance=_sse),
    "mse": Loss("mse", distance=_mse),
    "mae": Loss("mae", distance=_mae),
    "poisson_nll": Loss("poisson_nll", loglik=_loglik_poisson, options=frozenset({"rate_floor"}), rescue=_rescue_rate),
    "negative_binomial_nll": Loss(
        "negative_binomial_nll",
        loglik=_loglik_negative_binomial,
        options=frozenset({"rate_floor", "dispersion", "dispersion_column"}),
        rescue=_rescue_rate,
    ),
    "binomial_nll": Loss("binomial_nll", loglik=_loglik_binomial, options=_BINOMIAL_OPTS, rescue=_rescue_probability),
    "beta_binomial_nll": Loss(
        "beta_binomial_nll",
        loglik=_loglik_beta_binomial,
        options=_BINOMIAL_OPTS | {"concentration"},
        required=frozenset({"concentration"}),
    ),
    "gaussian_nll": Loss("gaussian_nll", loglik=_loglik_gaussian, options=frozenset({"sigma", "sigma_column"})),
}


def get_loss(name: str) -> Loss:
    try:
        return LOSSES[name]
    except KeyError:
        raise LossError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None


def check_options(loss: Loss, opts: Mapping[str, Any]) -> None:
    """Validate a loss's options eagerly (names, required ones, positive numbers)."""
    unknown = sorted(set(opts) - loss.options)
    if unknown:
        allowed = sorted(loss.options) or "none"
        raise LossError(f"loss {loss.name!r} does not take options {unknown}; it takes {allowed}")
    missing = sorted(loss.required - set(opts))
    if missing:
        raise LossError(f"loss {loss.name!r} needs options {missing}")
    for key in ("n_column", "sigma_column", "dispersion_column"):
        if key in opts and (not isinstance(opts[key], str) or not opts[key]):
            where = "simulated output" if key == "dispersion_column" else "observed data"
            raise LossError(f"loss option {key!r} must name a column of the {where}, got {opts[key]!r}")
    if "rate_floor" in opts:
        value = opts["rate_floor"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0 or not np.isfinite(value):
            raise LossError(f"loss option 'rate_floor' must be a finite number >= 0, got {value!r}")
    for key in ("sigma", "concentration", "n", "dispersion"):
        if key in opts:
            value = opts[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or not np.isfinite(value):
                raise LossError(f"loss option {key!r} must be a positive finite number, got {value!r}")
    if loss.name in ("binomial_nll", "beta_binomial_nll") and ("n" in opts) == ("n_column" in opts):
        raise LossError(f"loss {loss.name!r} needs exactly one of options 'n' (a number) or 'n_column' (a column)")
    if loss.name == "negative_binomial_nll" and ("dispersion" in opts) == ("dispersion_column" in opts):
        raise LossError(
            "loss 'negative_binomial_nll' needs exactly one of options 'dispersion' (a number) or 'dispersion_column' "
            "(a column of the simulated output, to fit the dispersion as a model parameter)"
        )
    if loss.name == "gaussian_nll" and ("sigma" in opts) == ("sigma_column" in opts):
        raise LossError("loss 'gaussian_nll' needs exactly one of options 'sigma' (a number) or 'sigma_column'")


def neg_log_mean_exp(logliks: np.ndarray) -> float:
    """``-log(mean(exp(logliks)))`` computed stably with log-sum-exp, so very negative log-likelihoods (-1e5) do not
    underflow to -log(0) = inf."""
    from scipy import special

    logliks = np.asarray(logliks, dtype=float)
    return float(-(special.logsumexp(logliks) - np.log(logliks.size)))
