"""Kubernetes manifests from files and directories: multi-document YAML, JSON, ``kind: List``.

Every object keeps the file and line it came from, so messages can point at it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(Exception):
    """Input that cannot be read as manifests; the message names the file and line."""


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any]
    file: str
    line: int  # 1-based line where the object's document (or List item) starts


def _files(path: str) -> list[str]:
    if os.path.isdir(path):
        found = [
            os.path.join(root, name)
            for root, _, names in os.walk(path)
            for name in names
            if name.endswith(MANIFEST_SUFFIXES)
        ]
        return sorted(found)
    if not os.path.exists(path):
        raise ManifestError(f"{path}: no such file or directory")
    return [path]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path}: not UTF-8 text (byte {e.start}): {e.reason}") from e
    except OSError as e:
        raise ManifestError(f"{path}: cannot read: {e.strerror or e}") from e


def _expand(obj: Any, file: str, line: int, item_lines: list[int]) -> Iterator[Manifest]:
    """One manifest per object; a ``kind: List`` gives its items."""
    if not isinstance(obj, dict):
        raise ManifestError(
            f"{file}:{line}: the document is a {type(obj).__name__}, not an object with "
            "apiVersion and kind"
        )
    if obj.get("kind") == "List" or (
        isinstance(obj.get("kind"), str) and obj["kind"].endswith("List") and "items" in obj
    ):
        entries = obj.get("items") or []
        if not isinstance(entries, list):
            raise ManifestError(f"{file}:{line}: `items` of a List must be an array")
        for i, item in enumerate(entries):
            item_line = item_lines[i] if i < len(item_lines) else line
            yield from _expand(item, file, item_line, [])
        return
    yield Manifest(obj, file, line)


def _item_lines(node: yaml.Node | None) -> list[int]:
    """Start lines of the entries of a List document's ``items``."""
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if (
            isinstance(key, yaml.ScalarNode)
            and key.value == "items"
            and isinstance(value, yaml.SequenceNode)
        ):
            return [child.start_mark.line + 1 for child in value.value]
    return []


def _load_yaml(text: str, file: str) -> Iterator[Manifest]:
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            obj = loader.construct_document(node)
            if obj is None:
                continue  # an empty document, e.g. a trailing ---
            line = node.start_mark.line + 1 if node is not None else 1
            yield from _expand(obj, file, line, _item_lines(node))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        what = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise ManifestError(f"{where}: invalid YAML: {what}") from e
    except yaml.YAMLError as e:
        raise ManifestError(f"{file}: invalid YAML: {e}") from e
    finally:
        loader.dispose()


def _load_json(text: str, file: str) -> Iterator[Manifest]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{file}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    except RecursionError as e:
        raise ManifestError(f"{file}: invalid JSON: nested too deeply") from e
    start = len(text) - len(text.lstrip())
    yield from _expand(obj, file, text.count("\n", 0, start) + 1, [])


def load_manifests(paths: list[str] | list[Path] | list[str | Path]) -> list[Manifest]:
    """Every object in the files and directories (recursively, sorted), in order."""
    out: list[Manifest] = []
    for p in paths:
        for file in _files(os.fspath(p)):
            text = _read(file)
            loader = _load_json if file.endswith(".json") else _load_yaml
            out.extend(loader(text, file))
    return out
