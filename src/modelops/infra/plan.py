"""A planned stack: what a provider computes, purely, from a provider config before anything is applied.

cloud = providers.cloud_for(load_provider("azure.yaml"))
plan = cloud.infra_stack("dev", "alice")              # StackPlan: name, program config, stack config, reads
automation.up(ctx, plan.component, programs.build(plan), config=plan.stack_config)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
