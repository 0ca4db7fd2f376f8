"""The study spec: strict validation with messages naming the field, and its resolution for the runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelops.runner.study import StudyError, postgres_url_from_env, resolve_study, storage_url
from modelops.specs.base import SpecError
from modelops.specs.study import StudySpec, load_study
from modelops.store.manifest import redact_dsn
from modelops.store.results import RunStore


def _problems(path: Path) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        load_study(path)
    return dict(info.value.problems)


def _edit(path: Path, **changes) -> Path:
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_sir_example_validates_and_resolves() -> None:
    spec_path = Path(__file__).resolve().parents[2] / "examples" / "sir" / "study.yaml"
    spec = load_study(spec_path)
    resolved = resolve_study(spec, spec_path)
    assert resolved.model_ref == "sir_model:simulate"
    assert resolved.search_path == (str(spec_path.parent),)
    assert resolved.space["beta"] == {"low": 0.1, "high": 1.0, "log": True}
    assert resolved.space["fixed"]["population"] == 100000
    observed = resolved.evaluator_config["targets"][0]["observed"]["columns"]
    assert len(observed["day"]) == 100 and sum(observed["cases"]) > 0  # inlined: workers need no files
    assert resolved.algorithm_ref == "calabaria.algorithms:OptunaAlgorithm"
    assert resolved.algorithm_options["n_trials"] == 300


def test_unknown_keys_and_bad_values_name_the_field(toy_study) -> None:
    path = toy_study()
    data = yaml.safe_load(path.read_text())
    data["parameters"]["slope"]["hgh"] = 3
    data["targets"][0]["loss"] = "poison_nll"
    data["replicate"] = 3
    data["storage"] = {"kind": "postgress"}
    path.write_text(yaml.safe_dump(data))
    problems = _problems(path)
    assert "unknown key" in problems["parameters.slope.hgh"]
    assert "poisson_nll" in problems["targets[0].loss"]
    assert "unknown key" in problems["replicate"]
    assert "postgress" in problems["storage"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"model": {"project": "."}}, "model", "exactly one of fn_ref"),
        ({"model": {"fn_ref": "not a ref"}}, "model.fn_ref", "package.module:attribute"),
        ({"parameters": {"slope": {"low": 3.0, "high": 1.0}}}, "parameters.slope", "must be below"),
        ({"parameters": {"slope": {"low": 0.0, "high": 1.0, "log": True}}}, "parameters.slope", "low > 0"),
        ({"parameters": {"fixed": {"a": 1}}}, "", "nothing to search"),
        ({"parameters": {"slope": {"low": 0, "high": 1}, "fixed": {"slope": 1}}}, "", "both searched and fixed"),
        ({"algorithm": {"ref": "optuna", "options": {"seed": 1}}}, "algorithm", "options.seed is set by the spec"),
        ({"execution": {"workers": 2, "scheduler": "tcp://x:8786"}}, "execution", "not both"),
        ({"name": "Bad_Name"}, "name", "lowercase"),
        ({"storage": {"kind": "postgres", "dsn": "mysql://x"}}, "storage.postgres.dsn", "postgresql://"),
    ],
)
def test_invalid_specs_explain_the_fix(toy_study, change: dict, field: str, words: str) -> None:
    problems = _problems(toy_study(**change))
    assert field in problems, problems
    assert words in problems[field]


def test_targets_need_distinct_names_and_asof_among_keys(toy_study) -> None:
    target = {"output": "line", "observed": "observed.csv", "keys": ["t"], "values": ["y"], "loss": "mse"}
    problems = _problems(toy_study(targets=[target, target]))
    assert "more than once" in problems[""]
    problems = _problems(toy_study(targets=[{**target, "asof": "day"}]))
    assert "must be one of keys" in problems["targets[0]"]


def test_observed_file_problems_are_study_errors(toy_study) -> None:
    path = toy_study(
        targets=[{"output": "line", "observed": "missing.csv", "keys": ["t"], "values": ["y"], "loss": "mse"}]
    )
    with pytest.raises(StudyError, match=r"missing\.csv does not exist"):
        resolve_study(load_study(path), path)


def test_storage_urls(tmp_path: Path, toy_study, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toy_study()
    store = RunStore(str(tmp_path / "runs"), "r1")
    spec = load_study(path)
    url = storage_url(spec, path, store, tmp_path / "state")
    assert url == f"journal://{tmp_path / 'runs' / 'r1' / 'optuna.journal'}"
    # An object-store run directory cannot hold a journal: it goes to the local state directory.
    remote = RunStore("memory://runs", "r2")
    assert (
        storage_url(spec, path, remote, tmp_path / "state")
        == f"journal://{tmp_path / 'state' / 'r2' / 'optuna.journal'}"
    )
    sqlite = StudySpec.model_validate({**spec.model_dump(by_alias=True), "storage": {"kind": "sqlite", "path": "s.db"}})
    assert storage_url(sqlite, path, store, tmp_path) == f"sqlite:///{path.parent / 's.db'}"
    pg = StudySpec.model_validate(
        {**spec.model_dump(by_alias=True), "storage": {"kind": "postgres", "dsn": "postgresql://u:secret@h:5433/db"}}
    )
    assert storage_url(pg, path, store, tmp_path) == "postgresql+psycopg://u:secret@h:5433/db"
    env_pg = StudySpec.model_validate({**spec.model_dump(by_alias=True), "storage": {"kind": "postgres"}})
    for name in ("PGHOST", "PGUSER", "PGDATABASE", "PGPORT", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(StudyError, match="PGHOST, PGUSER, PGDATABASE"):
        storage_url(env_pg, path, store, tmp_path)
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("PGUSER", "optuna")
    monkeypatch.setenv("PGDATABASE", "optuna")
    monkeypatch.setenv("PGPASSWORD", "s3cret")
    url = postgres_url_from_env()
    assert url == "postgresql+psycopg://optuna@db.internal:5432/optuna"
    assert "s3cret" not in url  # libpq reads PGPASSWORD itself: the password is never in a string we keep


def test_redact_dsn() -> None:
    assert redact_dsn("postgresql+psycopg://u:pa:ss@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert redact_dsn("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_dsn("host=h password=abc dbname=x") == "host=h password=*** dbname=x"
    assert redact_dsn(None) is None
