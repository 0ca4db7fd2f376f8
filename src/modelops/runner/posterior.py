"""Algorithm artifacts in the run record (``posterior.parquet``), and the science summaries `mops runs show` prints.

An algorithm may expose ``artifacts() -> {name: table}`` (a table is a mapping of column name to equal-length lists,
or anything polars reads); the runner writes each as ``<name>.parquet`` in the run directory whenever the optional
``artifacts_revision()`` changes (ABC-SMC: after each generation) and once at the end of the run. Nothing here
imports the science package: the protocol is duck-typed, like the rest of the algorithm interface.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import polars as pl

from modelops.store.results import RunNotFound, RunStore

log = logging.getLogger(__name__)
POSTERIOR = "posterior.parquet"
# Columns of posterior.parquet that are not parameters.
POSTERIOR_META = ("generation", "epsilon", "weight", "distance", "param_id", "acceptance_rate")
CREDIBLE = 0.90


class ArtifactWriter:
    """Writes an algorithm's artifacts into the run record when they change (see the module docstring)."""

    def __init__(self, store: RunStore, algorithm: object) -> None:
        self.store = store
        self.algorithm = algorithm
        self._artifacts = getattr(algorithm, "artifacts", None)
        self._revision_of = getattr(algorithm, "artifacts_revision", None)
        self._written: Any = None

    def maybe_write(self) -> None:
        """After a tell: write only when the algorithm says its artifacts changed (cheap otherwise)."""
        if not callable(self._artifacts) or not callable(self._revision_of):
            return
        revision = self._revision_of()
        if revision != self._written:
            self.write(revision)

    def write_final(self) -> None:
        """The end of a run: write, and say so on failure rather than fail the run's own bookkeeping."""
        try:
            self.write()
        except Exception as exc:
            log.warning("could not write the algorithm's artifacts (%s) into %s: %s", POSTERIOR, self.store.url, exc)

    def write(self, revision: Any = None) -> None:
        """Write every artifact now (the end of a run, whatever its outcome)."""
        if not callable(self._artifacts):
            return
        revision = revision if revision is not None else (self._revision_of() if callable(self._revision_of) else 0)
        for name, table in dict(self._artifacts()).items():
            frame = table if isinstance(table, pl.DataFrame) else pl.DataFrame(dict(table))
            if frame.height == 0:
                continue  # no completed generation yet: an empty posterior would read as "no uncertainty"
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            self.store.write_bytes(f"{name}.parquet", buffer.getvalue())
        self._written = revision


def load_posterior(store: RunStore) -> pl.DataFrame | None:
    """Every generation's particles (posterior.parquet), or None when the run has none."""
    if not store.fs.exists(store.path(POSTERIOR)):
        return None
    return pl.read_parquet(io.BytesIO(store.read_bytes(POSTERIOR)))


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> list[float]:
    """Quantiles of a weighted sample (the weighted empirical CDF, interpolated at mid-points)."""
    keep = weights > 0  # zero-weight particles carry no mass (and would make the CDF flat, which interp mishandles)
    values, weights = values[keep], weights[keep]
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights.sum()
    cdf = np.cumsum(w) - 0.5 * w
    return [float(np.interp(q, cdf, v)) for q in qs]


def posterior_summary(store: RunStore) -> dict[str, Any] | None:
    """The last generation's weighted median and 90% credible interval per parameter, its epsilon and ESS."""
    try:
        frame = load_posterior(store)
    except (OSError, RunNotFound, pl.exceptions.PolarsError) as exc:
        return {"error": f"cannot read {POSTERIOR}: {exc}"}
    if frame is None or frame.height == 0:
        return None
    last_gen = int(cast("int", frame["generation"].max()))  # an integer column
    last = frame.filter(pl.col("generation") == last_gen)
    w = last["weight"].to_numpy().astype(float)
    lo_q, hi_q = (1 - CREDIBLE) / 2, 1 - (1 - CREDIBLE) / 2
    params = {}
    for name in [c for c in frame.columns if c not in POSTERIOR_META]:
        x = last[name].to_numpy().astype(float)
        median, lo, hi = weighted_quantiles(x, w, [0.5, lo_q, hi_q])
        params[name] = {"median": median, "lo": lo, "hi": hi, "mean": float(np.sum(w * x) / np.sum(w))}
    return {
        "generations": last_gen + 1,
        "particles": last.height,
        "epsilon": float(last["epsilon"][0]),
        "ess": float(w.sum() ** 2 / np.sum(w**2)),
        "acceptance_rate": float(last["acceptance_rate"][0]) if "acceptance_rate" in last.columns else None,
        "credible": CREDIBLE,
        "params": params,
    }


def impossible_count(trials: pl.DataFrame) -> int:
    """Completed trials that scored the on_impossible penalty on some target (their summaries say so)."""
    if trials.height == 0 or "summaries" not in trials.columns:
        return 0
    return int(trials["summaries"].fill_null("").str.contains('"impossible"', literal=True).sum())


def science_report(store: RunStore, trials: pl.DataFrame, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What `mops runs show` adds to every run's report: penalised trials, the posterior, and the counts and output
    location of a forward simulation study (failure reasons are grouped by runner.report.failure_summary)."""
    out: dict[str, Any] = {
        "impossible_penalised": impossible_count(trials),
        "posterior": posterior_summary(store),
    }
    if manifest.get("kind") == "Simulation":
        out["simulation"] = {
            **dict(manifest.get("summary") or {}),
            "scenarios": manifest.get("scenarios"),
            "outputs": store.url_of("outputs"),
        }
    return out


def print_science(report: Mapping[str, Any], console: Any) -> None:
    """The penalised trials, the posterior and the forward-study summary of a `mops runs show` report."""
    from rich.table import Table

    sim = report.get("simulation")
    if sim:
        console.print(
            f"simulation study: {sim.get('groups', '?')} parameter sets x scenarios {sim.get('scenarios')} "
            f"({sim.get('ok', '?')} ok, {sim.get('failed', '?')} failed), {sim.get('simulations', '?')} simulations "
            f"this session; outputs under {sim['outputs']}/<output>/<scenario>/<param_id>/",
            highlight=False,
        )
    if report.get("impossible_penalised"):
        console.print(
            f"{report['impossible_penalised']} completed trial(s) scored the on_impossible penalty (likelihood 0)",
            highlight=False,
        )
    post = report.get("posterior")
    if not post:
        return
    if "error" in post:
        console.print(f"posterior: {post['error']}", highlight=False)
        return
    pct = round(post["credible"] * 100)
    title = (
        f"posterior: generation {post['generations'] - 1}, {post['particles']} particles, epsilon "
        f"{post['epsilon']:.4g}, ESS {post['ess']:.0f}"
    )
    table = Table(title=title, header_style="bold")
    for column in ("parameter", "median", f"{pct}% credible interval", "mean"):
        table.add_column(column, justify="right" if column != "parameter" else "left")
    for name, s in post["params"].items():
        table.add_row(name, _g(s["median"]), f"[{_g(s['lo'])}, {_g(s['hi'])}]", _g(s["mean"]))
    console.print(table)


def _g(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)
