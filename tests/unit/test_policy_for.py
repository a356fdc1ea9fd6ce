# ruff: noqa: E501  (the expected messages are literal table entries)
"""The policy-for annotation: parsing, errors, canonical form."""

from __future__ import annotations

import pytest

from mnp.model import NadKey
from mnp.policy_for import canonical_policy_for, parse_policy_for

PF = "metadata.annotations[k8s.v1.cni.cncf.io/policy-for]"


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("blue", [NadKey("ns1", "blue")]),
        ("other/blue", [NadKey("other", "blue")]),
        (" blue ,  other/red ", [NadKey("ns1", "blue"), NadKey("other", "red")]),
        ("blue,ns1/blue,blue", [NadKey("ns1", "blue")] * 3),
        ("a.b.c", [NadKey("ns1", "a.b.c")]),
    ],
)
def test_valid(value: str, keys: list[NadKey]) -> None:
    assert parse_policy_for(value, "ns1") == (keys, [])


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (
            "a/b/c",
            f"{PF}: Invalid value: \"a/b/c\": entry 1 of 1 must be `name` or `namespace/name`, with at most one '/'",
        ),
        ("/x", f'{PF}: Invalid value: "/x": entry 1 of 1 has an empty namespace'),
        ("x/", f'{PF}: Invalid value: "x/": entry 1 of 1 has an empty name'),
        (
            "a.b/x",
            f'{PF}: Invalid value: "a.b/x": entry 1 of 1: namespace "a.b": must not contain dots',
        ),
    ],
)
def test_invalid_entries(value: str, error: str) -> None:
    keys, errors = parse_policy_for(value, "ns1")
    assert keys == []
    assert [str(e) for e in errors] == [error]


def test_empty_entry_names_its_position_and_keeps_the_good_ones() -> None:
    keys, errors = parse_policy_for("blue,,red", "ns1")
    assert keys == [NadKey("ns1", "blue"), NadKey("ns1", "red")]
    assert len(errors) == 1
    assert str(errors[0]).startswith(f'{PF}: Invalid value: "blue,,red": entry 2 of 3 is empty')


def test_only_ascii_spaces_are_stripped() -> None:
    keys, errors = parse_policy_for("\u00a0blue", "ns1")
    assert keys == [] and len(errors) == 1


@pytest.mark.parametrize("value", [None, "", "  "])
def test_missing_says_which_annotation_and_form(value: str | None) -> None:
    keys, errors = parse_policy_for(value, "ns1")
    assert keys == []
    text = str(errors[0])
    assert text.startswith(f"{PF}: Required value: the policy applies to no network")
    assert "k8s.v1.cni.cncf.io/policy-for" in text and "`namespace/name` or `name`" in text


def test_wrong_type() -> None:
    _, errors = parse_policy_for(["blue"], "ns1")
    assert [str(e) for e in errors] == [
        f'{PF}: Invalid value: "array": {PF} in body must be of type string: "array"'
    ]


def test_canonical_drops_duplicates_and_keeps_order() -> None:
    keys, _ = parse_policy_for(" red, ns1/blue ,other/x, blue,red ", "ns1")
    assert canonical_policy_for(keys) == "ns1/red,ns1/blue,other/x"
    assert canonical_policy_for([]) == ""
