"""Parameter spaces: what a model's free parameters are, their types and bounds, and the values held fixed.

A space is written as a plain mapping (from YAML or Python)::

    {"beta": {"low": 0.01, "high": 1.0, "log": True},      # float, log-scaled
     "n": {"low": 1, "high": 10, "type": "int"},             # integer, bounds inclusive
     "mode": {"choices": ["a", "b"]},                        # categorical
     "fixed": {"gamma": 0.1}}                                # held constant, included in every parameter set

A float parameter may carry a ``prior`` for Bayesian algorithms (ABC-SMC); without one its prior is uniform on
[low, high] (log-uniform when ``log``). Priors are truncated to the bounds::

    {"beta": {"low": 0.01, "high": 1, "prior": {"dist": "lognormal", "mu": -1.2, "sigma": 0.5}}}
    # normal: mean, sd | lognormal: mu, sigma (of log x) | beta: a, b (on [low, high] rescaled to [0, 1])

Every value this module produces honours the declared types with *plain* Python values (``int``, ``float``, ``str``),
never numpy scalars: parameter ids (``make_param_id``) refuse numpy scalars on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

FIXED_KEY = "fixed"
_FLOAT_KEYS = {"low", "high", "log", "type", "prior"}
PRIORS: dict[str, tuple[str, ...]] = {
    "uniform": (),
    "loguniform": (),
    "normal": ("mean", "sd"),
    "lognormal": ("mu", "sigma"),
    "beta": ("a", "b"),
}
_CAT_KEYS = {"choices", "type"}


class ParameterError(ValueError):
    """A parameter space or a parameter set is invalid; the message names the parameter and the fix."""


def _plain(value: Any) -> Any:
    """Convert numpy scalars to the plain Python value of the same kind (bool, int, float, str)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


@dataclass(frozen=True)
class Prior:
    """A prior density on [low, high] (truncated there): uniform, log-uniform, normal, lognormal or scaled beta."""

    dist: str
    args: tuple[float, ...]
    low: float
    high: float

    @classmethod
    def parse(cls, name: str, spec: Any, low: float, high: float, log: bool) -> Prior:
        if spec is None:
            return cls("loguniform" if log else "uniform", (), low, high)
        if not isinstance(spec, Mapping) or "dist" not in spec:
            raise ParameterError(
                f"parameter {name!r}: prior must be a mapping like {{dist: normal, mean: 0.3, sd: 0.1}}, got {spec!r}"
            )
        dist = spec["dist"]
        if dist not in PRIORS:
            raise ParameterError(f"parameter {name!r}: prior dist must be one of {sorted(PRIORS)}, got {dist!r}")
        needed = PRIORS[dist]
        if set(spec) - {"dist"} != set(needed):
            raise ParameterError(
                f"parameter {name!r}: a {dist} prior takes exactly {list(needed) or 'no options'}, got "
                f"{sorted(set(spec) - {'dist'})}"
            )
        args = []
        for key in needed:
            value = spec[key]
            if not _is_number(value) or not math.isfinite(float(value)):
                raise ParameterError(f"parameter {name!r}: prior {key} must be a finite number, got {value!r}")
            if key in ("sd", "sigma", "a", "b") and not float(value) > 0:
                raise ParameterError(f"parameter {name!r}: prior {key} must be > 0, got {value!r}")
            args.append(float(value))
        if dist in ("loguniform", "lognormal") and low <= 0:
            raise ParameterError(f"parameter {name!r}: a {dist} prior needs low > 0, got low={low}")
        return cls(dist, tuple(args), low, high)

    @cached_property
    def _frozen(self) -> Any:
        from scipy import stats

        a = self.args
        if self.dist == "normal":
            return stats.norm(a[0], a[1])
        if self.dist == "lognormal":
            return stats.lognorm(s=a[1], scale=math.exp(a[0]))
        if self.dist == "beta":
            return stats.beta(a[0], a[1], loc=self.low, scale=self.high - self.low)
        if self.dist == "loguniform":
            return stats.loguniform(self.low, self.high)
        return stats.uniform(self.low, self.high - self.low)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Inverse-CDF transform of uniforms in [0, 1) to prior draws truncated to [low, high]."""
        u = np.asarray(u, dtype=float)
        # Uniform and log-uniform in closed form: ABC-SMC calls this once per candidate, scipy costs ~0.1 ms a call.
        if self.dist == "uniform":
            return np.clip(self.low + u * (self.high - self.low), self.low, self.high)
        if self.dist == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return np.clip(np.exp(lo + u * (hi - lo)), self.low, self.high)
        frozen = self._frozen
        lo, hi = frozen.cdf(self.low), frozen.cdf(self.high)
        if not hi > lo:
            raise ParameterError(f"the {self.dist}{self.args} prior puts no mass on [{self.low}, {self.high}]")
        return np.clip(frozen.ppf(lo + u * (hi - lo)), self.low, self.high)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density up to a constant (the truncation's normaliser), -inf outside [low, high]."""
        x = np.asarray(x, dtype=float)
        inside = (x >= self.low) & (x <= self.high)
        out = np.full(x.shape, -np.inf)
        if not np.any(inside):
            return out
        if self.dist == "uniform":
            out[inside] = -math.log(self.high - self.low)
        elif self.dist == "loguniform":
            out[inside] = -np.log(x[inside]) - math.log(math.log(self.high / self.low))
        else:
            out[inside] = self._frozen.logpdf(x[inside])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **dict(zip(PRIORS[self.dist], self.args, strict=True))}


