"""ABC-SMC: the analytic toy posterior, determinism under any tell order and replay, priors, the runner lock."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from calabaria.algorithms import AbcSmcAlgorithm
from calabaria.algorithms.abc_smc import AbcSmcError
from calabaria.parameters import ParameterError, ParameterSpace
from modelops_contracts import TrialResult, TrialStatus

# Toy model with an analytic posterior: n normal observations with known sd, mean theta, prior U(-5, 5).
N_OBS, SD = 20, 1.0
OBS = np.random.default_rng(1).normal(1.3, SD, N_OBS)
SPACE = {"theta": {"low": -5.0, "high": 5.0}}


def toy_distance(params: dict, param_id: str) -> float:
    """|mean(sim) - mean(obs)|: the sample mean is sufficient, so ABC converges to the exact posterior."""
    seed = int(param_id[:8], 16)
    sim = np.random.default_rng(seed).normal(params["theta"], SD, N_OBS)
    return abs(float(sim.mean() - OBS.mean()))


def drive(algo: AbcSmcAlgorithm, window: int = 8, shuffle: random.Random | None = None) -> None:
    """A minimal runner: keep `window` trials in flight, tell them in submission or a shuffled order."""
    flying: list = []
    for _ in range(200_000):
        if algo.finished() and not flying:
            return
        flying += algo.ask(window - len(flying))
        if not flying:
            continue
        k = shuffle.randrange(len(flying)) if shuffle else 0
        ups = flying.pop(k)
        algo.tell([TrialResult(ups.param_id, toy_distance(ups.params, ups.param_id), {}, TrialStatus.COMPLETED)])
    raise AssertionError("did not finish")


def weighted_stats(algo: AbcSmcAlgorithm) -> tuple[float, float]:
    pop = algo.posterior()
    assert pop is not None
    x, w = pop.particles[:, 0], pop.weights
    mean = float(w @ x)
    return mean, math.sqrt(float(w @ (x - mean) ** 2))


def test_cal_abc_toy_matches_the_analytic_posterior() -> None:
    algo = AbcSmcAlgorithm(SPACE, seed=3, population_size=1000, generations=8)
    drive(algo)
    mean, sd = weighted_stats(algo)
    exact_mean, exact_sd = float(OBS.mean()), SD / math.sqrt(N_OBS)
    print(f"abc mean {mean:.4f} sd {sd:.4f}; analytic mean {exact_mean:.4f} sd {exact_sd:.4f}")
    assert abs(mean - exact_mean) < 0.1 * abs(exact_mean) and abs(mean - exact_mean) < 0.25 * exact_sd
    assert abs(sd - exact_sd) < 0.1 * exact_sd
    eps = [p.epsilon for p in algo.populations]
    assert eps[0] == math.inf and all(a > b for a, b in itertools.pairwise(eps[1:]))


def test_cal_abc_importance_weights_give_the_exact_abc_posterior_under_an_informative_prior() -> None:
    """With a normal prior in conflict with the data, the weighted particles of the last generation must follow the
    exact ABC posterior at that epsilon: prior(theta) x P(|mean(sim) - mean(obs)| <= eps | theta), computed here
    numerically. Wrong weights (prior or kernel density) shift it by a good fraction of its sd."""
    from scipy import stats

    space = {"theta": {"low": -5.0, "high": 5.0, "prior": {"dist": "normal", "mean": 0.0, "sd": 0.3}}}
    algo = AbcSmcAlgorithm(space, seed=3, population_size=1000, generations=8)
    drive(algo)
    mean, sd = weighted_stats(algo)
    eps, s = algo.posterior().epsilon, SD / math.sqrt(N_OBS)
    th = np.linspace(-5, 5, 200_001)
    p = stats.norm.pdf(th, 0, 0.3) * (
        stats.norm.cdf((OBS.mean() + eps - th) / s) - stats.norm.cdf((OBS.mean() - eps - th) / s)
    )
    p /= p.sum()
    exact_mean = float(p @ th)
    exact_sd = math.sqrt(float(p @ (th - exact_mean) ** 2))
    print(f"eps {eps:.3f}: abc mean {mean:.4f} sd {sd:.4f}; exact ABC posterior {exact_mean:.4f} {exact_sd:.4f}")
    assert abs(mean - exact_mean) < 0.15 * exact_sd and abs(sd - exact_sd) < 0.1 * exact_sd


def test_cal_abc_posterior_is_the_same_in_any_tell_order_and_after_replay() -> None:
    ref = AbcSmcAlgorithm(SPACE, seed=5, population_size=50, generations=4)
    drive(ref)
    shuffled = AbcSmcAlgorithm(SPACE, seed=5, population_size=50, generations=4)
    drive(shuffled, window=13, shuffle=random.Random(0))
    assert ref.artifacts() == shuffled.artifacts()

    # A killed run: part-way through generation 2, then a new process replays the records (any order) and goes on.
    first = AbcSmcAlgorithm(SPACE, seed=5, population_size=50, generations=4)
    told: list[TrialResult] = []
    while first.generation < 2 or len(told) < 50 * 2 + 30:
        for ups in first.ask(4):
            r = TrialResult(ups.param_id, toy_distance(ups.params, ups.param_id), {}, TrialStatus.COMPLETED)
            told.append(r)
            first.tell([r])
    resumed = AbcSmcAlgorithm(SPACE, seed=5, population_size=50, generations=4)
    random.Random(1).shuffle(told)
    resumed.tell(told)
    assert resumed.generation == first.generation
    drive(resumed)
    assert resumed.artifacts() == ref.artifacts()


def test_cal_abc_failed_trials_are_rejected_and_budget_stops() -> None:
    algo = AbcSmcAlgorithm(SPACE, seed=1, population_size=10, generations=3, n_trials=25)
    asked = algo.ask(100)
    assert len(asked) == 25
    algo.tell([TrialResult(u.param_id, math.inf, {"reason": "x"}, TrialStatus.FAILED) for u in asked[:5]])
    algo.tell([TrialResult(u.param_id, 1.0, {}, TrialStatus.COMPLETED) for u in asked[5:]])
    assert algo.finished() and algo.generation == 1  # 20 finite distances, population 10: gen 0 done, budget used
    assert algo.posterior().n_proposed == 15


def test_cal_abc_stops_when_acceptance_collapses() -> None:
    algo = AbcSmcAlgorithm(SPACE, seed=2, population_size=10, generations=5, min_acceptance_rate=0.1)
    asked = algo.ask(10)
    algo.tell([TrialResult(u.param_id, float(i), {}, TrialStatus.COMPLETED) for i, u in enumerate(asked)])
    assert algo.generation == 1
    asked = algo.ask(1000)
    assert len(asked) == 100  # population / rate: the most generation 1 may scan
    algo.tell([TrialResult(u.param_id, 99.0, {}, TrialStatus.COMPLETED) for u in asked])  # nothing accepted
    assert algo.finished() and algo.generation == 1 and "min_acceptance_rate" in algo.stop_reason


def test_cal_abc_priors_are_used_and_checked() -> None:
    space = {"x": {"low": 0.0, "high": 10.0, "prior": {"dist": "normal", "mean": 2.0, "sd": 0.5}}}
    algo = AbcSmcAlgorithm(space, seed=0, population_size=400, generations=1)
    asked = algo.ask(400)
    xs = np.array([u.params["x"] for u in asked])
    assert abs(xs.mean() - 2.0) < 0.1 and abs(xs.std() - 0.5) < 0.1
    for bad, msg in [
        ({"dist": "gamma"}, "prior dist must be one of"),
        ({"dist": "normal", "mean": 1}, "takes exactly"),
        ({"dist": "beta", "a": -1, "b": 2}, "must be > 0"),
    ]:
        with pytest.raises(ParameterError, match=msg):
            ParameterSpace.from_dict({"x": {"low": 0.1, "high": 1, "prior": bad}})
    with pytest.raises(AbcSmcError, match="float parameters"):
        AbcSmcAlgorithm({"n": {"low": 1, "high": 3, "type": "int"}})
    with pytest.raises(TypeError, match="unknown options"):
        AbcSmcAlgorithm(SPACE, populaton_size=3)


def test_cal_abc_refuses_a_second_runner_on_one_storage(tmp_path) -> None:
    url = f"journal://{tmp_path / 'optuna.journal'}"
    first = AbcSmcAlgorithm(SPACE, storage=url, study_name="r1")
    with pytest.raises(AbcSmcError, match="one runner per run"):
        AbcSmcAlgorithm(SPACE, storage=url, study_name="r1")
    AbcSmcAlgorithm(SPACE, storage=url, study_name="other").close()
    first.close()
    AbcSmcAlgorithm(SPACE, storage=url, study_name="r1").close()


def test_cal_abc_refuses_a_second_runner_on_postgres(postgres) -> None:
    postgres_url = postgres.sqlalchemy_url
    first = AbcSmcAlgorithm(SPACE, storage=postgres_url, study_name="r1")
    with pytest.raises(AbcSmcError, match="one runner per run"):
        AbcSmcAlgorithm(SPACE, storage=postgres_url, study_name="r1")
    first.close()
    AbcSmcAlgorithm(SPACE, storage=postgres_url, study_name="r1").close()
