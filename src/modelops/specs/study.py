"""The study spec (`kind: Study`): what `mops run` calibrates, against what data, with which search.

```yaml
apiVersion: modelops/v1
kind: Study
name: sir
model: {fn_ref: "sir_model:simulate", project: .}     # project (relative to this file) goes on sys.path
parameters:
  beta: {low: 0.1, high: 1.0, log: true}
  gamma: {low: 0.02, high: 0.5, log: true}
  fixed: {population: 100000}
targets:
  - {name: incidence, output: incidence, observed: data/observed.csv, keys: [day], values: [cases],
     loss: poisson_nll, combine: mean_signal}
algorithm: {ref: optuna, sampler: tpe, n_trials: 150, seed: 7}
replicates: 4
storage: {kind: journal}            # or {kind: sqlite, path: ...} / {kind: postgres, dsn: ...} / {kind: postgres}
execution: {workers: 2}             # or {scheduler: tcp://host:8786}
outputs: summaries                  # none | summaries | all
```

The spec is pure data: nothing here imports the model or the science package. Paths are kept as written and
resolved against the spec file's directory by :func:`resolve_path`, so the same spec runs from any working directory.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from modelops.core.fnref import FN_REF_RULE
from modelops.core.redaction import password_is_marker, strip_marker_password
from modelops.specs.base import SpecModel, load_spec
from modelops.specs.inputs import check_scheduler_address

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOSSES = (
    "sse",
    "mse",
    "mae",
    "poisson_nll",
    "negative_binomial_nll",
    "binomial_nll",
    "beta_binomial_nll",
    "gaussian_nll",
)
# Load-time bounds (docs/study-spec.md, "Limits"): far above any real study, low enough that a typo (n_trials: 1e12)
# or a generated spec gone wrong is refused at once with a message instead of running for hours or exhausting memory.
MAX_TRIALS = 10_000_000
MAX_BATCH_SIZE = 10_000
MAX_FIXED = 10_000
MAX_CHOICES = 100_000
MAX_IN_FLIGHT = 100_000
WORKERS_PER_CORE = 4
ALGORITHM_ALIASES = {
    "optuna": "calabaria.algorithms:OptunaAlgorithm",
    "sweep": "calabaria.algorithms:SweepAlgorithm",
    "abc-smc": "calabaria.algorithms:AbcSmcAlgorithm",
}


def _check_ref(value: str, what: str) -> str:
    if not FN_REF_RULE.match(value):
        raise ValueError(
            f"{value!r} is not a reference; write {what} as 'package.module:attribute' (e.g. 'sir_model:simulate')"
        )
    return value


class ModelSpec(SpecModel):
    """The model: a function ``fn(params, seed) -> {output: table}`` or a model class with such a ``simulate``."""

    fn_ref: str | None = Field(None, description="'module:function' of the simulation function.")
    class_ref: str | None = Field(None, description="'module:ModelClass', a class with simulate(params, seed).")
    project: str | None = Field(None, description="Directory put on sys.path (relative to the spec file).")

    @field_validator("fn_ref", "class_ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        return None if value is None else _check_ref(value, "the model")

    @model_validator(mode="after")
    def _one_ref(self) -> ModelSpec:
        if (self.fn_ref is None) == (self.class_ref is None):
            raise ValueError("give exactly one of fn_ref ('module:function') or class_ref ('module:ModelClass')")
        return self

    @property
    def ref(self) -> str:
        """The reference the workers resolve (classes are instantiated there and their simulate is called)."""
        return self.fn_ref or self.class_ref  # type: ignore[return-value]


class ParameterSpec(SpecModel):
    """One searched parameter: a range (``low``/``high``, optionally ``log`` and ``type: int``) or ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    type: Literal["float", "int"] = "float"
    choices: list[Any] | None = None
    prior: dict[str, Any] | None = Field(
        None, description="Prior for Bayesian algorithms (abc-smc): {dist: normal|lognormal|beta, ...}; see docs."
    )

    @model_validator(mode="after")
    def _shape(self) -> ParameterSpec:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            if not self.choices:
                raise ValueError("choices is empty; list at least one value")
            if len(self.choices) > MAX_CHOICES:
                raise ValueError(f"{len(self.choices):,} choices; at most {MAX_CHOICES:,} (use a range for more)")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs both low and high (or give choices: [...])")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high must be finite numbers (got {self.low}, {self.high})")
        if not math.isfinite(self.high - self.low):
            raise ValueError(f"the range {self.low}..{self.high} is too wide to sample (its width overflows a float)")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0 (got {self.low}); raise low or drop log")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("type: int needs whole-number low and high")
        return self

    def to_mapping(self) -> dict[str, Any]:
        """The plain mapping form the science package's ParameterSpace.from_dict reads."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.type == "int":
            out = {"low": int(self.low), "high": int(self.high), "type": "int"}  # type: ignore[arg-type]
        if self.log:
            out["log"] = True
        if self.prior is not None:
            out["prior"] = dict(self.prior)  # checked by the science package's ParameterSpace
        return out


class TargetSpec(SpecModel):
    """One target: a model output compared with observed data on key columns, scored by a loss."""

    name: str | None = Field(None, description="The target's name in results (default: the output name).")
    output: str = Field(description="Name of the model output (a key of the mapping simulate returns).")
    observed: str = Field(description="CSV or Parquet file of observed data, relative to the spec file.")
    keys: list[str] = Field(min_length=1, description="Columns to align simulated and observed rows on.")
    asof: str | None = Field(None, description="A key column joined as-of (nearest earlier) instead of exactly.")
    values: list[str] | dict[str, str] = Field(description="Value columns, or {observed_column: simulated_column}.")
    loss: Literal[LOSSES] = Field(description=f"One of {', '.join(LOSSES)}.")  # type: ignore[valid-type]
    loss_options: dict[str, Any] = Field(default_factory=dict)
    weight: float = Field(1.0, gt=0)
    combine: Literal["mean_signal", "mean_loss", "mean_likelihood"] = "mean_signal"
    on_impossible: Literal["penalty", "fail"] = Field(
        "penalty", description="Data impossible under the simulation (likelihood 0): a graded 1e8+ loss, or FAILED."
    )

    @field_validator("values")
    @classmethod
    def _values(cls, value: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        if not value:
            raise ValueError("values is empty; name at least one value column")
        return value

    @model_validator(mode="after")
    def _asof_is_key(self) -> TargetSpec:
        if self.asof is not None and self.asof not in self.keys:
            raise ValueError(f"asof column {self.asof!r} must be one of keys {self.keys}")
        return self

    @property
    def target_name(self) -> str:
        return self.name or self.output


class AlgorithmSpec(SpecModel):
    """The ask/tell search, by reference; `n_trials`, `sampler` and `options` are passed to its constructor."""

    ref: str = Field("optuna", description="'optuna', 'sweep', an entry point name, or 'module:Class'.")
    n_trials: int | None = Field(
        None, ge=1, le=MAX_TRIALS, description=f"Total number of parameter sets to evaluate (at most {MAX_TRIALS:,})."
    )
    sampler: str | None = Field(None, description="Optuna sampler: tpe, cmaes, random, gp.")
    seed: int = Field(0, ge=0, lt=2**64, description="Base seed of the search and of every replicate's seed.")
    options: dict[str, Any] = Field(default_factory=dict, description="More constructor options (direction...).")

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if ":" in value:
            return _check_ref(value, "the algorithm")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", value):  # entry point names may hold '-' (abc-smc)
            raise ValueError(
                f"{value!r} is neither a known name ('optuna', 'sweep', 'abc-smc') nor a 'module:Class' reference"
            )
        return value

    @model_validator(mode="after")
    def _no_duplicates(self) -> AlgorithmSpec:
        for key in ("n_trials", "sampler", "seed", "storage", "study_name"):
            if key in self.options:
                raise ValueError(f"options.{key} is set by the spec itself; move it out of options")
        return self

    def constructor_options(self) -> dict[str, Any]:
        options = dict(self.options)
        if self.n_trials is not None:
            options["n_trials"] = self.n_trials
        if self.sampler is not None:
            options["sampler"] = self.sampler
        return options


class JournalStorage(SpecModel):
    """An Optuna journal file in the run directory (the default; one machine)."""

    kind: Literal["journal"] = "journal"


class SqliteStorage(SpecModel):
    kind: Literal["sqlite"]
    path: str = Field(description="SQLite file, relative to the spec file.")


class PostgresStorage(SpecModel):
    """A PostgreSQL database shared by several runners; no dsn means "take PGHOST, PGUSER... from the environment"."""

    kind: Literal["postgres"]
    dsn: str | None = None

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^postgres(ql)?(\+\w+)?://", value):
            raise ValueError("dsn must be a URL like postgresql://user@host:5432/dbname (or omit it to use PG* env)")
        # A spec copied from a run directory has its password replaced by the marker: take it from PGPASSWORD.
        if value is not None and password_is_marker(value):
            return strip_marker_password(value)
        return value


Storage = Annotated[JournalStorage | SqliteStorage | PostgresStorage, Field(discriminator="kind")]


class ExecutionSpec(SpecModel):
    """Where simulations run (local worker processes by default, an existing Dask scheduler, or in process), and
    the limits every simulation runs under."""

    workers: int | None = Field(
        None, ge=0, description="Local worker processes (default: one per core; 0 = in process)."
    )
    scheduler: str | None = Field(None, description="Address of a running Dask scheduler (tcp://host:8786).")
    max_in_flight: int | None = Field(
        None, ge=1, description="Parameter sets in flight at once (default: a few per worker)."
    )
    tell_order: Literal["submission", "completion"] = Field(
        "submission",
        description=(
            "submission: results reach the algorithm in the order asked, so the same seeds give the same trials; "
            "completion: as they finish (a little faster, not reproducible)."
        ),
    )
    cache: bool | str = Field(True, description="Simulation cache: true (the run directory), false, or an fsspec URL.")
    backend: Literal["auto", "pool", "dask", "inprocess"] = Field(
        "auto",
        description=(
            "What runs simulations: auto (a process pool locally, Dask with a scheduler, in process with workers: 0), "
            "pool (local worker processes, no scheduler), dask (a Dask LocalCluster, or the scheduler), inprocess."
        ),
    )
    timeout_s: float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 3600,
        description=(
            "Longest one simulation may run, in seconds (a parameter set gets timeout_s x replicates); past it the "
            "worker is killed and replaced and the trial fails with reason timeout. Default: no limit. On shared "
            "clusters set one (e.g. 10x a typical simulation)."
        ),
    )
    retries: int = Field(
        1,
        ge=0,
        le=10,
        description="Runs again a parameter set whose worker died or timed out, this many times, before it fails.",
    )

    @model_validator(mode="after")
    def _one_place(self) -> ExecutionSpec:
        if self.scheduler is not None and self.workers is not None:
            raise ValueError("give workers (a local cluster) or scheduler (an existing one), not both")
        if self.scheduler is not None and self.backend in ("pool", "inprocess"):
            raise ValueError(
                f"backend {self.backend!r} runs on this machine; a scheduler needs backend 'dask' or 'auto'"
            )
        return self


class StudySpec(SpecModel):
    """A calibration study: `mops run` reads this."""

    api_version: Literal["modelops/v1"] = Field(alias="apiVersion")
    kind: Literal["Study"]
    name: str | None = Field(None, description="Study name (default: the file name); prefixes run ids.")
    description: str | None = None
    model: ModelSpec
    bundle: str | None = Field(
        None,
        description=(
            "Run the model from a bundle: a project directory (relative to this file; `mops run` pushes it when it "
            "changed, to $MODELOPS_BUNDLE_REPOSITORY) or a bundle ref (sha256:... or <repository>@sha256:...)."
        ),
    )
    parameters: dict[str, ParameterSpec] = Field(
        description="Searched parameters by name, and an optional 'fixed' mapping of constant values."
    )
    parameters_fixed: dict[str, Any] = Field(default_factory=dict, alias="parameters.fixed")
    targets: list[TargetSpec] = Field(min_length=1)
    algorithm: AlgorithmSpec = Field(default_factory=AlgorithmSpec)
    replicates: int = Field(1, ge=1, le=10_000, description="Stochastic replicates per parameter set.")
    batch_size: int | None = Field(
        None, ge=1, le=MAX_BATCH_SIZE, description="Most parameter sets asked at once (default: what fits)."
    )
    storage: Storage = Field(default_factory=JournalStorage)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    outputs: Literal["none", "summaries", "all"] = "summaries"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", value):
            raise ValueError(f"name {value!r} must be lowercase letters, digits and '-', at most 40 characters")
        return value

    @model_validator(mode="before")
    @classmethod
    def _split_fixed(cls, data: Any) -> Any:
        # `parameters.fixed` sits next to the searched parameters in YAML (how modellers think of them) but is a
        # different kind of thing; split it off so each searched entry is validated strictly, with its own path.
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict) and "fixed" in data["parameters"]:
            data = dict(data)
            parameters = dict(data["parameters"])
            data["parameters_fixed"] = parameters.pop("fixed")
            data["parameters"] = parameters
        return data

    @field_validator("parameters_fixed")
    @classmethod
    def _fixed_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Every trial carries the fixed values to the model and into its records: a huge mapping (a generated spec
        # gone wrong) would make each trial slow and each record large, so it is refused here, not discovered later.
        if len(value) > MAX_FIXED:
            raise ValueError(
                f"{len(value):,} fixed parameters; at most {MAX_FIXED:,} (put large inputs in a data file the model "
                "reads, and pass its path as one fixed parameter)"
            )
        return value

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"parameter name {name!r} must be an identifier (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        searched = list(self.parameters)
        if not searched:
            raise ValueError("parameters has nothing to search; add at least one {low, high} or {choices} entry")
        overlap = set(searched) & set(self.fixed_parameters)
        if overlap:
            raise ValueError(f"parameters {sorted(overlap)} are both searched and fixed; keep one")
        problem = check_workers(self.execution.workers)
        if problem:
            raise ValueError(f"execution.workers: {problem}")
        problem = check_scheduler_address(self.execution.scheduler) if self.execution.scheduler else None
        if problem:
            raise ValueError(f"execution.scheduler: {problem}")
        if self.execution.max_in_flight is not None and self.execution.max_in_flight > MAX_IN_FLIGHT:
            raise ValueError(f"execution.max_in_flight {self.execution.max_in_flight:,} is over {MAX_IN_FLIGHT:,}")
        names = [t.target_name for t in self.targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"targets {duplicates} appear more than once; give each target a distinct name")
        return self

    @property
    def fixed_parameters(self) -> dict[str, Any]:
        return dict(self.parameters_fixed)

    def space_mapping(self) -> dict[str, Any]:
        """The parameter space in the science package's plain mapping form."""
        space: dict[str, Any] = {n: d.to_mapping() for n, d in self.parameters.items()}
        if self.fixed_parameters:
            space["fixed"] = self.fixed_parameters
        return space

    @property
    def searched_names(self) -> list[str]:
        return list(self.parameters)


def max_local_workers() -> int:
    """The most local worker processes a run may start on this machine (``WORKERS_PER_CORE`` per core, at least 8)."""
    return max(8, WORKERS_PER_CORE * (os.cpu_count() or 1))


def check_workers(workers: int | None) -> str | None:
    """Why ``workers`` local processes is too many for this machine, or None when it is fine."""
    if workers is None or workers <= max_local_workers():
        return None
    return (
        f"{workers} local worker processes on {os.cpu_count()} cores would spend their time starting and swapping "
        f"rather than simulating; use at most {max_local_workers()} here, or run on a Dask scheduler "
        "(execution.scheduler / --scheduler) that has the cores"
    )


def resolve_path(spec_path: str | Path, value: str) -> Path:
    """A path from the spec, resolved against the spec file's directory (absolute paths are kept)."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (Path(spec_path).resolve().parent / path).resolve()


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study YAML file (SpecError naming each bad field and how to fix it)."""
    return load_spec(StudySpec, path)
