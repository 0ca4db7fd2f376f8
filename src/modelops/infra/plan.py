"""Compiled plans and the provider-plugin protocol.

A provider compiles a Runtime spec, purely, into an ordered list of stacks with the config each program needs;
applying the plan brings the stacks up in that order and returns, per stack, what runners need to connect
(``BindingOutputs``). Compile errors are SpecErrors naming the field and the fix.

    plugin = providers.get("azure", environment="dev", username="alice")
    plan = plugin.compile(load_runtime("runtime.yaml"))
    for stack in plan.stacks: print(stack.stack, stack.reads)
    bindings = plugin.apply(plan)          # effects: pulumi up, in order
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from modelops.infra.bindings import BindingOutputs
from modelops.specs.runtime import RuntimeSpec


@dataclass(frozen=True)
class StackPlan:
    """One stack to apply: its component and name, the config its program is built from (JSON-able), the Pulumi
    stack config it needs (provider settings), and the stacks it reads through StackReferences."""

    component: str
    stack: str
    project: str
    config: Mapping[str, Any] = field(default_factory=dict)
    stack_config: Mapping[str, str] = field(default_factory=dict)
    reads: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None
    # The program factory ("module:function") when the provider brings its own (else ``programs.PROGRAMS``), and
    # the Pulumi resource plugins it needs (else ``automation.COMPONENT_PLUGINS``).
    program: str | None = None
    plugins: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "component": self.component,
            "stack": self.stack,
            "project": self.project,
            "run_id": self.run_id,
            "reads": dict(self.reads),
            "stack_config": dict(self.stack_config),
            "config": _plain(self.config),
        }
        if self.program:
            out["program"] = self.program
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class CompiledPlan:
    """The stacks of a runtime, in the order they are brought up (teardown is the reverse)."""

    name: str
    provider: str
    environment: str
    stacks: tuple[StackPlan, ...]

    def stack(self, component: str, run_id: str | None = None) -> StackPlan:
        for s in self.stacks:
            if s.component == component and (run_id is None or s.run_id == run_id):
                return s
        raise KeyError(f"the plan has no {component} stack" + (f" for run {run_id}" if run_id else ""))

    def components(self) -> list[str]:
        return [s.component for s in self.stacks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "environment": self.environment,
            "stacks": [s.to_dict() for s in self.stacks],
        }


@runtime_checkable
class ProviderPlugin(Protocol):
    """A place clusters come from. ``compile`` is pure (no network, no Pulumi); ``apply`` has the effects."""

    name: str

    def compile(self, spec: RuntimeSpec) -> CompiledPlan: ...

    def apply(self, plan: CompiledPlan) -> dict[str, BindingOutputs]: ...
