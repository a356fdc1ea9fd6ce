"""The hand-written truth-table parser and the diff it prints (pure; no OVN needed)."""

from __future__ import annotations

import pytest

from .truth_table import (
    Mismatch,
    Probe,
    TruthTable,
    TruthTableError,
    compare,
    parse_table,
    render_diff,
    render_table,
)

SMALL = """
          x/a x/b y/a
    x/a    X   .   .
    x/b    X   .   .
    y/a    X   .   .
"""


def test_parse_reads_rows_as_sources_and_columns_as_destinations() -> None:
    table = parse_table(SMALL)
    assert table.sources == ("x/a", "x/b", "y/a")
    assert table.destinations == ("x/a", "x/b", "y/a")
    assert table.allowed("x/b", "y/a") is True
    assert table.allowed("y/a", "x/a") is False
    assert table.allowed("x/a", "x/b") is True


def test_parse_accepts_corner_token_comments_and_blank_lines() -> None:
    table = parse_table(
        """
        # ingress to x/a is blocked
        -    x/a x/b
        x/a   X   .   # a comment after the cells

        x/b   X   .
        """
    )
    assert table.destinations == ("x/a", "x/b")
    assert table.allowed("x/b", "x/a") is False


def test_parse_allows_rectangular_tables() -> None:
    table = parse_table("from\\to y/a\nx/a .\nx/b X\n")
    assert table.sources == ("x/a", "x/b")
    assert table.destinations == ("y/a",)
    assert table.allowed("x/b", "y/a") is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty truth table"),
        ("  x/a x/b\n", "no rows"),
        ("  x/a x/b\nx/a . .\nx/b .\n", "line 3: row x/b has 1 cell(s) but the header names 2"),
        ("  x/a x/b\nx/a . o\n", "line 2: cell x/a -> x/b is 'o'"),
        ("  x/a x/a\nx/a . .\n", "x/a appear twice"),
        ("  x/a\nx/a .\nx/a X\n", "line 3: source x/a has a second row"),
        ("-\nx/a .\n", "names no destination"),
    ],
)
def test_parse_rejects_malformed_tables_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(TruthTableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_table(text)


def test_render_round_trips() -> None:
    table = parse_table(SMALL)
    assert parse_table(render_table(table)) == table


def test_compare_ignores_loopback_by_default() -> None:
    expected = parse_table(SMALL)
    observed = parse_table(SMALL.replace("x/a    X", "x/a    ."))
    assert compare(expected, observed) == []
    assert compare(expected, observed, ignore_loopback=False) == [
        Mismatch("x/a", "x/a", expected=False, observed=True)
    ]


def test_compare_reports_each_differing_cell() -> None:
    expected = parse_table(SMALL)
    observed = parse_table(
        """
              x/a x/b y/a
        x/a    X   X   .
        x/b    X   .   .
        y/a    .   .   .
        """
    )
    assert compare(expected, observed) == [
        Mismatch("x/a", "x/b", expected=True, observed=False),
        Mismatch("y/a", "x/a", expected=False, observed=True),
    ]


def test_compare_refuses_tables_over_different_pods() -> None:
    with pytest.raises(TruthTableError, match="different pods"):
        compare(parse_table(SMALL), parse_table("  x/a\nx/a .\n"))


def test_diff_shows_both_tables_a_marked_grid_and_one_line_per_cell() -> None:
    expected = parse_table(SMALL)
    observed = parse_table(SMALL.replace("y/a    X", "y/a    ."))
    text = render_diff(expected, observed, title="deny-ingress 80/TCP")
    assert text.splitlines()[0] == "deny-ingress 80/TCP: 1 cell(s) differ"
    assert "expected:" in text and "observed (ovn-trace; loopback" in text
    lines = text.splitlines()
    grid = lines[lines.index(next(x for x in lines if x.startswith("difference"))) + 1 :][:4]
    assert [row.split() for row in grid] == [
        ["-", "x/a", "x/b", "y/a"],
        ["x/a", "~"],
        ["x/b", "~"],
        ["y/a", "+", "~"],
    ]
    assert "y/a -> x/a: expected blocked, observed allowed  <-- SECURITY HOLE" in text


def test_from_pairs_requires_every_pair() -> None:
    pods = ("x/a", "x/b")
    full = {(s, d): True for s in pods for d in pods}
    assert TruthTable.from_pairs(pods, full).allowed("x/b", "x/a") is True
    del full[("x/b", "x/a")]
    with pytest.raises(TruthTableError, match="lacks 1 pair"):
        TruthTable.from_pairs(pods, full)


def test_probe_prints_port_then_protocol() -> None:
    assert str(Probe(81, "SCTP")) == "81/SCTP"
    assert str(Probe(80)) == "80/TCP"
    assert str(Probe(80, "UDP", family=6)) == "80/UDP IPv6"


def test_every_upstream_scenario_table_is_a_full_table_over_the_nine_pods() -> None:
    from .scenarios_layer2 import PODS, SCENARIOS

    for scenario in SCENARIOS:
        for i, step in enumerate(scenario.steps, start=1):
            assert step.expect, f"{scenario.id} step {i} probes nothing"
            for probe, text in step.expect.items():
                table = parse_table(text)
                where = f"{scenario.id} step {i} {probe}"
                assert table.sources == PODS, where
                assert table.destinations == PODS, where
