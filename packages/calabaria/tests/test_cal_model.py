"""The class-based model interface: declared space, validation, scenarios; a plain function stays a model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pytest

from calabaria.model import BaseModel, ModelError, check_outputs
from calabaria.parameters import ParameterSpace
from calabaria.targets import TargetSet


class Growth(BaseModel):
    space = {"r": {"low": 0.01, "high": 1.0, "log": True}, "fixed": {"x0": 10.0}}
    scenarios = {"lockdown": {"r": 0.001}}

    def simulate(self, params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
        rng = np.random.default_rng(seed)
        t = np.arange(5)
        mean = params["x0"] * np.exp(params["r"] * t)
        return {"cases": pl.DataFrame({"t": t, "cases": rng.poisson(mean).astype(float)})}


def growth_fn(params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
    return Growth().simulate({"x0": 10.0, **params}, seed)


def test_space_is_parsed_at_class_definition_and_simulate_is_deterministic_in_its_seed() -> None:
    assert isinstance(Growth.space, ParameterSpace)
    model = Growth()  # the runtime instantiates with no arguments
    a, b = model({"r": 0.5}, 42), model({"r": 0.5}, 42)
    assert a["cases"].equals(b["cases"])
    assert not a["cases"].equals(model({"r": 0.5}, 43)["cases"])
    assert growth_fn({"r": 0.5}, 42)["cases"].equals(a["cases"])  # a plain function with the same signature


def test_call_validates_parameters() -> None:
    with pytest.raises(ValueError, match="outside its bounds"):
        Growth()({"r": 5.0}, 1)


def test_scenarios_patch_parameters() -> None:
    model = Growth()
    assert model.apply_scenario({"r": 0.5}, "lockdown") == {"r": 0.001, "x0": 10.0}
    assert model.apply_scenario({"r": 0.5}, None) == {"r": 0.5, "x0": 10.0}
    locked = model.with_scenario("lockdown")({"r": 0.9}, 3)
    assert locked["cases"]["cases"].mean() < model({"r": 0.9}, 3)["cases"]["cases"].mean()
    with pytest.raises(ModelError, match="unknown scenario 'typo'; Growth has \\['lockdown'\\]"):
        model.with_scenario("typo")


def test_bad_declarations_fail_at_import_time() -> None:
    with pytest.raises(ModelError, match="scenario 'x' patches unknown parameters \\['beta'\\]"):

        class Bad(BaseModel):
            space = {"r": {"low": 0.1, "high": 1.0}}
            scenarios = {"x": {"beta": 1}}

    with pytest.raises(ModelError, match="space is invalid"):

        class Worse(BaseModel):
            space = {"r": {"low": 1.0, "high": 0.1}}


def test_outputs_are_checked_and_feed_targets() -> None:
    with pytest.raises(ModelError, match="output 'cases' is a dict, not a polars DataFrame"):
        check_outputs({"cases": {"t": [1]}})
    obs = {"columns": {"t": [0, 1, 2, 3, 4], "cases": [10, 12, 15, 18, 22]}}
    ts = TargetSet.from_config(
        {"targets": [{"name": "cases", "observed": obs, "keys": ["t"], "values": ["cases"], "loss": "poisson_nll"}]}
    )
    model = Growth()
    near = ts.evaluate([model({"r": 0.2}, s) for s in range(4)]).loss
    far = ts.evaluate([model({"r": 0.9}, s) for s in range(4)]).loss
    assert near < far
