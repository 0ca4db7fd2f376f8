"""The report of one run's records: what `mops runs show` prints and `mops adaptive status` summarises (plain data,
no presentation)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAX_FAILURE_KINDS = 5


def failure_summary(trials: Any) -> list[dict[str, Any]]:
    """Failed trials grouped by the last line of their error (a traceback's exception), most frequent first; past
    five kinds the rest are counted together."""
    import polars as pl

    if trials.height == 0:
        return []
    failed = trials.filter(pl.col("status") != "completed")
    if failed.height == 0:
        return []
    kinds = (
        failed.with_columns(
            pl.col("error")
            .fill_null("no reason recorded")
            .str.strip_chars()
            .str.replace(r"\n\.\.\. \[cut\]$", "")  # the runner's mark on a shortened traceback
            .str.split("\n")
            .list.last()
            .alias("reason")
        )
        .group_by("reason")
        .agg(pl.len().alias("trials"), pl.col("trial").min().alias("first_trial"))
        .sort(["trials", "first_trial"], descending=[True, False])
    )
    shown: list[dict[str, Any]] = kinds.head(MAX_FAILURE_KINDS).to_dicts()
    rest = kinds.slice(MAX_FAILURE_KINDS)
    if rest.height:
        shown.append(
            {
                "reason": f"({rest.height} other reasons)",
                "trials": int(rest["trials"].sum()),
                "first_trial": int(rest["first_trial"].min()),
            }
        )
    return shown


def run_report(store: Any) -> dict[str, Any]:
    """What `mops runs show` prints: status, counts, the best trial's parameters and per-target losses."""
    import polars as pl

    from modelops.store.results import STUDY
    from modelops.store.trial import trial_json

    manifest = store.manifest()
    trials = store.load_trials()
    try:
        study = store.read_json(STUDY)
    except FileNotFoundError:
        study = None
    done = trials.filter(pl.col("status") == "completed") if trials.height else trials
    report: dict[str, Any] = {
        "run_id": manifest["run_id"],
        "url": store.url,
        "study": manifest.get("study"),
        "status": manifest.get("status"),
        "started_at": manifest.get("first_started_at") or manifest.get("started_at"),
        "ended_at": manifest.get("ended_at"),
        "n_trials": manifest.get("n_trials"),
        "trials": trials.height,
        "completed": done.height,
        "failed": trials.height - done.height,
        "replicates": manifest.get("replicates"),
        "base_seed": manifest.get("base_seed"),
        "storage": manifest.get("storage"),
        "service": (manifest.get("execution") or {}).get("service"),
        # A run killed outright still says "running": the time of its last recorded trial tells whether it is alive.
        "last_trial_at": (
            datetime.fromtimestamp(trials["told_at"].max(), UTC).isoformat(timespec="seconds")
            if trials.height
            else None
        ),
        # Why the run stopped (the runner's error, from manifest.json) and what the failed trials said.
        "error": (manifest.get("summary") or {}).get("error"),
        "failures": failure_summary(trials),
        "algorithm": (study or {}).get("algorithm_ref"),
        "searched": [n for n, d in ((study or {}).get("space") or {}).items() if n != "fixed" and isinstance(d, dict)],
        "elapsed_s": (manifest.get("summary") or {}).get("elapsed_s"),
        "best": None,
    }
    from modelops.runner.posterior import science_report

    report.update(science_report(store, trials, manifest))  # failure reasons, posterior, simulation studies
    if done.height:
        # The same trial shape as `mops run --json` and the Python API's Run.best (docs/python-api.md).
        report["best"] = trial_json(done.sort("loss", maintain_order=True).row(0, named=True))
    return report
