from typing import Literal

import pytest

from modelops.specs.base import SpecError, SpecModel, load_spec, parse_spec


class Inner(SpecModel):
    size: int


class Doc(SpecModel):
    kind: Literal["Thing"]
    name: str
    inner: Inner
    items: list[Inner] = []


def test_valid():
    doc = parse_spec(Doc, {"kind": "Thing", "name": "a", "inner": {"size": 1}})
    assert doc.inner.size == 1


def test_errors_name_every_field():
    with pytest.raises(SpecError) as info:
        parse_spec(
            Doc, {"kind": "Other", "inner": {"size": "x", "colour": 1}, "items": [{"size": 2}, {}]}, source="a.yaml"
        )
    text = str(info.value)
    paths = [p for p, _ in info.value.problems]
    assert "a.yaml" in text
    assert "kind" in paths and "name" in paths
    assert "inner.size" in paths and "inner.colour" in paths
    assert "items[1].size" in paths
    assert "unknown key" in text and "required" in text


def test_yaml_file_errors(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(Doc, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Thing\nname: [unclosed\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(Doc, bad)
    not_mapping = tmp_path / "list.yaml"
    not_mapping.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(Doc, not_mapping)


def test_models_are_frozen():
    doc = parse_spec(Doc, {"kind": "Thing", "name": "a", "inner": {"size": 1}})
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen assignment
        doc.name = "b"  # type: ignore[misc]
