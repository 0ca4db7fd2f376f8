"""From a study spec to what the runner needs: references, the space, targets with their data, storage URL.

Observed data are read here, once, and inlined into the evaluator config, so workers on a cluster need no files.
The science package is reached only by reference strings (modelops never imports it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.runner.algorithm import STUDY_BUDGET, AlgorithmError, AlgorithmLoadError, budget_option
from modelops.specs.inputs import MAX_DATA_BYTES, InputError, decode_text, read_bytes
from modelops.specs.study import ALGORITHM_ALIASES, PostgresStorage, SqliteStorage, StudySpec, resolve_path
from modelops_contracts.storage import journal_url, postgres_url, postgres_url_from_parts, sqlite_url

if TYPE_CHECKING:
    from modelops.specs.simulation import SimulationSpec
    from modelops.store.results import RunStore

EVALUATOR_REF = "calabaria.targets:TargetSet.from_config"
ALGORITHM_ENTRY_POINTS = "modelops.algorithms"


class StudyError(ValueError):
    """The study cannot run as written; the message says what to change."""


@dataclass(frozen=True)
class ResolvedStudy:
    """A study ready to run: everything a worker or the algorithm needs, as plain data."""

    name: str
    spec_path: str
    model_ref: str
    search_path: tuple[str, ...]
    space: dict[str, Any]
    evaluator_config: dict[str, Any]
    algorithm_ref: str
    algorithm_options: dict[str, Any]
    base_seed: int
    replicates: int
    n_trials: int | None
    outputs: str
    bundle_ref: str | None = None  # the spec's bundle (pushed first if it is a directory); None without one

    def fingerprint(self) -> str:
        """A digest of what decides a run's trials; resuming with a different study is refused."""
        data = {
            "model": self.model_ref,
            "space": self.space,
            "targets": self.evaluator_config,
            "algorithm": self.algorithm_ref,
            "options": {k: v for k, v in self.algorithm_options.items() if k != "n_trials"},
            "seed": self.base_seed,
            "replicates": self.replicates,
        }
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec_path": self.spec_path,
            "model_ref": self.model_ref,
            "search_path": list(self.search_path),
            "space": self.space,
            "evaluator_ref": EVALUATOR_REF,
            "evaluator_config": self.evaluator_config,
            "algorithm_ref": self.algorithm_ref,
            "algorithm_options": self.algorithm_options,
            "base_seed": self.base_seed,
            "replicates": self.replicates,
            "n_trials": self.n_trials,
            "outputs": self.outputs,
            "bundle_ref": self.bundle_ref,
            "fingerprint": self.fingerprint(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResolvedStudy:
        return cls(
            name=data["name"],
            spec_path=data["spec_path"],
            model_ref=data["model_ref"],
            search_path=tuple(data["search_path"]),
            space=data["space"],
            evaluator_config=data["evaluator_config"],
            algorithm_ref=data["algorithm_ref"],
            algorithm_options=data["algorithm_options"],
            base_seed=data["base_seed"],
            replicates=data["replicates"],
            n_trials=data["n_trials"],
            outputs=data["outputs"],
            bundle_ref=data.get("bundle_ref"),
        )


def algorithm_reference(ref: str) -> str:
    """'optuna'/'sweep', another name registered under the modelops.algorithms entry points, or 'module:Class'."""
    if ":" in ref:
        return ref
    for entry in metadata.entry_points(group=ALGORITHM_ENTRY_POINTS):
        if entry.name == ref:
            return entry.value
    if ref in ALGORITHM_ALIASES:
        return ALGORITHM_ALIASES[ref]
    known = sorted({e.name for e in metadata.entry_points(group=ALGORITHM_ENTRY_POINTS)} | set(ALGORITHM_ALIASES))
    raise StudyError(f"algorithm.ref {ref!r} is not a known algorithm ({', '.join(known)}); or give 'module:Class'")


def read_observed(path: Path, target: str) -> dict[str, list[Any]]:
    """An observed-data file as plain columns (JSON-able), for inlining into the evaluator config."""
    import polars as pl  # here, not at import: `mops run` starts its workers before it reads any data

    if not path.exists():
        raise StudyError(f"target {target!r}: observed file {path} does not exist; fix targets[].observed")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt"):
        raise StudyError(f"target {target!r}: observed file {path.name} must be .csv or .parquet")
    # The input boundary: a regular file, size-limited; CSV must be UTF-8 (BOM allowed), with the byte that is not.
    try:
        data = read_bytes(path, limit=MAX_DATA_BYTES, what="observed data file")
        if suffix not in (".parquet", ".pq"):
            data = decode_text(data, path, "observed data file").encode("utf-8")
    except InputError as exc:
        raise StudyError(f"target {target!r}: observed file {path}: {exc.reason}") from None
    try:
        if suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(io.BytesIO(data))
        else:
            frame = pl.read_csv(io.BytesIO(data), try_parse_dates=False)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise StudyError(f"target {target!r}: cannot read observed file {path}: {exc}") from None
    if frame.height == 0:
        raise StudyError(f"target {target!r}: observed file {path} has no rows")
    # Temporal and other non-JSON types travel as ISO strings; numbers and strings as they are.
    plain = frame.with_columns(
        pl.col(c).cast(pl.String) for c, t in frame.schema.items() if not (t.is_numeric() or t == pl.String)
    )
    return plain.to_dict(as_series=False)


def evaluator_config(spec: StudySpec, spec_path: str | Path) -> dict[str, Any]:
    """The targets in the science package's TargetSet.from_config form, observed data inlined."""
    targets = []
    for t in spec.targets:
        targets.append(
            {
                "name": t.target_name,
                "output": t.output,
                "observed": {"columns": read_observed(resolve_path(spec_path, t.observed), t.target_name)},
                "keys": list(t.keys),
                "asof": t.asof,
                "values": list(t.values) if isinstance(t.values, list) else dict(t.values),
                "loss": t.loss,
                "loss_options": dict(t.loss_options),
                "weight": t.weight,
                "combine": t.combine,
                **({"on_impossible": t.on_impossible} if t.on_impossible != "penalty" else {}),
            }
        )
    return {"targets": targets, "base_dir": None}


def algorithm_factory(ref: str, search_path: tuple[str, ...]) -> Callable[..., Any]:
    """The algorithm's factory (its class, usually), imported here: the runner builds the algorithm in this process."""
    from modelops.core.fnref import resolve

    try:
        return resolve(ref, search_path=search_path)
    except Exception as exc:  # ImportError, or whatever the algorithm's module raises as it is imported
        raise AlgorithmLoadError(f"cannot load algorithm {ref!r}: {exc}") from None


def resolve_study(spec: StudySpec, spec_path: str | Path) -> ResolvedStudy:
    """Resolve paths and references of a validated spec, once and completely: reads observed data, imports the
    algorithm's module (for its budget option), and pushes the bundle when it is a directory that changed; never
    imports the model. StudyError when the spec cannot run as written; AlgorithmLoadError when the algorithm's
    module cannot be imported."""
    search_path: tuple[str, ...] = ()
    if spec.model.project is not None:
        project = resolve_path(spec_path, spec.model.project)
        if not project.is_dir():
            raise StudyError(f"model.project {project} is not a directory; give the folder holding the model code")
        search_path = (str(project),)
    options = spec.algorithm.constructor_options()
    algorithm_ref = algorithm_reference(spec.algorithm.ref)
    n_trials = options.get(STUDY_BUDGET)
    if STUDY_BUDGET in options:
        # The algorithm names the option its budget goes to (a sweep's is n_points): see AdaptiveAlgorithm.
        try:
            option = budget_option(algorithm_factory(algorithm_ref, search_path))
        except AlgorithmError as exc:
            raise StudyError(f"algorithm {algorithm_ref!r}: {exc}") from None
        options[option] = options.pop(STUDY_BUDGET)
    bundle_ref, _local_copy = bundle_ref_for(spec, spec_path)
    return ResolvedStudy(
        name=spec.name or Path(spec_path).stem,
        spec_path=str(Path(spec_path).resolve()),
        model_ref=spec.model.ref,
        search_path=search_path,
        space=spec.space_mapping(),
        evaluator_config=evaluator_config(spec, spec_path),
        algorithm_ref=algorithm_ref,
        algorithm_options=options,
        base_seed=spec.algorithm.seed,
        replicates=spec.replicates,
        n_trials=n_trials,
        outputs=spec.outputs,
        bundle_ref=bundle_ref,
    )


def bundle_ref_for(spec: StudySpec | SimulationSpec, spec_path: str | Path) -> tuple[str | None, tuple[str, ...]]:
    """The study's bundle ref (pushing the project directory if it changed) and where its code is locally.

    Workers fetch the bundle by ref; the local directory is only for checking the study in this process.
    """
    if spec.bundle is None:
        return None, ()
    from modelops.bundles import BundleError, ensure_local, ensure_pushed

    directory = resolve_path(spec_path, spec.bundle)
    try:
        if directory.is_dir():
            return ensure_pushed(str(directory)), (str(directory),)
        ref = ensure_pushed(spec.bundle)
        return ref, (str(ensure_local(ref)),)
    except BundleError as exc:
        raise StudyError(f"bundle {spec.bundle!r}: {exc}") from None


def postgres_url_from_env() -> str:
    """A SQLAlchemy URL from PGHOST/PGPORT/PGUSER/PGDATABASE; the password stays in PGPASSWORD, read by libpq."""
    missing = [v for v in ("PGHOST", "PGUSER", "PGDATABASE") if not os.environ.get(v)]
    if missing:
        raise StudyError(
            f"storage kind postgres without a dsn takes the connection from the environment, but {', '.join(missing)} "
            "is not set; set PGHOST, PGUSER, PGDATABASE (and PGPORT, PGPASSWORD) or give storage.dsn"
        )
    port = os.environ.get("PGPORT", "5432")
    return postgres_url_from_parts(os.environ["PGUSER"], os.environ["PGHOST"], port, os.environ["PGDATABASE"])


def storage_url(spec: StudySpec, spec_path: str | Path, store: RunStore, local_state_dir: Path) -> str:
    """The algorithm's storage URL (modelops_contracts.storage): a journal file in the run directory by default."""
    storage = spec.storage
    if isinstance(storage, PostgresStorage):
        if storage.dsn is None:
            return postgres_url_from_env()
        return postgres_url(storage.dsn)
    if isinstance(storage, SqliteStorage):
        path = resolve_path(spec_path, storage.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite_url(path)
    # A journal needs a local file with working locks: in the run directory when it is local, otherwise in a local
    # state directory (an object store cannot hold it; use PostgreSQL to share a study between machines).
    folder = Path(store.root) if store.is_local else local_state_dir / store.run_id
    folder.mkdir(parents=True, exist_ok=True)
    return journal_url((folder / "optuna.journal").resolve())
