"""The files source loads each file on its own: a bad or empty file keeps its last objects,
a removed file's objects go, and the other files' changes always apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from enforcer.sources.files import PerFileObjects
from mnp.manifests import ManifestError

A = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
B = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def _names(objects: list[dict[str, object]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects)  # type: ignore[index]


def test_each_file_keeps_its_last_good_objects(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(A)
    (tmp_path / "b.yaml").write_text(B.format(name="b"))
    files = PerFileObjects([tmp_path])
    assert _names(files.load()) == ["a", "b"]

    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: [\n")  # a syntax error
    (tmp_path / "b.yaml").write_text(B.format(name="b2"))  # beside a good change
    assert _names(files.load()) == ["a", "b2"]
    assert "a.yaml:3:1: invalid YAML" in files.problems[tmp_path / "a.yaml"]
    assert "keeping the 1 objects it last gave" in files.problems[tmp_path / "a.yaml"]

    (tmp_path / "a.yaml").write_bytes(b"")  # truncated: still unreadable
    assert _names(files.load()) == ["a", "b2"]
    assert "the file is empty" in files.problems[tmp_path / "a.yaml"]

    (tmp_path / "a.yaml").write_text("# no objects left, on purpose\n")  # content: read
    assert _names(files.load()) == ["b2"]
    assert files.problems == {}

    (tmp_path / "b.yaml").unlink()  # removed: its objects go
    assert _names(files.load()) == []


def test_a_named_path_that_does_not_exist_fails_the_load(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or directory"):
        PerFileObjects([tmp_path / "typo.yaml"]).load()
