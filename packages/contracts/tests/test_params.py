import math
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelops_contracts import ContractViolationError, UniqueParameterSet, canonical_json, make_param_id

GOLDEN = [
    ({}, "02a98351d516148f91f93bb0ce4b4cb6468cb40e04263fb6f257e9ba37365b44"),
    ({"x": 1}, "4560ff738e380536d589079a5e24b30713f9257440dfb2f0134f7350c0985942"),
    ({"x": 1.0}, "3f1b615cf1dab4bfd2505c195f18fe8d70035f80beb5b0056c93844204158684"),
    ({"x": True}, "a946ed8442ddbc069a69ef6288f455850a8fb2d25937c632930c5dcea78a7046"),
    ({"beta": 0.3, "gamma": 0.1, "R0": 2}, "3f5c304d0a8bdc8cbac546d536d7a4c81b91ed85ac03f25daacd6a1e23ed7fa3"),
]


@pytest.mark.parametrize(("params", "expected"), GOLDEN)
def test_golden_ids(params, expected):
    assert make_param_id(params) == expected
    assert UniqueParameterSet.from_dict(params).param_id == expected


def test_error_is_a_value_error():
    assert issubclass(ContractViolationError, ValueError)


def test_key_order_does_not_matter():
    a = {"beta": 0.3, "gamma": 0.1, "R0": 2}
    b = {"R0": 2, "gamma": 0.1, "beta": 0.3}
    assert make_param_id(a) == make_param_id(b)


def test_value_types_matter():
    assert len({make_param_id({"x": 1}), make_param_id({"x": 1.0}), make_param_id({"x": True})}) == 3


def test_nested_and_unicode_values_are_allowed():
    params = {"name": "Zürich", "ages": [1, 2.5, None], "nested": {"k": (1, "two")}}
    assert len(make_param_id(params)) == 64
    assert "Zürich" in canonical_json(params)  # ensure_ascii=False


@pytest.mark.parametrize(
    "bad",
    [
        {"x": np.float64(0.5)},
        {"x": np.int64(3)},
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": -math.inf},
        {"x": [1, float("nan")]},
        {"x": {"y": np.float32(1)}},
        {"x": {1: "int key"}},
        {1: "int key"},
        {"x": object()},
        {"x": b"bytes"},
        {"x": {1, 2}},
    ],
)
def test_rejected_values(bad):
    with pytest.raises(ContractViolationError):
        make_param_id(bad)


def test_rejects_non_mapping():
    with pytest.raises(ContractViolationError):
        make_param_id([("x", 1)])


def test_parameter_set_is_immutable():
    ps = UniqueParameterSet.from_dict({"x": 1, "inner": {"y": [1, 2]}})
    assert isinstance(ps.params, MappingProxyType)
    with pytest.raises(TypeError):
        ps.params["x"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        ps.param_id = "other"  # type: ignore[misc]
    assert isinstance(ps.params["inner"], MappingProxyType)
    assert ps.params["inner"]["y"] == (1, 2)


def test_from_dict_copies_its_input():
    source = {"x": 1}
    ps = UniqueParameterSet.from_dict(source)
    source["x"] = 2
    assert ps.params["x"] == 1
    assert ps.param_id == make_param_id({"x": 1})


def test_mismatched_id_is_rejected():
    with pytest.raises(ContractViolationError, match="does not match"):
        UniqueParameterSet(params={"x": 1}, param_id=make_param_id({"x": 2}))


def test_empty_id_is_rejected():
    with pytest.raises(ContractViolationError):
        UniqueParameterSet(params={"x": 1}, param_id="")


def test_direct_construction_freezes_params():
    ps = UniqueParameterSet(params={"x": 1}, param_id=make_param_id({"x": 1}))
    assert isinstance(ps.params, MappingProxyType)


def test_to_dict_round_trips_through_the_id():
    params = {"a": [1, {"b": 2.5}], "c": None}
    ps = UniqueParameterSet.from_dict(params)
    assert ps.to_dict() == params
    assert make_param_id(ps.to_dict()) == ps.param_id


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_ids_are_stable_and_order_free(params):
    reversed_params = dict(reversed(list(params.items())))
    assert make_param_id(params) == make_param_id(reversed_params)
    assert UniqueParameterSet.from_dict(params).param_id == make_param_id(params)
