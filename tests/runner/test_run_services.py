"""Which simulation service `mops run` uses: flags, then $DASK_SCHEDULER_ADDRESS (the pods), then the spec; the
process pool locally unless execution.backend says dask."""

from __future__ import annotations

import pytest

from modelops.runner.services import service_description
from modelops.specs.study import ExecutionSpec


@pytest.mark.parametrize(
    ("spec", "workers", "scheduler", "env", "expected"),
    [
        ({}, None, None, None, (False, "process pool")),
        ({"workers": 3}, None, None, None, (False, "process pool, 3 workers")),
        ({"workers": 3, "backend": "dask"}, None, None, None, (False, "local dask cluster, 3 workers")),
        ({"workers": 0}, None, None, None, (False, "in process")),
        ({"workers": 3}, None, None, "tcp://pod:8786", (True, "dask scheduler tcp://pod:8786")),
        ({"scheduler": "tcp://spec:8786"}, None, None, None, (True, "dask scheduler tcp://spec:8786")),
        ({"scheduler": "tcp://spec:8786"}, None, None, "tcp://pod:8786", (True, "dask scheduler tcp://pod:8786")),
        ({}, 4, None, "tcp://pod:8786", (False, "process pool, 4 workers")),
        ({}, None, "tcp://flag:8786", "tcp://pod:8786", (True, "dask scheduler tcp://flag:8786")),
    ],
)
def test_service_precedence(spec, workers, scheduler, env, expected, monkeypatch: pytest.MonkeyPatch) -> None:
    if env:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", env)
    remote, description = service_description(ExecutionSpec.model_validate(spec), workers, scheduler)
    assert remote == expected[0]
    assert description.startswith(expected[1])