@dataclass(frozen=True)
class FloatParameter:
    """A real-valued parameter in [low, high]; ``log`` samples uniformly in log space (needs low > 0).

    ``prior`` (optional, for Bayesian algorithms) is a mapping such as ``{"dist": "normal", "mean": 0.3, "sd": 0.1}``;
    without it the prior is uniform on the bounds (log-uniform when ``log``). See :attr:`prior_density`.
    """

    name: str
    low: float
    high: float
    log: bool = False
    prior: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_bounds(self.name, self.low, self.high, self.log)
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        if self.prior is not None:
            parsed = Prior.parse(self.name, self.prior, self.low, self.high, self.log)
            object.__setattr__(self, "prior", MappingProxyType(parsed.to_dict()))

    def __hash__(self) -> int:
        return hash((self.name, self.low, self.high, self.log, tuple(sorted((self.prior or {}).items()))))

    @property
    def prior_density(self) -> Prior:
        """The prior (the declared one, else uniform / log-uniform on the bounds)."""
        return Prior.parse(self.name, None if self.prior is None else dict(self.prior), self.low, self.high, self.log)

    def from_unit(self, u: float) -> float:
        """Map u in [0, 1] onto the parameter's range (log-uniformly when ``log``)."""
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return float(min(max(value, self.low), self.high))  # rounding must never step outside the bounds

    def grid(self, k: int) -> list[float]:
        if k == 1:
            return [self.from_unit(0.5)]
        return [self.from_unit(i / (k - 1)) for i in range(k)]

    def validate(self, value: Any) -> float:
        if not _is_number(value):
            raise ParameterError(f"parameter {self.name!r} must be a number, got {type(value).__name__} {value!r}")
        value = float(value)
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise ParameterError(f"parameter {self.name!r} = {value!r} is outside its bounds [{self.low}, {self.high}]")
        return value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.prior is not None:
            out["prior"] = dict(self.prior)
        return out


