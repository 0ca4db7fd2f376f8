"""``modelops.run`` and ``modelops.open_run``: a run as a Python object (tables, best trial, plots, re-simulation)."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.api._mainguard import children_skip_main
from modelops.api.study import Study, as_study
from modelops.store.results import STUDY, RunStore
from modelops.store.trial import Trial

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.figure import Figure

    from modelops.runner.driver import RunProgress, RunSummary
    from modelops.runner.study import ResolvedStudy
    from modelops.specs.study import StudySpec

POSTERIOR = "posterior.parquet"


class Run:
    """A recorded run: what ``modelops.run`` returns and ``modelops.open_run`` opens.

    The tables are read from the run record when first used and then kept; call :meth:`reload` to read a run that
    is still growing again.
    """

    def __init__(self, store: RunStore, summary: RunSummary | None = None) -> None:
        self.store = store
        self.summary = summary
        self.plot = RunPlots(self)

    # -- identity and status ---------------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.store.run_id

    @property
    def url(self) -> str:
        """Where the run record lives (a local directory or an object-store URL)."""
        return self.store.url

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """Provenance and status (manifest.json): versions, seeds, storage, the summary figures, the error if any."""
        return self.store.manifest()

    @property
    def status(self) -> str:
        """completed, interrupted, failed, or running (a run still going, or killed outright)."""
        return str(self.manifest.get("status"))

    @property
    def error(self) -> str | None:
        """Why the run stopped, when it failed."""
        return (self.manifest.get("summary") or {}).get("error")

    @functools.cached_property
    def study(self) -> ResolvedStudy:
        """The study as the runner resolved it (model reference, parameter space, targets with their data)."""
        from modelops.runner.study import ResolvedStudy

        return ResolvedStudy.from_json(self.store.read_json(STUDY))

    # -- tables ----------------------------------------------------------------------------------------------------

    @functools.cached_property
    def _tables(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return self.store.load()

    @property
    def trials(self) -> pl.DataFrame:
        """One row per trial (polars; ``.to_pandas()`` needs pandas): trial, param_id, status, loss, ``param.*``,
        ``loss.*`` per target, timings, error. See docs/python-api.md for every column."""
        return self._tables[0]

    @property
    def replicates(self) -> pl.DataFrame:
        """One row per simulated replicate: param_id, replicate, seed, ok, cached, ``loss.*`` per target."""
        return self._tables[1]

    @functools.cached_property
    def posterior(self) -> pl.DataFrame | None:
        """Posterior draws (posterior.parquet), for algorithms that infer a posterior; None for the others."""
        import io

        import polars as pl

        if not self.store.fs.exists(self.store.path(POSTERIOR)):
            return None
        return pl.read_parquet(io.BytesIO(self.store.read_bytes(POSTERIOR)))

    def reload(self) -> Run:
        """Forget what was read, so the next access reads the record again."""
        for name in ("manifest", "_tables", "posterior", "study"):
            self.__dict__.pop(name, None)
        return self

    # -- trials ----------------------------------------------------------------------------------------------------

    @property
    def best(self) -> Trial | None:
        """The completed trial with the lowest loss (None when nothing has completed)."""
        top = self.top(1)
        return top[0] if top else None

    def top(self, n: int = 5) -> list[Trial]:
        """The ``n`` completed trials with the lowest losses, best first."""
        import polars as pl

        trials = self.trials
        if trials.height == 0:
            return []
        done = trials.filter((pl.col("status") == "completed") & pl.col("loss").is_not_null())
        return [Trial.from_row(row) for row in done.sort("loss", maintain_order=True).head(n).iter_rows(named=True)]

    def outputs(self, trial: Trial | str | None = None) -> list[dict[str, pl.DataFrame]]:
        """The raw outputs the workers kept for one trial (a Trial or a param_id; default the best), one
        ``{output name: DataFrame}`` per replicate. Only a study with ``outputs: all`` keeps them; for the others
        :meth:`simulate` makes them again from the recorded seeds."""
        import polars as pl

        from modelops.services.tasks import read_replicate_outputs, replicate_output_path

        if trial is None:
            trial = self.best
            if trial is None:
                raise ValueError(f"run {self.run_id!r} has no completed trial")
        param_id = trial.param_id if isinstance(trial, Trial) else trial
        outputs_url = self.store.url_of("outputs")
        if not self.store.fs.exists(self.store.path("outputs")):
            raise ValueError(
                f"run {self.run_id!r} kept no raw outputs (its study has outputs: {self.study.outputs}); "
                "run the study with outputs: all, or re-create them with run.simulate()"
            )
        replicates = self.replicates.filter(pl.col("param_id") == param_id).sort("replicate")
        if replicates.height == 0:
            raise ValueError(f"run {self.run_id!r} has no trial with param_id {param_id!r}")
        storage_options = dict(self.store.storage_options)
        return [
            read_replicate_outputs(replicate_output_path(outputs_url, param_id, int(i)), storage_options)[0]
            for i in replicates["replicate"].to_list()
        ]

    def simulate(
        self, params: Mapping[str, Any] | None = None, seeds: list[int] | None = None
    ) -> list[dict[str, pl.DataFrame]]:
        """Run the model in this process and return each replicate's outputs (``{output name: DataFrame}``).

        Default: the best trial again, with its recorded seeds (so the outputs are exactly the ones it was scored
        on; the run's cache serves them when it has them). ``params`` overrides parameters of the best trial (a
        forward run with, say, a changed contact rate); ``seeds`` chooses the replicate seeds.
        """
        from modelops.runner.plots import run_cache_url, simulate_trial, trial_seeds
        from modelops_contracts import make_param_id

        best = self.best
        if best is None:
            raise ValueError(f"run {self.run_id!r} has no completed trial to start from")
        merged = {**best.params, **dict(params or {})}
        param_id = make_param_id(merged)
        if seeds is None:
            seeds = trial_seeds(self.replicates, best.param_id)
        cache = run_cache_url(self.store) if param_id == best.param_id else None
        return simulate_trial(self.study, merged, param_id, list(seeds), cache)

    def __repr__(self) -> str:
        best = self.best
        loss = f", best loss {best.loss:.6g}" if best is not None and best.loss is not None else ""
        return f"<Run {self.run_id}: {self.status}, {self.trials.height} trials{loss}>"


class RunPlots:
    """``run.plot.*()``: each returns a :class:`matplotlib.figure.Figure` (shown inline in Jupyter; ``fig.savefig``
    writes a file). Nothing here touches pyplot or the matplotlib backend."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def _space(self) -> tuple[list[str], set[str]]:
        from modelops.runner.plots import log_scaled, searched_parameters

        study = self._run.study
        return searched_parameters(study), log_scaled(study)

    def loss(self) -> Figure:
        """Loss by trial with the running best."""
        from modelops.runner.plots import plot_loss

        return plot_loss(self._run.trials)

    def parameters(self) -> Figure:
        """Pair plot of the searched parameters coloured by loss rank; the diagonal is the sampling density."""
        from modelops.runner.plots import PlotError, plot_pairs

        searched, logs = self._space()
        fig = plot_pairs(self._run.trials, searched, logs)
        if fig is None:
            raise PlotError("no completed trial with numeric parameters to plot")
        return fig

    def parallel(self) -> Figure:
        """Parallel coordinates of the searched parameters, lines coloured by loss rank."""
        from modelops.runner.plots import PlotError, plot_parallel

        searched, logs = self._space()
        fig = plot_parallel(self._run.trials, searched, logs)
        if fig is None:
            raise PlotError("no completed trial to plot")
        return fig

    def heatmap(self, x: str | None = None, y: str | None = None) -> Figure:
        """The loss over a grid sweep of two parameters (default: the first two searched)."""
        from modelops.runner.plots import PlotError, plot_heatmap

        searched, logs = self._space()
        if x is None or y is None:
            if len(searched) < 2:
                raise PlotError("a heatmap needs two searched parameters")
            if x is None:
                x = next(n for n in searched if n != y)
            if y is None:
                y = next(n for n in searched if n != x)
        return plot_heatmap(self._run.trials, x, y, logs)

    def fit(self) -> Figure:
        """The best trial's replicates (re-simulated here from their seeds) against each target's observed data."""
        from modelops.runner.plots import fit_figure

        run = self._run
        return fit_figure(run.store, run.study, run.trials, run.replicates)


