"""The forward simulation spec (`kind: Simulation`): run parameter sets x scenarios x replicates, keep every output.

```yaml
apiVersion: modelops/v1
kind: Simulation
name: sir-forward
model: {fn_ref: "sir_model:simulate", project: .}
parameters:                       # ranges (for a design) and fixed values, as in a Study
  fixed: {population: 100000, days: 150}
parameter_sets:                   # exactly one source
  from_run: sir-20261130-...      # an earlier run under --runs-dir (or give runs_dir: here)
  best: 5                         # its 5 best completed trials; or posterior_draws: 100 (weighted, seeded)
  # design: {method: sobol, n_points: 32}      # over the ranges in `parameters`
  # list: [{beta: 0.3, gamma: 0.1}, ...]       # explicit parameter sets
  # csv: sets.csv                              # one parameter set per row
scenarios:                        # named parameter patches; compose applies other scenarios' patches first
  - {name: baseline}
  - {name: distancing, patch: {beta: 0.2}}
  - {name: distancing-late, compose: [distancing], patch: {days: 200}}
replicates: 20
seed: 0
execution: {workers: 2}
```

Outputs go to ``<run>/outputs/<output name>/<scenario>/<param_id>/replicate-NNNN.parquet`` with the columns
``output``, ``scenario``, ``param_id``, ``replicate`` and ``seed`` added, so one glob reads them with polars, pandas or
DuckDB (one glob per output table, or ``union_by_name`` across tables).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from modelops.specs.base import SpecModel
from modelops.specs.study import ExecutionSpec, ModelSpec, ParameterSpec

SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class DesignSpec(SpecModel):
    method: Literal["grid", "sobol", "lhs", "random"] = "sobol"
    n_points: int | None = Field(None, ge=1, le=1_000_000)
    grid_points_per_dim: int = Field(5, ge=1, le=1000)
    seed: int = Field(0, ge=0)


class ParameterSetsSpec(SpecModel):
    """Where the parameter sets come from: exactly one of design, list, csv, from_run."""

    design: DesignSpec | None = None
    sets: list[dict[str, Any]] | None = Field(
        None, alias="list", min_length=1, max_length=1_000_000, description="Explicit parameter sets."
    )
    csv: str | None = Field(None, description="A CSV file (relative to the spec), one parameter set per row.")
    from_run: str | None = Field(None, description="The id of an earlier run to take parameter sets from.")
    runs_dir: str | None = Field(None, description="Where from_run is (default: --runs-dir of this run).")
    best: int | None = Field(None, ge=1, le=100_000, description="from_run: its best K completed trials.")
    posterior_draws: int | None = Field(None, ge=1, le=1_000_000, description="from_run: N weighted draws.")
    seed: int = Field(0, ge=0, description="Seed of the posterior draws.")

    @model_validator(mode="after")
    def _one_source(self) -> ParameterSetsSpec:
        given = [k for k in ("design", "sets", "csv", "from_run") if getattr(self, k) is not None]
        given = ["list" if k == "sets" else k for k in given]
        if len(given) != 1:
            raise ValueError(f"give exactly one of design, list, csv or from_run (got {given or 'none'})")
        if self.from_run is not None and (self.best is None) == (self.posterior_draws is None):
            raise ValueError("from_run needs exactly one of best: K (best trials) or posterior_draws: N")
        if self.from_run is None and (self.best is not None or self.posterior_draws is not None):
            raise ValueError("best and posterior_draws go with from_run")
        return self


class ScenarioSpec(SpecModel):
    name: str
    patch: dict[str, Any] = Field(default_factory=dict, description="Parameter values this scenario sets.")
    compose: list[str] = Field(default_factory=list, description="Scenarios whose patches apply first, in order.")

    @model_validator(mode="after")
    def _name(self) -> ScenarioSpec:
        if not SCENARIO_NAME.match(self.name):
            raise ValueError(f"scenario name {self.name!r} must be letters, digits, '_', '.', '-' (a directory name)")
        return self


class SimulationSpec(SpecModel):
    """A forward simulation study: `mops run` reads this when ``kind: Simulation``."""

    api_version: Literal["modelops/v1"] = Field(alias="apiVersion")
    kind: Literal["Simulation"]
    name: str | None = None
    description: str | None = None
    model: ModelSpec
    bundle: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    parameter_sets: ParameterSetsSpec
    scenarios: list[ScenarioSpec] = Field(default_factory=lambda: [ScenarioSpec(name="baseline")])
    replicates: int = Field(1, ge=1, le=100_000)
    seed: int = Field(0, ge=0, lt=2**64)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)

    @model_validator(mode="after")
    def _check(self) -> SimulationSpec:
        if self.name is not None and not re.match(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", self.name):
            raise ValueError(f"name {self.name!r} must be lowercase letters, digits and '-', at most 40 characters")
        names = [s.name for s in self.scenarios]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"scenarios {dupes} appear more than once")
        if not names:
            raise ValueError("scenarios is empty; omit it for one 'baseline' scenario")
        for s in self.scenarios:
            unknown = [c for c in s.compose if c not in names]
            if unknown:
                raise ValueError(f"scenario {s.name!r} composes unknown scenarios {unknown}")
        for s in self.scenarios:
            _patch_of(s.name, {x.name: x for x in self.scenarios}, ())  # raises on a cycle
        if self.parameter_sets.design is not None:
            ranges = {k: v for k, v in self.parameters.items() if k != "fixed"}
            if not ranges:
                raise ValueError("parameter_sets.design needs ranges under parameters (e.g. beta: {low, high})")
            for name, value in ranges.items():
                ParameterSpec.model_validate(value)  # same rules as a Study's searched parameters
                del name
        return self

    def scenario_patches(self) -> dict[str, dict[str, Any]]:
        """Each scenario's full patch: composed scenarios' patches in order, then its own."""
        by_name = {s.name: s for s in self.scenarios}
        return {s.name: _patch_of(s.name, by_name, ()) for s in self.scenarios}


def _patch_of(name: str, by_name: dict[str, ScenarioSpec], seen: tuple[str, ...]) -> dict[str, Any]:
    if name in seen:
        raise ValueError(f"scenarios compose each other in a cycle: {' -> '.join((*seen, name))}")
    out: dict[str, Any] = {}
    for other in by_name[name].compose:
        out.update(_patch_of(other, by_name, (*seen, name)))
    out.update(by_name[name].patch)
    return out
