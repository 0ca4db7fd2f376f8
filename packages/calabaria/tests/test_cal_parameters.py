"""Parameter spaces: loading, validation errors, types and bounds of sampled points."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calabaria.parameters import (
    CategoricalParameter,
    FloatParameter,
    IntParameter,
    ParameterError,
    ParameterSpace,
)

SPACE = {
    "beta": {"low": 0.01, "high": 1.0, "log": True},
    "n": {"low": 1, "high": 10, "type": "int"},
    "mode": {"choices": ["a", "b", "c"]},
    "fixed": {"gamma": 0.1},
}


def test_from_dict_builds_typed_parameters_and_round_trips() -> None:
    space = ParameterSpace.from_dict(SPACE)
    assert space.names == ("beta", "n", "mode")
    assert isinstance(space["beta"], FloatParameter) and space["beta"].log
    assert isinstance(space["n"], IntParameter)
    assert isinstance(space["mode"], CategoricalParameter)
    assert dict(space.fixed) == {"gamma": 0.1}
    assert ParameterSpace.from_dict(space.to_dict()) == space


@pytest.mark.parametrize("method", ["random", "sobol", "lhs"])
def test_samples_honour_types_bounds_and_fixed(method: str) -> None:
    space = ParameterSpace.from_dict(SPACE)
    points = space.sample(200, seed=7, method=method)
    assert len(points) == 200
    for p in points:
        assert type(p["beta"]) is float and 0.01 <= p["beta"] <= 1.0
        assert type(p["n"]) is int and 1 <= p["n"] <= 10
        assert p["mode"] in ("a", "b", "c")
        assert p["gamma"] == 0.1
        assert space.validate(p) == p
    # every integer and every choice is reachable, and the log scale puts about half the points below sqrt(low*high)
    assert {p["n"] for p in points} == set(range(1, 11))
    assert {p["mode"] for p in points} == {"a", "b", "c"}
    below = sum(p["beta"] < math.sqrt(0.01) for p in points)
    assert 70 < below < 130


def test_samples_are_reproducible_by_seed() -> None:
    space = ParameterSpace.from_dict(SPACE)
    assert space.sample(20, seed=3, method="sobol") == space.sample(20, seed=3, method="sobol")
    assert space.sample(20, seed=3, method="lhs") != space.sample(20, seed=4, method="lhs")


def test_grid_covers_ints_and_choices_and_log_spacing() -> None:
    space = ParameterSpace.from_dict(
        {
            "b": {"low": 1.0, "high": 100.0, "log": True},
            "k": {"low": 0, "high": 2, "type": "int"},
            "m": {"choices": [1, 2]},
        }
    )
    grid = space.grid(3)
    assert len(grid) == 3 * 3 * 2
    assert sorted({p["b"] for p in grid}) == pytest.approx([1.0, 10.0, 100.0])
    assert {p["k"] for p in grid} == {0, 1, 2}
    assert all(type(p["k"]) is int for p in grid)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"x": {"low": 1, "high": 1}}, "must be below high"),
        ({"x": {"low": 0, "high": 1, "log": True}}, "log-scaled parameters need low > 0"),
        ({"x": {"low": 0.5, "high": 3, "type": "int"}}, "integer bounds"),
        ({"x": {"low": 0, "hgih": 1}}, "unknown keys ['hgih']"),
        ({"x": {"low": 0}}, "missing high"),
        ({"x": {"low": 0, "high": 1, "type": "double"}}, "type must be"),
        ({"x": {"choices": []}}, "at least one value"),
        ({"x": {"choices": ["a", "a"]}}, "duplicates"),
        ({"x": 3.0}, "constant values go under 'fixed:'"),
        ({"x": {"low": 0, "high": 1}, "fixed": {"x": 2}}, "both free and fixed"),
        ({"x": {"low": 0, "high": float("nan")}}, "finite number"),
    ],
)
def test_bad_spaces_give_clear_errors(spec: dict, needle: str) -> None:
    with pytest.raises(ParameterError) as info:
        ParameterSpace.from_dict(spec)
    assert needle in str(info.value)


def test_validate_reports_every_problem() -> None:
    space = ParameterSpace.from_dict(SPACE)
    with pytest.raises(ParameterError) as info:
        space.validate({"beta": 2.0, "n": 2.5, "mode": "z", "extra": 1})
    message = str(info.value)
    for needle in ("unknown parameters ['extra']", "'beta' = 2.0 is outside", "'n' is an integer", "'mode' = 'z'"):
        assert needle in message
    with pytest.raises(ParameterError, match=r"fixed parameter 'gamma' is 0\.1"):
        space.validate({"beta": 0.5, "n": 2, "mode": "a", "gamma": 0.2})
    # an integral float is accepted for an int parameter and comes back as an int
    assert type(space.validate({"beta": 0.5, "n": 2.0, "mode": "a"})["n"]) is int


def test_cardinality() -> None:
    small = {"k": {"low": 1, "high": 3, "type": "int"}, "m": {"choices": [1, 2]}}
    assert ParameterSpace.from_dict(small).cardinality() == 6
    assert ParameterSpace.from_dict(SPACE).cardinality() is None


def test_from_yaml_text_and_file(tmp_path) -> None:
    text = "beta: {low: 0.01, high: 1, log: true}\nn: {low: 1, high: 10, type: int}\nfixed: {gamma: 0.1}\n"
    path = tmp_path / "space.yaml"
    path.write_text(text)
    assert ParameterSpace.from_yaml(text) == ParameterSpace.from_yaml(path)
    assert ParameterSpace.from_yaml(str(path)).names == ("beta", "n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        ParameterSpace.from_yaml("beta: {low: 1")


@given(
    low=st.integers(min_value=1, max_value=1000),
    span=st.integers(min_value=1, max_value=10_000),
    log=st.booleans(),
    u=st.floats(min_value=0.0, max_value=1.0),
)
def test_unit_points_land_inside_the_bounds_with_the_right_type(low: int, span: int, log: bool, u: float) -> None:
    ip = IntParameter("k", low, low + span, log)
    fp = FloatParameter("x", float(low), float(low + span) * 1.5, log)
    assert type(ip.from_unit(u)) is int and ip.low <= ip.from_unit(u) <= ip.high
    assert type(fp.from_unit(u)) is float and fp.low <= fp.from_unit(u) <= fp.high
    assert ip.validate(ip.from_unit(u)) == ip.from_unit(u)
