"""Reading manifests: files, directories, multi-document YAML, JSON, Lists; file:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnp.manifests import ManifestError, load_manifests


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_multi_document_yaml_keeps_lines(tmp_path: Path) -> None:
    f = write(
        tmp_path / "a.yaml", "# comment\nkind: A\nmetadata: {name: a}\n---\n---\nkind: B\n---\n"
    )
    got = load_manifests([f])
    assert [(m.obj["kind"], m.file, m.line) for m in got] == [("A", f, 2), ("B", f, 6)]


def test_list_items_are_expanded_with_their_lines(tmp_path: Path) -> None:
    f = write(tmp_path / "l.yml", "kind: List\nitems:\n- kind: A\n- kind: B\n  x: 1\n")
    assert [(m.obj["kind"], m.line) for m in load_manifests([f])] == [("A", 3), ("B", 4)]


def test_json_and_json_list(tmp_path: Path) -> None:
    f = write(tmp_path / "x.json", "\n" + json.dumps({"kind": "List", "items": [{"kind": "A"}]}))
    got = load_manifests([f])
    assert [(m.obj, m.line) for m in got] == [({"kind": "A"}, 2)]


def test_directory_is_sorted_recursive_and_filtered(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "b.yaml", "kind: B\n")
    write(tmp_path / "a.json", '{"kind": "A"}')
    write(tmp_path / "sub" / "c.yml", "kind: C\n")
    write(tmp_path / "notes.txt", "kind: ignored\n")
    assert [m.obj["kind"] for m in load_manifests([str(tmp_path)])] == ["A", "B", "C"]
    assert [m.obj["kind"] for m in load_manifests([tmp_path / "b.yaml"])] == ["B"]


def test_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", "kind: A\n---\nkind: B\nspec:\n  a: [1, 2\n  b: 3\n")
    with pytest.raises(ManifestError, match=r"bad\.yaml:6:\d+: invalid YAML: .*") as e:
        load_manifests([f])
    assert str(e.value).startswith(f"{f}:6:")


def test_json_error_names_file_and_line(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.json", '{\n  "kind": "A",\n}\n')
    with pytest.raises(ManifestError) as e:
        load_manifests([f])
    assert (
        str(e.value) == f"{f}:3:1: invalid JSON: Expecting property name enclosed in double quotes"
    )


def test_non_object_document(tmp_path: Path) -> None:
    f = write(tmp_path / "s.yaml", "kind: A\n---\n- just\n- a list\n")
    with pytest.raises(ManifestError) as e:
        load_manifests([f])
    assert str(e.value) == f"{f}:3: the document is a list, not an object with apiVersion and kind"


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or directory"):
        load_manifests([str(tmp_path / "nope.yaml")])
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"kind: \xff\xfe\n")
    with pytest.raises(ManifestError, match=r"bin\.yaml: not UTF-8 text"):
        load_manifests([str(f)])
