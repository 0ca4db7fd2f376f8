"""Prometheus metrics of a running `mops run`, served on ``--metrics-port`` (or $MODELOPS_METRICS_PORT).

Every series carries ``run_id`` and ``study``; several runners of one run are told apart by the ``instance`` label
Prometheus adds. Fed from the driver's ``progress(RunProgress)`` callback, called after each recorded trial:

- ``modelops_trials_told_total{status}``: trials recorded and told, by status (``completed``/``failed``);
  trials told per second is ``rate(modelops_trials_told_total[1m])``, failures ``{status="failed"}``;
- ``modelops_groups_in_flight``: parameter sets submitted and not yet recorded;
- ``modelops_queue_depth``: parameter sets asked and waiting for room in the pipeline;
- ``modelops_simulation_seconds``: histogram of simulation durations (each group's mean replicate duration,
  observed once per replicate; cached replicates excluded);
- ``modelops_best_loss``: the best loss so far (absent until a trial completes);
- ``modelops_trials_total_budget``: n_trials, when the algorithm has one.

A registry per run (not the global one), so several runs in one process (tests) never share series.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelops.runner.driver import RunProgress

PORT_ENV = "MODELOPS_METRICS_PORT"
# Simulations range from milliseconds (toy models) to hours (agent-based models).
BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, math.inf)


def study_name(spec_path: str | os.PathLike[str]) -> str:
    """The study's ``name`` from its YAML (the label value), else the file's stem."""
    from pathlib import Path

    import yaml

    try:
        doc = yaml.safe_load(Path(spec_path).read_text(encoding="utf-8"))
        name = doc.get("name") if isinstance(doc, dict) else None
    except (OSError, yaml.YAMLError):
        name = None
    return str(name or Path(str(spec_path)).stem)


def port_from_env(option: int | None) -> int | None:
    """The metrics port: the option, else $MODELOPS_METRICS_PORT, else None (no server)."""
    if option is not None:
        return option
    value = os.environ.get(PORT_ENV)
    if not value:
        return None
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"{PORT_ENV}={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{PORT_ENV}={port} is not a port number (1-65535)")
    return port


@dataclass
class RunMetrics:
    run_id: str
    study: str
    registry: Any = field(init=False)

    def __post_init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("run_id", "study")
        self._told = Counter(
            "modelops_trials_told", "Trials recorded and told to the algorithm", (*labels, "status"),
            registry=self.registry,
        )  # fmt: skip
        self._in_flight = Gauge(
            "modelops_groups_in_flight", "Parameter sets submitted, not yet recorded", labels, registry=self.registry
        )
        self._queue = Gauge(
            "modelops_queue_depth", "Parameter sets asked, waiting for pipeline room", labels, registry=self.registry
        )
        self._sim = Histogram(
            "modelops_simulation_seconds", "Simulation durations", labels, buckets=BUCKETS, registry=self.registry
        )
        self._best = Gauge("modelops_best_loss", "Best loss so far", labels, registry=self.registry)
        self._budget = Gauge("modelops_trials_total_budget", "The run's n_trials", labels, registry=self.registry)
        key = {"run_id": self.run_id, "study": self.study}
        # Both statuses exist from the start, so rate() over failures is 0 rather than absent.
        for status in ("completed", "failed"):
            self._told.labels(**key, status=status)
        self._key = key
        self._best_seen = False

    def observe(self, progress: RunProgress) -> None:
        """Update from one ``RunProgress`` (after each recorded trial)."""
        key = self._key
        last = progress.last or {}
        status = "completed" if last.get("status") == "completed" else "failed"
        self._told.labels(**key, status=status).inc()
        self._in_flight.labels(**key).set(progress.in_flight)
        self._queue.labels(**key).set(progress.queued)
        n = int(last.get("n_replicates") or 0) - int(last.get("n_cached") or 0)
        sim_s = last.get("sim_s")
        if n > 0 and isinstance(sim_s, int | float) and math.isfinite(sim_s):
            for _ in range(n):
                self._sim.labels(**key).observe(float(sim_s) / n)
        if progress.best_loss is not None and math.isfinite(progress.best_loss):
            self._best.labels(**key).set(progress.best_loss)
        if progress.total:
            self._budget.labels(**key).set(progress.total)

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        """Serve /metrics on ``addr:port`` from a daemon thread; returns the server (``shutdown()`` to stop)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
