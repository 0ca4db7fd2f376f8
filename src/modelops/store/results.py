"""Run records: one directory per run, on any fsspec URL (a local path, az://container/prefix, ...).

Layout of ``<runs-dir>/<run-id>/``::

    spec.yaml                 the study spec exactly as given
    study.json                the study as the runner resolved it (model ref, space, targets with inlined data)
    manifest.json             provenance and status (see modelops.store.manifest)
    pending/<runner>-<seq>.json      one file per trial told but not yet compacted (trial row + replicate rows)
    trials/part-<runner>-<k>.parquet      compacted trial rows, one part file per runner per chunk
    replicates/part-<runner>-<k>.parquet  compacted replicate rows
    trials.parquet, replicates.parquet    consolidated copies written when a runner finishes
    outputs/                  raw simulation outputs, when the study keeps them

Each trial is durable (a small pending file) *before* the algorithm is told about it, so a crash at any moment loses
at most the trials still in flight; every ``compact_every`` trials the pending files are folded into Parquet parts,
so the runner's memory and the number of files stay bounded. Several runner processes sharing one study each write
their own files (named by host and pid); readers concatenate everything and drop the duplicates a crash between
"write part" and "delete pending files" can leave (same runner, same sequence number).
"""

from __future__ import annotations

import io
import json
import math
import os
import posixpath
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from modelops.core.redaction import redact_data, redact_text
from modelops.store.locations import DEFAULT_RUNS_DIR, RUNS_DIR_ENV, runs_dir_url  # noqa: F401 (re-exported)
from modelops.store.urls import url_to_fs

MANIFEST = "manifest.json"
SPEC = "spec.yaml"
STUDY = "study.json"
PARAM_PREFIX = "param."
LOSS_PREFIX = "loss."

TRIAL_SCHEMA: dict[str, pl.DataType] = {
    "trial": pl.Int64(),
    "param_id": pl.String(),
    "status": pl.String(),
    "loss": pl.Float64(),
    "n_replicates": pl.Int64(),
    "n_failed": pl.Int64(),
    "n_cached": pl.Int64(),
    "duration_s": pl.Float64(),
    "sim_s": pl.Float64(),
    "worker": pl.String(),
    "runner": pl.String(),
    "seq": pl.Int64(),
    "told_at": pl.Float64(),
    "error": pl.String(),
    "params_json": pl.String(),
    "summaries": pl.String(),
}
REPLICATE_SCHEMA: dict[str, pl.DataType] = {
    "param_id": pl.String(),
    "replicate": pl.Int64(),
    "seed": pl.UInt64(),
    "ok": pl.Boolean(),
    "cached": pl.Boolean(),
    "duration_s": pl.Float64(),
    "error": pl.String(),
    "runner": pl.String(),
    "seq": pl.Int64(),
}


def trial_row(
    param_id: str,
    status: str,
    loss: float,
    params: Mapping[str, Any],
    *,
    n_replicates: int,
    n_failed: int,
    n_cached: int,
    duration_s: float,
    sim_s: float,
    worker: str | None,
    error: str | None,
    summaries: Mapping[str, Any] | None,
    target_names: Sequence[str],
    target_losses: Mapping[str, float],
) -> dict[str, Any]:
    """A trial row of :data:`TRIAL_SCHEMA` as the runner records it (the journal adds trial, runner, seq, told_at).

    Non-finite losses and times are stored as nulls; every parameter gets a ``param.<name>`` column (structured values
    as JSON) and every target a ``loss.<name>`` column, null when the trial has no loss for it.
    """
    row: dict[str, Any] = {
        "param_id": param_id,
        "status": status,
        "loss": clean_float(loss),
        "n_replicates": n_replicates,
        "n_failed": n_failed,
        "n_cached": n_cached,
        "duration_s": clean_float(duration_s),
        "sim_s": clean_float(sim_s),
        "worker": worker,
        "error": error,
        "params_json": json.dumps(dict(params), sort_keys=True),
        "summaries": json.dumps(summaries, default=str) if summaries is not None else None,
        **param_columns(params),
    }
    for name in target_names:
        row[LOSS_PREFIX + name] = clean_float(target_losses.get(name))
    return row


def replicate_row(
    param_id: str,
    replicate: int,
    seed: int,
    *,
    ok: bool,
    cached: bool,
    duration_s: float,
    error: str | None,
    target_names: Sequence[str],
    losses: Mapping[str, float],
) -> dict[str, Any]:
    """A replicate row of :data:`REPLICATE_SCHEMA` (the journal adds runner and seq), one ``loss.<name>`` per target."""
    row: dict[str, Any] = {
        "param_id": param_id,
        "replicate": replicate,
        "seed": seed,
        "ok": ok,
        "cached": cached,
        "duration_s": clean_float(duration_s),
        "error": error,
    }
    for name in target_names:
        row[LOSS_PREFIX + name] = clean_float(losses.get(name))
    return row


