"""Label selector semantics that other matchers get wrong."""

from __future__ import annotations

from mnp.model import LabelSelector, Requirement
from mnp.selectors import is_empty, matches


def test_notin_matches_a_missing_key() -> None:
    sel = LabelSelector(match_expressions=(Requirement("tier", "NotIn", ("db",)),))
    assert matches(sel, {})
    assert matches(sel, {"tier": "web"})
    assert not matches(sel, {"tier": "db"})


def test_empty_value_match_label_needs_the_key() -> None:
    sel = LabelSelector(match_labels=(("app", ""),))
    assert not matches(sel, {})
    assert matches(sel, {"app": ""})
    assert not matches(sel, {"app": "x"})


def test_exists_and_does_not_exist() -> None:
    exists = LabelSelector(match_expressions=(Requirement("k", "Exists"),))
    absent = LabelSelector(match_expressions=(Requirement("k", "DoesNotExist"),))
    assert matches(exists, {"k": ""}) and not matches(exists, {})
    assert matches(absent, {}) and not matches(absent, {"k": "v"})


def test_in_needs_presence_and_all_terms_are_anded() -> None:
    sel = LabelSelector(
        match_labels=(("app", "a"),),
        match_expressions=(Requirement("env", "In", ("prod", "stage")),),
    )
    assert matches(sel, {"app": "a", "env": "prod"})
    assert not matches(sel, {"app": "a"})
    assert not matches(sel, {"env": "prod"})


def test_empty_selector_matches_everything() -> None:
    assert is_empty(LabelSelector())
    assert matches(LabelSelector(), {}) and matches(LabelSelector(), {"a": "b"})
