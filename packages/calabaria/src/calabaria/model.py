"""The model interface for modellers who prefer classes.

The simplest model is a plain function ``simulate(params, seed) -> dict[str, polars.DataFrame]``. A class adds a
declared parameter space (so parameter sets are validated and fixed values filled in) and named scenarios, each a
patch of parameter values (an intervention: "lockdown" sets ``beta`` to 0.1)::

    class SIR(BaseModel):
        space = {"beta": {"low": 0.05, "high": 1.0, "log": True}, "fixed": {"gamma": 0.1}}
        scenarios = {"lockdown": {"beta": 0.05}}

        def simulate(self, params, seed):
            ...
            return {"incidence": frame}

The ModelOps runtime instantiates the class with no arguments and calls ``simulate(params, seed)``. Calling the
instance (``model(params, seed)``) also validates the parameters against the space and checks the outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import polars as pl

from .parameters import ParameterError, ParameterSpace


class ModelError(ValueError):
    """A model is declared wrongly or returned something that is not a mapping of name -> polars DataFrame."""


def check_outputs(outputs: Any, where: str = "simulate") -> dict[str, pl.DataFrame]:
    """Check that a simulation returned ``{name: polars.DataFrame}`` and return it as a plain dict."""
    if not isinstance(outputs, Mapping):
        raise ModelError(f"{where} must return a dict of output name -> polars DataFrame, got {type(outputs).__name__}")
    for name, frame in outputs.items():
        if not isinstance(name, str) or not name:
            raise ModelError(f"{where} returned an output with a bad name {name!r}; names must be non-empty strings")
        if not isinstance(frame, pl.DataFrame):
            raise ModelError(f"{where} output {name!r} is a {type(frame).__name__}, not a polars DataFrame")
    return dict(outputs)


class BaseModel:
    """Base class for models with a declared ``space`` and named ``scenarios``; subclasses define ``simulate``."""

    space: ClassVar[ParameterSpace | Mapping[str, Any]] = {}
    scenarios: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Validate at class definition, so a mistyped bound or scenario key fails at import, not mid-study.
        try:
            cls.space = ParameterSpace.coerce(cls.space)
        except ParameterError as exc:
            raise ModelError(f"{cls.__qualname__}.space is invalid: {exc}") from None
        if not isinstance(cls.scenarios, Mapping):
            raise ModelError(f"{cls.__qualname__}.scenarios must be a dict of name -> parameter patch")
        known = set(cls.space.all_names)
        for name, patch in cls.scenarios.items():
            if not isinstance(patch, Mapping):
                raise ModelError(f"{cls.__qualname__}: scenario {name!r} must be a mapping of parameter -> value")
            unknown = sorted(set(patch) - known)
            if unknown:
                raise ModelError(
                    f"{cls.__qualname__}: scenario {name!r} patches unknown parameters {unknown}; "
                    f"the space has {sorted(known)}"
                )
        cls.scenarios = MappingProxyType({k: MappingProxyType(dict(v)) for k, v in cls.scenarios.items()})

    @classmethod
    def parameter_space(cls) -> ParameterSpace:
        return ParameterSpace.coerce(cls.space)

    def simulate(self, params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
        """Run one replicate with ``params`` and ``seed``; return output name -> polars DataFrame."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement simulate(params, seed)")

    def apply_scenario(self, params: Mapping[str, Any], name: str | None) -> dict[str, Any]:
        """``params`` with scenario ``name``'s patch applied (None: unchanged). Patches may leave the calibration
        bounds on purpose (an intervention), so patched values are not bound-checked."""
        out = dict(params)
        for key, value in self.parameter_space().fixed.items():
            out.setdefault(key, value)
        if name is None:
            return out
        if name not in self.scenarios:
            raise ModelError(f"unknown scenario {name!r}; {type(self).__qualname__} has {sorted(self.scenarios)}")
        out.update(self.scenarios[name])
        return out

    def with_scenario(self, name: str) -> ScenarioModel:
        """A callable ``fn(params, seed)`` running this model under scenario ``name``."""
        if name not in self.scenarios:
            raise ModelError(f"unknown scenario {name!r}; {type(self).__qualname__} has {sorted(self.scenarios)}")
        return ScenarioModel(self, name)

    def __call__(self, params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
        """Validate ``params`` against the space (fixed values filled in), simulate, and check the outputs."""
        checked = self.parameter_space().validate(params)
        return check_outputs(self.simulate(checked, seed), f"{type(self).__qualname__}.simulate")


class ScenarioModel:
    """A model bound to one scenario; called like a plain simulation function."""

    def __init__(self, model: BaseModel, scenario: str):
        self.model = model
        self.scenario = scenario

    def __call__(self, params: Mapping[str, Any], seed: int) -> dict[str, pl.DataFrame]:
        checked = self.model.parameter_space().validate(params)
        patched = self.model.apply_scenario(checked, self.scenario)
        where = f"{type(self.model).__qualname__}.simulate[{self.scenario}]"
        return check_outputs(self.model.simulate(patched, seed), where)

    def __repr__(self) -> str:
        return f"ScenarioModel({type(self.model).__qualname__}, {self.scenario!r})"
