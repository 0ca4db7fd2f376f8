"""A run's constant context: what every group of one run shares, shipped to each worker once.

A calibration submits thousands of groups that differ only in ``params``, ``param_id`` and ``seeds``; the model
reference, import path, bundle, evaluator (with the observed data inlined, easily tens of thousands of values), cache
and outputs locations are the same for all of them. ``service.prepare(context)`` ships these once per worker and
warms it (imports the model, builds the evaluator) before the first task; groups then travel as three small fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelops.services.tasks import SimulationGroup

# modelops.services.tasks (polars, pyarrow, fsspec) is imported where needed, not here: the pool imports this
# module before it starts its workers.

#: How long ``prepare`` waits for workers to import the model and build the evaluator (a scientific stack can take
#: tens of seconds to import on a cold disk); bounded so a model that hangs at import fails the run, never stalls it.
DEFAULT_PREPARE_TIMEOUT_S = 180.0


def _plain(value: Any) -> Any:
    """A deep, plain (dict/list) copy: read-only mappings and tuples from contracts objects do not pickle/JSON."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def config_digest(config: Mapping[str, Any] | None) -> str:
    """A content digest of an evaluator config: how a worker recognises a config whose evaluator it already built."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:32]


class ModelLoadError(RuntimeError):
    """The model (or the target evaluator) cannot be loaded on the workers; ``stage`` is "model" or "evaluator".

    ``str(err)`` is one paragraph naming the model and the cause: an ImportError's text, the exit code or the signal
    that ended the worker while it imported the model, or the evaluator's complaint about the targets.
    """

    def __init__(self, message: str, *, stage: str = "model", ref: str | None = None):
        super().__init__(message)
        self.stage = stage
        self.ref = ref


@dataclass(frozen=True)
class RunContext:
    """The fields every group of a run shares (see :class:`SimulationGroup` for their meaning)."""

    fn_ref: str
    search_path: tuple[str, ...] = ()
    bundle_ref: str | None = None
    evaluator_ref: str | None = None
    evaluator_config: Mapping[str, Any] | None = None
    evaluator_key: str | None = None
    cache_url: str | None = None
    outputs_url: str | None = None
    return_outputs: bool = False
    _digest: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.fn_ref, str) or not self.fn_ref:
            raise ValueError("RunContext.fn_ref must be a 'package.module:function' string")
        object.__setattr__(self, "search_path", tuple(str(p) for p in self.search_path))
        if self.evaluator_config is not None and self.evaluator_key is None:
            config = _plain(self.evaluator_config)
            object.__setattr__(self, "evaluator_config", config)
            object.__setattr__(self, "evaluator_key", config_digest(config))
        ident = [
            self.fn_ref,
            list(self.search_path),
            self.bundle_ref,
            self.evaluator_ref,
            self.evaluator_key,
            self.cache_url,
            self.outputs_url,
            self.return_outputs,
        ]
        digest = hashlib.sha256(json.dumps(ident).encode("utf-8")).hexdigest()[:24]
        object.__setattr__(self, "_digest", digest)

    @property
    def digest(self) -> str:
        """Identifies this context on a worker (the evaluator config enters through its digest)."""
        return self._digest

    @classmethod
    def of(cls, group: SimulationGroup) -> RunContext:
        """The context of ``group`` (its constant fields)."""
        return cls(
            fn_ref=group.fn_ref,
            search_path=group.search_path,
            bundle_ref=group.bundle_ref,
            evaluator_ref=group.evaluator_ref,
            evaluator_config=group.evaluator_config,
            evaluator_key=group.evaluator_key,
            cache_url=group.cache_url,
            outputs_url=group.outputs_url,
            return_outputs=group.return_outputs,
        )

    def matches(self, group: SimulationGroup) -> bool:
        """Whether ``group``'s constant fields are this context's (so only params/param_id/seeds need shipping)."""
        return (
            group.fn_ref == self.fn_ref
            and group.search_path == self.search_path
            and group.bundle_ref == self.bundle_ref
            and group.evaluator_ref == self.evaluator_ref
            and group.evaluator_key == self.evaluator_key
            and group.cache_url == self.cache_url
            and group.outputs_url == self.outputs_url
            and group.return_outputs == self.return_outputs
        )

    def group(self, params: Mapping[str, Any], param_id: str, seeds: Sequence[int]) -> SimulationGroup:
        """A full group of this run."""
        from modelops.services.tasks import SimulationGroup

        return SimulationGroup(
            fn_ref=self.fn_ref,
            params=params,
            param_id=param_id,
            seeds=tuple(seeds),
            bundle_ref=self.bundle_ref,
            evaluator_ref=self.evaluator_ref,
            evaluator_config=self.evaluator_config,
            cache_url=self.cache_url,
            outputs_url=self.outputs_url,
            return_outputs=self.return_outputs,
            search_path=self.search_path,
            evaluator_key=self.evaluator_key,
        )


def warm(context: RunContext) -> tuple[str, str] | None:
    """Import the model and build the evaluator in this process (memoised for later groups).

    Returns None when both load, else ``(stage, message)``: stage "model" or "evaluator", message one paragraph.
    """
    from modelops.services import tasks

    try:
        search_path = tasks._search_path(context.group({}, "warm", (0,)))
        tasks._function(context.fn_ref, search_path)
    except BaseException as exc:  # SystemExit from a module that calls sys.exit at import counts too
        return "model", f"cannot import the model {context.fn_ref!r}: {type(exc).__name__}: {exc}"
    if context.evaluator_ref:
        try:
            tasks._evaluator(context.evaluator_ref, context.evaluator_config, context.evaluator_key, search_path)
        except BaseException as exc:
            return "evaluator", (
                f"the target evaluator {context.evaluator_ref!r} refused the study's targets: "
                f"{type(exc).__name__}: {exc}"
            )
    return None