def param_columns(params: Mapping[str, Any]) -> dict[str, Any]:
    """``param.<name>`` columns: scalars as they are, anything else as JSON text."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        plain = value if isinstance(value, bool | int | float | str) or value is None else json.dumps(value)
        out[PARAM_PREFIX + name] = plain
    return out


# Columns that vary run to run even with the same seeds (timings, hosts); excluded when comparing two runs' records.
VOLATILE_COLUMNS = ("duration_s", "sim_s", "worker", "runner", "seq", "told_at", "n_cached", "cached")


class RunNotFound(LookupError):
    """No run with that id under the runs directory."""


def _frame(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows as a DataFrame with the fixed columns typed and the dynamic ones (param.*, loss.*) inferred."""
    if not rows:
        return pl.DataFrame(schema=dict(schema))
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    data = {c: [row.get(c) for row in rows] for c in columns}
    series = []
    for name in columns:
        dtype = schema.get(name)
        if dtype is None and name.startswith(LOSS_PREFIX):
            dtype = pl.Float64()
        if dtype is not None:
            series.append(pl.Series(name, data[name], dtype=dtype, strict=False))
            continue
        s = pl.Series(name, data[name], strict=False)
        series.append(s.cast(pl.Float64) if s.dtype == pl.Null else s)
    return pl.DataFrame(series)


