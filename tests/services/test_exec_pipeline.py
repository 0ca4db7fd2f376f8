"""Pipeline bookkeeping under arbitrary interleavings: every group comes back exactly once, the engine never holds
more than max_tasks tasks, chunks never exceed max_chunk. Runs on the in-process backend (real run_group calls)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.services import SimulationGroup
from modelops.services.local import _InProcessBackend
from modelops.services.pipeline import GroupPipeline
from modelops.services.tasks import GroupResult
from modelops_contracts import make_param_id

from .conftest import MODELS_DIR


class CountingBackend(_InProcessBackend):
    def __init__(self) -> None:
        super().__init__()
        self.peak = 0
        self.largest = 0

    def dispatch(self, chunk: Sequence[SimulationGroup]) -> None:
        super().dispatch(chunk)
        self.peak = max(self.peak, len(self._queue))
        self.largest = max(self.largest, len(chunk))

    def wait(self, timeout: float | None) -> tuple[Sequence[SimulationGroup], list[GroupResult]] | None:
        done = super().wait(timeout)
        if done is not None:
            # Pretend each group took 10 ms so the pipeline chunks (real durations here are microseconds).
            chunk, results = done
            done = chunk, [GroupResult(r.param_id, r.replicates, r.evaluation, r.error, 0.01) for r in results]
        return done


GROUPS = [
    SimulationGroup(
        "exec_models:busy", {"ms": 0, "k": k}, make_param_id({"ms": 0, "k": k}), (k,), search_path=(MODELS_DIR,)
    )
    for k in range(60)
]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 60),
    max_tasks=st.integers(1, 5),
    max_chunk=st.integers(1, 12),
    ops=st.lists(st.sampled_from(["fill", "one", "take"]), min_size=1, max_size=40),
)
def test_exec_pipeline_returns_every_group_once_within_bounds(
    n: int, max_tasks: int, max_chunk: int, ops: list[str]
) -> None:
    backend = CountingBackend()
    pipe = GroupPipeline(backend, max_tasks=max_tasks, target_task_s=0.05, max_chunk=max_chunk)
    todo = list(GROUPS[:n])
    got: list[str] = []
    for op in ops:
        if op == "fill":
            while todo and pipe.in_flight < pipe.capacity:
                pipe.submit(todo.pop())
        elif op == "one" and todo:
            pipe.submit(todo.pop())
        elif op == "take":
            r = pipe.next_result(timeout=0)
            if r is not None:
                got.append(r.param_id)
        assert pipe.in_flight == n - len(todo) - len(got)
    for g in todo:
        pipe.submit(g)
    got.extend(r.param_id for r in pipe.results())
    assert sorted(got) == sorted(g.param_id for g in GROUPS[:n])
    assert pipe.in_flight == 0 and pipe.next_result() is None
    assert backend.peak <= max_tasks and backend.largest <= max_chunk
    if n >= 20 and max_chunk > 1:
        assert pipe.chunk_size == min(max_chunk, 5)  # 50 ms target / 10 ms per group
