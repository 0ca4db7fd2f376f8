"""Building a study from a dict, a YAML file or typed spec objects, and the YAML the runner reads for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import modelops
from modelops.specs.study import ModelSpec, ParameterSpec, StudySpec, TargetSpec

from .conftest import sir_study


def test_a_dict_study_runs_from_a_file_whose_paths_are_absolute(sir_project: Path) -> None:
    study = modelops.study(sir_study(storage={"kind": "sqlite", "path": "state/optuna.db"}), base_dir=sir_project)
    assert study.base_dir == sir_project.resolve() and study.source is None
    with study.spec_file() as path:
        written = yaml.safe_load(path.read_text())
        reread = modelops.Study.from_yaml(path)
    assert not path.exists()  # a temporary file, gone after the run
    assert written["targets"][0]["observed"] == str(sir_project / "data" / "observed.csv")
    # The model module sits next to the notebook/script: that folder goes on the workers' sys.path.
    assert written["model"]["project"] == str(sir_project)
    assert written["storage"]["path"] == str(sir_project / "state" / "optuna.db")
    assert written["parameters"]["fixed"] == {"population": 100000, "initial_infected": 100, "days": 100}
    assert reread.spec.model == ModelSpec(fn_ref="sir_model:simulate", project=str(sir_project))
    assert reread.spec.parameters == study.spec.parameters
    assert reread.spec.fixed_parameters == study.spec.fixed_parameters
    assert reread.spec.algorithm == study.spec.algorithm
    assert reread.name == "sir-api"


def test_relative_paths_default_to_the_working_directory(sir_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sir_project)
    study = modelops.Study.from_dict(sir_study(model={"fn_ref": "sir_model:simulate", "project": "."}))
    with study.spec_file() as path:
        written = yaml.safe_load(path.read_text())
    assert written["model"]["project"] == str(sir_project)


def test_a_yaml_study_runs_from_its_own_file() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "sir" / "study.yaml"
    study = modelops.study(example)
    assert study.source == example and study.name == "sir"
    with study.spec_file() as path:
        assert path == example


def test_typed_objects_build_the_same_study(sir_project: Path) -> None:
    spec = StudySpec(
        apiVersion="modelops/v1",
        kind="Study",
        name="sir-api",
        model=ModelSpec(fn_ref="sir_model:simulate"),
        parameters={"beta": ParameterSpec(low=0.1, high=1.0, log=True)},
        parameters_fixed={"gamma": 0.1},
        targets=[
            TargetSpec(
                name="incidence",
                output="incidence",
                observed="data/observed.csv",
                keys=["day"],
                values=["cases"],
                loss="mse",
            )
        ],
    )
    study = modelops.study(spec, base_dir=sir_project)
    assert study.to_dict()["parameters"] == {
        "beta": {"low": 0.1, "high": 1.0, "log": True, "type": "float"},
        "fixed": {"gamma": 0.1},
    }
    assert modelops.Study.from_dict(study.to_dict(), base_dir=sir_project).spec == spec


def test_replace_changes_the_budget_and_revalidates(sir_project: Path) -> None:
    study = modelops.study(sir_study(), base_dir=sir_project)
    smaller = study.replace(n_trials=3, replicates=1)
    assert smaller.spec.algorithm.n_trials == 3 and smaller.spec.replicates == 1
    assert study.spec.algorithm.n_trials == 10  # the original is untouched
    with pytest.raises(modelops.SpecError, match="replicates"):
        study.replace(replicates=0)


def test_an_invalid_dict_names_the_field() -> None:
    bad = sir_study()
    bad["parameters"]["beta"]["lwo"] = 0.2
    with pytest.raises(modelops.SpecError) as info:
        modelops.study(bad)
    assert "parameters.beta.lwo" in str(info.value)


def test_something_else_is_refused_with_what_a_study_can_be() -> None:
    with pytest.raises(TypeError, match="a dict, a YAML path, a StudySpec"):
        modelops.study(42)  # type: ignore[arg-type]


def test_a_yaml_study_with_a_changed_budget_keeps_its_name_and_paths(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "sir" / "study.yaml"
    data = yaml.safe_load(example.read_text())
    del data["name"]
    copy = tmp_path / "my-sir.yaml"
    copy.write_text(
        yaml.safe_dump(
            {
                **data,
                "model": {"fn_ref": "sir_model:simulate", "project": str(example.parent)},
                "targets": [{**data["targets"][0], "observed": str(example.parent / "data" / "observed.csv")}],
            }
        )
    )
    study = modelops.study(copy).replace(n_trials=5)
    assert study.source is None and study.name == "my-sir" and study.spec.algorithm.n_trials == 5
    with study.spec_file() as path:
        assert path.stem == "my-sir"
        assert yaml.safe_load(path.read_text())["model"]["project"] == str(example.parent)
