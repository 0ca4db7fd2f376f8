"""The Python API: build a study, run it, read and plot its results (documented in docs/python-api.md)."""

from modelops.api.runs import Run, RunPlots, open_run, run
from modelops.api.study import Study, as_study

__all__ = ["Run", "RunPlots", "Study", "as_study", "open_run", "run"]