@dataclass(frozen=True)
class IntParameter:
    """An integer parameter in [low, high], both inclusive; ``log`` samples log-uniformly (needs low >= 1)."""

    name: str
    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if not _is_number(value) or float(value) != int(value):
                raise ParameterError(
                    f"parameter {self.name!r}: integer parameters need integer bounds, {bound}={value!r}"
                )
            object.__setattr__(self, bound, int(value))
        _check_bounds(self.name, self.low, self.high, self.log)

    def from_unit(self, u: float) -> int:
        """Map u in [0, 1) onto the integers low..high with equal probability for each (log-uniform when ``log``)."""
        if self.log:
            # log-uniform over [low - 0.5, high + 0.5) so the end points get their fair share (low >= 1 here)
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            value = round(math.exp(lo + u * (hi - lo)))
        else:
            value = math.floor(self.low + u * (self.high - self.low + 1))
        return int(min(max(value, self.low), self.high))

    def grid(self, k: int) -> list[int]:
        span = self.high - self.low + 1
        if span <= k:
            return list(range(self.low, self.high + 1))
        raw = np.geomspace(self.low, self.high, k) if self.log else np.linspace(self.low, self.high, k)
        return sorted({round(float(v)) for v in raw})

    def validate(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            if isinstance(value, float | np.floating) and float(value).is_integer():
                value = int(value)
            else:
                raise ParameterError(
                    f"parameter {self.name!r} is an integer parameter, got {type(value).__name__} {value!r}"
                )
        value = int(value)
        if not self.low <= value <= self.high:
            raise ParameterError(f"parameter {self.name!r} = {value} is outside its bounds [{self.low}, {self.high}]")
        return value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high, "type": "int"}
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class CategoricalParameter:
    """A parameter taking one of a list of plain values (str, int, float, bool, None)."""

    name: str
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        choices = tuple(_plain(c) for c in self.choices)
        if not choices:
            raise ParameterError(f"parameter {self.name!r}: 'choices' must list at least one value")
        for c in choices:
            if c is not None and type(c) not in (str, int, float, bool):
                raise ParameterError(
                    f"parameter {self.name!r}: choice {c!r} has type {type(c).__name__}; "
                    "choices must be str, int, float, bool or null"
                )
            if type(c) is float and not math.isfinite(c):
                raise ParameterError(f"parameter {self.name!r}: choice {c!r} is not finite")
        if len(set(map(repr, choices))) != len(choices):
            raise ParameterError(f"parameter {self.name!r}: choices {list(choices)!r} contain duplicates")
        object.__setattr__(self, "choices", choices)

    def from_unit(self, u: float) -> Any:
        return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]

    def grid(self, k: int) -> list[Any]:
        return list(self.choices)

    def validate(self, value: Any) -> Any:
        value = _plain(value)
        for c in self.choices:
            if type(c) is type(value) and c == value:
                return c
        raise ParameterError(f"parameter {self.name!r} = {value!r} is not one of {list(self.choices)!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}


Parameter = FloatParameter | IntParameter | CategoricalParameter


def _check_bounds(name: str, low: Any, high: Any, log: bool) -> None:
    for bound, value in (("low", low), ("high", high)):
        if not _is_number(value) or not math.isfinite(float(value)):
            raise ParameterError(f"parameter {name!r}: {bound} must be a finite number, got {value!r}")
    if not float(low) < float(high):
        raise ParameterError(
            f"parameter {name!r}: low ({low}) must be below high ({high}); to hold a value constant, put it under "
            f"'{FIXED_KEY}:' instead"
        )
    if log and float(low) <= 0:
        raise ParameterError(f"parameter {name!r}: log-scaled parameters need low > 0, got low={low}")


def _parse_parameter(name: str, spec: Any) -> Parameter:
    if not isinstance(spec, Mapping):
        raise ParameterError(
            f"parameter {name!r}: expected a mapping like {{low: 0.1, high: 1}} or {{choices: [a, b]}}, got {spec!r}; "
            f"constant values go under '{FIXED_KEY}:'"
        )
    kind = spec.get("type")
    if "choices" in spec or kind == "categorical":
        unknown = set(spec) - _CAT_KEYS
        if unknown:
            raise ParameterError(f"parameter {name!r}: unknown keys {sorted(unknown)} for a categorical parameter")
        choices = spec.get("choices")
        if not isinstance(choices, Sequence) or isinstance(choices, str):
            raise ParameterError(f"parameter {name!r}: 'choices' must be a list, got {choices!r}")
        return CategoricalParameter(name, tuple(choices))
    unknown = set(spec) - _FLOAT_KEYS
    if unknown:
        raise ParameterError(
            f"parameter {name!r}: unknown keys {sorted(unknown)}; allowed are low, high, log, type (float|int) "
            "or choices"
        )
    missing = [k for k in ("low", "high") if k not in spec]
    if missing:
        raise ParameterError(f"parameter {name!r}: missing {' and '.join(missing)}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ParameterError(f"parameter {name!r}: 'log' must be true or false, got {log!r}")
    if kind in (None, "float"):
        return FloatParameter(name, spec["low"], spec["high"], log, spec.get("prior"))
    if "prior" in spec:
        raise ParameterError(f"parameter {name!r}: priors are for float parameters only")
    if kind == "int":
        return IntParameter(name, spec["low"], spec["high"], log)
    raise ParameterError(f"parameter {name!r}: type must be 'float', 'int' or 'categorical', got {kind!r}")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or name != name.strip():
        raise ParameterError(f"parameter names must be non-empty strings without surrounding spaces, got {name!r}")
    return name


@dataclass(frozen=True)
class ParameterSpace:
    """An ordered set of free parameters plus fixed values.

    ``names`` are the free parameters in declaration order; ``fixed`` the constants added to every parameter set.
    """

    parameters: tuple[Parameter, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        params = tuple(self.parameters)
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ParameterError(f"parameters {dupes} are declared more than once")
        fixed = {_check_name(k): _plain(v) for k, v in dict(self.fixed).items()}
        both = sorted(set(names) & set(fixed))
        if both:
            raise ParameterError(f"parameters {both} are both free and fixed; keep each in one place")
        for key, value in fixed.items():
            if type(value) is float and not math.isfinite(value):
                raise ParameterError(f"fixed parameter {key!r} = {value!r} is not finite")
        object.__setattr__(self, "parameters", params)
        object.__setattr__(self, "fixed", MappingProxyType(fixed))

    # --- construction -------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> ParameterSpace:
        """Build a space from its plain mapping form (see the module docstring)."""
        if isinstance(mapping, ParameterSpace):
            return mapping
        if not isinstance(mapping, Mapping):
            raise ParameterError(f"a parameter space must be a mapping of name -> spec, got {type(mapping).__name__}")
        fixed = mapping.get(FIXED_KEY) or {}
        if not isinstance(fixed, Mapping):
            raise ParameterError(f"'{FIXED_KEY}' must be a mapping of name -> value, got {fixed!r}")
        params = tuple(_parse_parameter(_check_name(k), v) for k, v in mapping.items() if k != FIXED_KEY)
        return cls(params, dict(fixed))

    @classmethod
    def from_yaml(cls, source: str | Path) -> ParameterSpace:
        """Build a space from YAML text or a ``.yaml``/``.yml`` file holding the mapping form."""
        import yaml

        is_file = isinstance(source, Path) or str(source).endswith((".yaml", ".yml"))
        text = Path(source).read_text() if is_file else str(source)
        try:
            mapping = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ParameterError(f"the parameter space is not valid YAML: {exc}") from None
        return cls.from_dict(mapping)

    @classmethod
    def coerce(cls, space: ParameterSpace | Mapping[str, Any]) -> ParameterSpace:
        """Accept either a ParameterSpace or its mapping form."""
        return space if isinstance(space, ParameterSpace) else cls.from_dict(space)

    def to_dict(self) -> dict[str, Any]:
        """The plain mapping form; ``ParameterSpace.from_dict(space.to_dict()) == space``."""
        out: dict[str, Any] = {p.name: p.to_dict() for p in self.parameters}
        if self.fixed:
            out[FIXED_KEY] = dict(self.fixed)
        return out

    # --- queries ------------------------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The free parameters' names, in declaration order."""
        return tuple(p.name for p in self.parameters)

    @property
    def all_names(self) -> tuple[str, ...]:
        return self.names + tuple(self.fixed)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.parameters)

    def cardinality(self) -> int | None:
        """How many distinct parameter sets the space holds, or None when a float parameter makes it infinite."""
        total = 1
        for p in self.parameters:
            if isinstance(p, FloatParameter):
                return None
            total *= len(p.choices) if isinstance(p, CategoricalParameter) else p.high - p.low + 1
        return total

    # --- values -------------------------------------------------------------------------------------------------

    def validate(self, params: Mapping[str, Any], *, allow_missing_fixed: bool = True) -> dict[str, Any]:
        """Check a parameter set against the space and return it with plain types and the fixed values filled in.

        Raises ParameterError naming every problem: unknown or missing names, wrong types, out-of-bounds values, or a
        fixed parameter given a different value.
        """
        if not isinstance(params, Mapping):
            raise ParameterError(f"parameters must be a mapping, got {type(params).__name__}")
        problems: list[str] = []
        out: dict[str, Any] = {}
        unknown = sorted(set(params) - set(self.all_names))
        if unknown:
            problems.append(f"unknown parameters {unknown} (the space has {list(self.all_names)})")
        for p in self.parameters:
            if p.name not in params:
                problems.append(f"missing parameter {p.name!r}")
                continue
            try:
                out[p.name] = p.validate(params[p.name])
            except ParameterError as exc:
                problems.append(str(exc))
        for key, value in self.fixed.items():
            if key in params and _plain(params[key]) != value:
                problems.append(f"fixed parameter {key!r} is {value!r}, got {params[key]!r}")
            elif key not in params and not allow_missing_fixed:
                problems.append(f"missing fixed parameter {key!r}")
            out[key] = value
        if problems:
            raise ParameterError("invalid parameter set: " + "; ".join(problems))
        return out

    def from_unit(self, u: Sequence[float]) -> dict[str, Any]:
        """Map a point of the unit hypercube (one coordinate per free parameter) to a full parameter set."""
        if len(u) != len(self.parameters):
            raise ParameterError(f"expected {len(self.parameters)} unit coordinates, got {len(u)}")
        out = {p.name: _plain(p.from_unit(float(x))) for p, x in zip(self.parameters, u, strict=True)}
        out.update(self.fixed)
        return out

    def sample(self, n: int, *, seed: int | None = None, method: str = "random") -> list[dict[str, Any]]:
        """``n`` parameter sets drawn with ``method`` ("random", "sobol" or "lhs"), reproducible given ``seed``."""
        if n < 0:
            raise ParameterError(f"cannot sample {n} points")
        return [self.from_unit(row) for row in unit_points(len(self.parameters), n, method=method, seed=seed)]

    def grid(self, points_per_dim: int = 5) -> list[dict[str, Any]]:
        """The full factorial grid: ``points_per_dim`` values per float (log-spaced when log), every integer when
        the range is small enough, every choice of a categorical."""
        if points_per_dim < 1:
            raise ParameterError(f"grid_points_per_dim must be at least 1, got {points_per_dim}")
        import itertools

        axes = [p.grid(points_per_dim) for p in self.parameters]
        out = []
        for combo in itertools.product(*axes):
            point = {p.name: _plain(v) for p, v in zip(self.parameters, combo, strict=True)}
            point.update(self.fixed)
            out.append(point)
        return out


def unit_points(dim: int, n: int, *, method: str = "random", seed: int | None = None) -> np.ndarray:
    """``n`` points in [0, 1)^dim: uniform random, scrambled Sobol or Latin hypercube (scipy.stats.qmc), seeded."""
    if dim == 0:
        return np.zeros((n, 0))
    if method == "random":
        return np.random.default_rng(seed).random((n, dim))
    from scipy.stats import qmc

    if method == "sobol":
        sampler = qmc.Sobol(d=dim, scramble=True, seed=seed)
        m = max(0, math.ceil(math.log2(max(n, 1))))
        # Draw the next power of two (the balanced Sobol set) and keep the first n: no scipy balance warning, and a
        # prefix of a Sobol sequence is still low-discrepancy.
        return sampler.random_base2(m)[:n]
    if method == "lhs":
        return qmc.LatinHypercube(d=dim, seed=seed).random(n)
    raise ParameterError(f"unknown sampling method {method!r}; use 'random', 'sobol' or 'lhs'")
