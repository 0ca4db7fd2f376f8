"""The runner: drives a study's ask/tell loop over the execution layer and keeps its record (`mops run`).

The same code runs on a laptop (a local Dask cluster, an Optuna journal) and in the adaptive pods of a cluster
(a remote scheduler, a shared PostgreSQL study, records on an object store).
"""

from modelops.runner.driver import RunError, RunOptions, RunProgress, RunSummary, run_study

__all__ = ["RunError", "RunOptions", "RunProgress", "RunSummary", "run_study"]