def run(
    study: Study | StudySpec | Mapping[str, Any] | str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    run_id: str | None = None,
    resume: bool = False,
    runs_dir: str | None = None,
    base_dir: str | Path | None = None,
    n_trials: int | None = None,
    progress: bool | Callable[[RunProgress], None] | None = None,
) -> Run:
    """Run (or, with ``resume=True`` and ``run_id``, continue) a study to the end of its budget; return the Run.

    ``study`` is a dict (the YAML's content), the path of a YAML file, a StudySpec or a :class:`Study`; relative
    paths in a dict or StudySpec are resolved against ``base_dir`` (default: the working directory). ``workers``:
    local worker processes (0 runs in this process); ``scheduler``: a Dask scheduler address; ``n_trials``
    overrides the algorithm's budget; ``progress=True`` keeps one status line on stderr (a terminal or a notebook),
    a callable receives a :class:`modelops.RunProgress` after each recorded trial. Ctrl-C (or Jupyter's interrupt)
    finishes the simulations in flight and returns the run with status "interrupted"; resume it with
    ``run(study, run_id=r.run_id, resume=True)``. Raises :class:`modelops.RunError` when the run cannot start or has
    to stop, and SpecError for an invalid study.
    """
    from modelops.runner.driver import RunOptions, run_study

    resolved = as_study(study, base_dir)
    if n_trials is not None:
        resolved = resolved.replace(n_trials=n_trials)
    options = RunOptions(workers=workers, scheduler=scheduler, run_id=run_id, resume=resume, runs_dir=runs_dir)
    line = TextProgress() if progress is True else None
    callback = line if line is not None else (progress or None)
    try:
        with resolved.spec_file() as spec_path, children_skip_main():
            summary = run_study(spec_path, options, progress=callback)
    finally:
        if line is not None:
            line.close()
    return Run(RunStore(runs_dir or "", summary.run_id), summary)


