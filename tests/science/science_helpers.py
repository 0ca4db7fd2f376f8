"""Study specs for the science tests, written into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SIR = REPO / "examples" / "sir"


def write_study(folder: Path, spec: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def sir_abc_spec(**algorithm_options: Any) -> dict[str, Any]:
    """The examples/sir ABC-SMC study with absolute paths, so it can be written anywhere."""
    spec = yaml.safe_load((SIR / "abc.yaml").read_text())
    spec["model"]["project"] = str(SIR)
    spec["targets"][0]["observed"] = str(SIR / "data" / "observed.csv")
    spec["algorithm"]["options"].update(algorithm_options)
    return spec
