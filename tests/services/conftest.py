"""Fixtures for the execution tests: a LocalCluster service, and a cluster of `dask scheduler` + `dask worker`
processes started with the commands the workspace pods run (modelops_testing.dask_cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops_testing.dask_cluster import DaskCliCluster, dask_cli_cluster

MODELS_DIR = str(Path(__file__).resolve().parent)  # holds exec_models.py, found by workers via search_path


@pytest.fixture(scope="session")
def models_dir() -> str:
    return MODELS_DIR


@pytest.fixture(scope="session")
def dask_service() -> Iterator:
    """A DaskSimulationService on a 2-worker LocalCluster, shared by the session (starting one takes seconds)."""
    from modelops.services.dask import DaskSimulationService

    with DaskSimulationService(n_workers=2, search_path=[MODELS_DIR]) as service:
        yield service


@pytest.fixture(scope="session")
def dask_cli() -> Iterator[DaskCliCluster]:
    """`dask scheduler` + two `dask worker` processes on loopback, as a workspace runs them."""
    with dask_cli_cluster(n_workers=2) as cluster:
        yield cluster