class TextProgress:
    """One status line on stderr, rewritten in place (``\r``) at most every half second; a terminal and Jupyter both
    show it as a single updating line."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self._last = 0.0
        self._text = ""

    def __call__(self, p: RunProgress) -> None:
        import time

        total = f"/{p.total}" if p.total else ""
        best = f"{p.best_loss:.6g}" if p.best_loss is not None else "-"
        failed = f", {p.failed} failed" if p.failed else ""
        state = " (stopping: finishing the simulations in flight)" if p.stopping else ""
        self._text = (
            f"{p.run_id}: trial {p.recorded}{total}, best loss {best}{failed}, {p.sims_per_s:.0f} sims/s, "
            f"{p.elapsed_s:.0f} s{state}"
        )
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._write()

    def _write(self) -> None:
        import sys

        sys.stderr.write("\r" + self._text)
        sys.stderr.flush()

    def close(self) -> None:
        if self._text:
            self._write()
            import sys

            sys.stderr.write("\n")
            sys.stderr.flush()


def open_run(run: str | Path, runs_dir: str | None = None) -> Run:
    """Open a recorded run: a run id (under ``runs_dir``, default $MODELOPS_RUNS_DIR or .modelops/runs), or the
    run's directory or URL (``.modelops/runs/sir-...``, ``az://results/runs/sir-...``)."""
    text = str(run).rstrip("/")
    if "/" in text or "\\" in text or "://" in text:
        parent, run_id = posixpath.split(text) if "://" in text else (str(Path(text).parent), Path(text).name)
        store = RunStore(parent, run_id)
    else:
        store = RunStore(runs_dir or "", text)
    store.manifest()  # RunNotFound (a LookupError) saying where it looked
    return Run(store)
