"""Markers by directory: ``pytest -m unit|integration|e2e`` selects exactly that directory.

A test's kind is where it lives, so no file can forget its marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "integration", "e2e")


def kind_of(path: Path) -> str | None:
    """The directory kind (``unit``, ``integration``, ``e2e``) of a test file, if any."""
    try:
        top = path.resolve().relative_to(_TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return top if top in KINDS else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = kind_of(item.path)
        if kind is not None:
            item.add_marker(getattr(pytest.mark, kind))