def _concat(frames: list[pl.DataFrame], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    frames = [f for f in frames if f.width]
    if not frames:
        return pl.DataFrame(schema=dict(schema))
    return pl.concat(frames, how="diagonal_relaxed")


@dataclass
class RunStore:
    """The record of one run under a runs directory (any fsspec URL)."""

    runs_dir: str
    run_id: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runs_dir = runs_dir_url(self.runs_dir)
        self.url = f"{self.runs_dir}/{self.run_id}"
        self.fs, self.root = url_to_fs(self.url, **dict(self.storage_options))
        self.root = self.root.rstrip("/")

    @property
    def is_local(self) -> bool:
        protocol = self.fs.protocol
        return "file" in (protocol if isinstance(protocol, tuple | list) else (protocol,))

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def url_of(self, *parts: str) -> str:
        """A full URL (with protocol) inside the run directory, for handing to workers."""
        return posixpath.join(self.url, *parts) if "://" in self.url else os.path.join(self.root, *parts)

    def exists(self) -> bool:
        return self.fs.exists(self.path(MANIFEST))

    # -- small files ---------------------------------------------------------------------------------------------

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a file whole; readers see the old or the new content, never half of it."""
        target = self.path(name)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        if self.is_local:
            # Object stores replace an object atomically on upload; a local file needs write-then-rename.
            tmp = f"{target}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            with self.fs.open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(target, data)

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self.path(name))

    def write_json(self, name: str, data: Any) -> None:
        data = redact_data(data)  # manifest.json, study.json...: no secret in a run record (modelops.core.redaction)
        self.write_bytes(name, json.dumps(data, indent=2, sort_keys=True, default=str).encode("utf-8"))

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    def manifest(self) -> dict[str, Any]:
        try:
            return self.read_json(MANIFEST)
        except FileNotFoundError:
            raise RunNotFound(f"no run {self.run_id!r} under {self.runs_dir} (no {MANIFEST})") from None

    # -- trial records -------------------------------------------------------------------------------------------

    def journal(self, runner: str, first_trial: int = 0, compact_every: int = 100) -> TrialJournal:
        return TrialJournal(self, runner, first_trial, compact_every)

    def _glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(self.path(pattern)))

    def _read_parts(self, folder: str, schema: Mapping[str, pl.DataType]) -> list[pl.DataFrame]:
        return [pl.read_parquet(io.BytesIO(self.fs.cat_file(p))) for p in self._glob(f"{folder}/part-*.parquet")]

    def _read_pending(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        trials: list[dict[str, Any]] = []
        replicates: list[dict[str, Any]] = []
        for path in self._glob("pending/*.json"):
            try:
                record = json.loads(self.fs.cat_file(path))
            except (FileNotFoundError, ValueError):
                continue  # compacted (and removed) while we listed, or cut short by a crash: not yet a record
            trials.append(record["trial"])
            replicates.extend(record["replicates"])
        return trials, replicates

    def load(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """All trial rows and replicate rows of the run, from every runner, without duplicates, in trial order."""
        pending_trials, pending_replicates = self._read_pending()
        trials = _concat(
            [*self._read_parts("trials", TRIAL_SCHEMA), _frame(pending_trials, TRIAL_SCHEMA)], TRIAL_SCHEMA
        )
        replicates = _concat(
            [*self._read_parts("replicates", REPLICATE_SCHEMA), _frame(pending_replicates, REPLICATE_SCHEMA)],
            REPLICATE_SCHEMA,
        )
        if trials.height:
            trials = trials.unique(subset=["runner", "seq"], keep="first", maintain_order=True)
            if trials["trial"].n_unique() != trials.height:
                # Several runners numbered their trials independently: number them again in the order they were told.
                trials = trials.sort(["told_at", "runner", "seq"]).with_columns(
                    pl.int_range(pl.len(), dtype=pl.Int64).alias("trial")
                )
            trials = trials.sort("trial")
        if replicates.height:
            replicates = replicates.unique(subset=["runner", "seq", "replicate"], keep="first", maintain_order=True)
            order = trials.select("param_id", pl.col("trial").alias("_order")) if trials.height else None
            if order is not None:
                replicates = (
                    replicates.join(order, on="param_id", how="left").sort(["_order", "replicate"]).drop("_order")
                )
        return trials, replicates

    def load_trials(self) -> pl.DataFrame:
        return self.load()[0]

    def consolidate(self) -> tuple[str, str]:
        """Write trials.parquet and replicates.parquet (everything told so far, every runner); return their URLs."""
        trials, replicates = self.load()
        for name, frame in (("trials.parquet", trials), ("replicates.parquet", replicates)):
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            self.write_bytes(name, buffer.getvalue())
        return self.url_of("trials.parquet"), self.url_of("replicates.parquet")


class TrialJournal:
    """One runner's append-only record of told trials: durable per trial, compacted to Parquet in chunks."""

    def __init__(self, store: RunStore, runner: str, first_trial: int, compact_every: int) -> None:
        self.store = store
        self.runner = runner
        self.next_trial = first_trial
        self.compact_every = max(1, compact_every)
        self.seq = 0
        self._chunk = 0
        self._trials: list[dict[str, Any]] = []
        self._replicates: list[dict[str, Any]] = []
        self._pending: list[str] = []

    def append(self, trial: dict[str, Any], replicates: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Record one trial (and its replicates) durably; returns the trial row as stored."""
        row = {"trial": self.next_trial, **trial, "runner": self.runner, "seq": self.seq, "told_at": time.time()}
        reps = [{**r, "runner": self.runner, "seq": self.seq} for r in replicates]
        for record in (row, *reps):  # failure texts are the records' only free text: no secret in them
            if record.get("error"):
                record["error"] = redact_text(record["error"])
        name = f"pending/{self.runner}-{self.seq:09d}.json"
        payload = json.dumps({"trial": row, "replicates": reps}, default=_json_default, allow_nan=False)
        self.store.write_bytes(name, payload.encode("utf-8"))
        self._pending.append(name)
        self._trials.append(row)
        self._replicates.extend(reps)
        self.seq += 1
        self.next_trial += 1
        if len(self._trials) >= self.compact_every:
            self.compact()
        return row

    def compact(self) -> None:
        """Fold the pending trials into Parquet part files, then remove their pending files."""
        if not self._trials:
            return
        suffix = f"part-{self.runner}-{self._chunk:06d}.parquet"
        for folder, rows, schema in (
            ("trials", self._trials, TRIAL_SCHEMA),
            ("replicates", self._replicates, REPLICATE_SCHEMA),
        ):
            buffer = io.BytesIO()
            _frame(rows, schema).write_parquet(buffer)
            self.store.write_bytes(f"{folder}/{suffix}", buffer.getvalue())
        self.store.fs.rm([self.store.path(p) for p in self._pending])
        self._chunk += 1
        self._trials, self._replicates, self._pending = [], [], []

    def close(self) -> None:
        self.compact()


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def list_runs(runs_dir: str | None = None, storage_options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The manifests of every run under ``runs_dir``, newest first."""
    url = runs_dir_url(runs_dir)
    fs, root = url_to_fs(url, **dict(storage_options or {}))
    manifests: list[dict[str, Any]] = []
    for path in fs.glob(posixpath.join(root.rstrip("/"), "*", MANIFEST)):
        try:
            manifests.append(json.loads(fs.cat_file(path)))
        except (FileNotFoundError, ValueError):
            continue
    return sorted(manifests, key=lambda m: m.get("started_at") or "", reverse=True)


def clean_float(value: Any) -> float | None:
    """A finite float, or None (NaN/inf losses of failed trials are stored as nulls)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
