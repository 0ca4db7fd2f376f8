"""The run record's science summaries: the posterior's intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelops.runner.posterior import (
    POSTERIOR,
    ArtifactWriter,
    posterior_summary,
    weighted_quantiles,
)
from modelops.store.results import RunStore


class _Algo:
    def __init__(self) -> None:
        self.rev = 0

    def artifacts_revision(self) -> int:
        return self.rev

    def artifacts(self) -> dict:
        rng = np.random.default_rng(0)
        x = rng.normal(2.0, 0.5, 4000)
        return {
            "posterior": {
                "generation": [0] * 4000,
                "epsilon": [1.0] * 4000,
                "weight": [1 / 4000] * 4000,
                "distance": [0.5] * 4000,
                "param_id": [f"p{i}" for i in range(4000)],
                "acceptance_rate": [1.0] * 4000,
                "theta": x.tolist(),
            }
        }


def test_posterior_written_on_revision_change_and_summarised(tmp_path: Path) -> None:
    store = RunStore(str(tmp_path), "r")
    algo = _Algo()
    writer = ArtifactWriter(store, algo)
    writer.maybe_write()
    assert store.fs.exists(store.path(POSTERIOR))
    store.fs.rm(store.path(POSTERIOR))
    writer.maybe_write()  # same revision: nothing written
    assert not store.fs.exists(store.path(POSTERIOR))
    algo.rev = 1
    writer.maybe_write()
    post = posterior_summary(store)
    assert post is not None and post["particles"] == 4000 and post["ess"] == pytest.approx(4000)
    theta = post["params"]["theta"]
    assert theta["median"] == pytest.approx(2.0, abs=0.03)
    assert theta["lo"] == pytest.approx(2.0 - 1.645 * 0.5, abs=0.05)
    assert theta["hi"] == pytest.approx(2.0 + 1.645 * 0.5, abs=0.05)


def test_weighted_quantiles_respect_weights() -> None:
    values = np.array([0.0, 1.0, 2.0, 3.0])
    assert weighted_quantiles(values, np.array([0.0, 0.0, 1.0, 0.0]), [0.05, 0.5, 0.95]) == [2.0, 2.0, 2.0]
    assert weighted_quantiles(values, np.ones(4), [0.5]) == [1.5]
