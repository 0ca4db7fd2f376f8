"""A study from a dict, a YAML file or typed spec objects, and the YAML file the runner reads for it.

The runner (``modelops.runner.run_study``) takes a YAML path and resolves relative paths in it (observed data,
``model.project``, a bundle directory, a SQLite file) against that file's directory. A study built in Python has no
file, so its relative paths are resolved against ``base_dir`` (default: the working directory when the study was
built, which in Jupyter is the notebook's folder) and written, absolute, into a temporary YAML file for the run.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelops.specs.base import parse_spec
from modelops.specs.study import SqliteStorage, StudySpec, load_study


@dataclass(frozen=True)
class Study:
    """A validated study (:class:`modelops.specs.study.StudySpec`) and where its relative paths point.

    ``source`` is the YAML file it was read from, if any; such a study runs from that file unchanged.
    """

    spec: StudySpec
    base_dir: Path
    source: Path | None = None
    default_name: str = "study"  # the study's name when the spec gives none (a YAML file's stem, like the CLI)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Study:
        """Read and validate a study file (raises SpecError naming each bad field)."""
        path = Path(path).expanduser().resolve()
        return cls(load_study(path), path.parent, path, path.stem)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | Path | None = None) -> Study:
        """Validate a study given as a mapping (the YAML's content); ``apiVersion`` and ``kind`` may be left out."""
        data = {"apiVersion": "modelops/v1", "kind": "Study", **copy.deepcopy(dict(data))}
        return cls(parse_spec(StudySpec, data, source="study"), _base(base_dir))

    @classmethod
    def from_spec(cls, spec: StudySpec, base_dir: str | Path | None = None) -> Study:
        """Wrap typed spec objects (StudySpec built from ModelSpec, ParameterSpec, TargetSpec...)."""
        if not isinstance(spec, StudySpec):
            raise TypeError(f"expected a StudySpec, got {type(spec).__name__}")
        return cls(spec, _base(base_dir))

    @property
    def name(self) -> str:
        return self.spec.name or self.default_name

    def to_dict(self) -> dict[str, Any]:
        """The study as the mapping its YAML would hold (relative paths as written)."""
        data = self.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        fixed = data.pop("parameters.fixed", None)
        if fixed:
            data["parameters"]["fixed"] = fixed
        return data

    def replace(self, **changes: Any) -> Study:
        """A copy with top-level fields changed (``replicates=2``, ``outputs="all"``...), validated again.

        ``n_trials`` and ``seed`` change the algorithm's budget and base seed.
        """
        data = self.to_dict()
        algorithm = dict(data.get("algorithm") or {})
        for key in ("n_trials", "seed"):
            if key in changes:
                algorithm[key] = changes.pop(key)
        data["algorithm"] = algorithm
        data.update(changes)
        return Study(parse_spec(StudySpec, data, source="study"), self.base_dir, default_name=self.default_name)

    @contextlib.contextmanager
    def spec_file(self) -> Iterator[Path]:
        """A YAML file the runner can read: the source file itself, or a temporary one with absolute paths."""
        if self.source is not None:
            yield self.source
            return
        with tempfile.TemporaryDirectory(prefix="modelops-study-") as folder:
            path = Path(folder) / f"{self.name}.yaml"
            path.write_text(yaml.safe_dump(self._absolute_dict(), sort_keys=False), encoding="utf-8")
            yield path

    def _absolute_dict(self) -> dict[str, Any]:
        data = self.to_dict()
        model = data["model"]
        # A study built in Python names its model module by reference; the module usually sits next to the
        # notebook or script, so that folder goes on the workers' sys.path unless the study says otherwise.
        model["project"] = str(self._absolute(model.get("project") or "."))
        for target in data["targets"]:
            target["observed"] = str(self._absolute(target["observed"]))
        bundle = data.get("bundle")
        if bundle is not None and (self.base_dir / bundle).is_dir():
            data["bundle"] = str(self._absolute(bundle))
        if isinstance(self.spec.storage, SqliteStorage):
            data["storage"]["path"] = str(self._absolute(self.spec.storage.path))
        return data

    def _absolute(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def _base(base_dir: str | Path | None) -> Path:
    return Path(base_dir).expanduser().resolve() if base_dir is not None else Path.cwd()


def as_study(study: Study | StudySpec | Mapping[str, Any] | str | Path, base_dir: str | Path | None = None) -> Study:
    """Whatever names a study, as a Study: a Study, a StudySpec, a mapping, or the path of a YAML file."""
    if isinstance(study, Study):
        return study
    if isinstance(study, StudySpec):
        return Study.from_spec(study, base_dir)
    if isinstance(study, Mapping):
        return Study.from_dict(study, base_dir)
    if isinstance(study, str | Path):
        return Study.from_yaml(study)
    raise TypeError(f"a study is a dict, a YAML path, a StudySpec or a modelops.Study, not {type(study).__name__}")
