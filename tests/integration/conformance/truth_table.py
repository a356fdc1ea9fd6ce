"""Hand-written connectivity truth tables: parse, compare, and show a readable diff.

A table is text in the shape upstream's ``TruthTable.PrettyPrint`` prints: a header
naming the destination pods, then one row per source pod; ``.`` means the
connection is allowed, ``X`` that it is blocked::

          x/a x/b y/a
    x/a    X   .   .
    x/b    X   .   .
    y/a    X   .   .

Rows are "from", columns are "to". A leading ``-`` or ``from\\to`` corner token
in the header is accepted and ignored. Blank lines and ``#`` comments are skipped.

On localnet networks addresses outside the cluster, written as bare IP addresses, are
columns and rows too; an external-to-external cell is never probed and, like loopback,
only documents (nothing isolates the outside: write ``.``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

ALLOWED = "."
BLOCKED = "X"
_CORNER_TOKENS = ("-", "from\\to", "from/to")

ProbeProtocol = Literal["TCP", "UDP", "SCTP"]


class TruthTableError(ValueError):
    """A hand-written table is malformed; the message names the line and what to fix."""


@dataclass(frozen=True, order=True)
class Probe:
    """One destination port, protocol and address family that a scenario probes."""

    port: int
    protocol: ProbeProtocol = "TCP"
    family: int = 4

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}" + ("" if self.family == 4 else f" IPv{self.family}")


@dataclass(frozen=True)
class TruthTable:
    """Connectivity between pods: ``cells[(source, destination)]`` is True when allowed."""

    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    cells: Mapping[tuple[str, str], bool]

    def allowed(self, source: str, destination: str) -> bool:
        return self.cells[(source, destination)]

    @classmethod
    def from_pairs(cls, pods: Iterable[str], allowed: Mapping[tuple[str, str], bool]) -> TruthTable:
        """A square table over ``pods``; every ordered pair must be present in ``allowed``."""
        names = tuple(pods)
        missing = [f"{s} -> {d}" for s in names for d in names if (s, d) not in allowed]
        if missing:
            raise TruthTableError(
                f"observed connectivity lacks {len(missing)} pair(s), e.g. {missing[:3]}: "
                "every ordered pair of pods must be probed"
            )
        return cls(names, names, {(s, d): allowed[(s, d)] for s in names for d in names})


def parse_table(text: str) -> TruthTable:
    """Parse a hand-written table; raise TruthTableError naming the offending line."""
    lines = [
        (number, line.split("#", 1)[0].split())
        for number, line in enumerate(text.splitlines(), start=1)
    ]
    rows = [(number, tokens) for number, tokens in lines if tokens]
    if not rows:
        raise TruthTableError("empty truth table: write a header line naming the destination pods")
    header_line, header = rows[0]
    if header[0] in _CORNER_TOKENS:
        header = header[1:]
    destinations = tuple(header)
    if not destinations:
        raise TruthTableError(f"line {header_line}: the header names no destination pods")
    duplicated = sorted({d for d in destinations if destinations.count(d) > 1})
    if duplicated:
        raise TruthTableError(
            f"line {header_line}: destination(s) {', '.join(duplicated)} appear twice in the header"
        )
    sources: list[str] = []
    cells: dict[tuple[str, str], bool] = {}
    for number, tokens in rows[1:]:
        source, marks = tokens[0], tokens[1:]
        if source in sources:
            raise TruthTableError(f"line {number}: source {source} has a second row")
        if len(marks) != len(destinations):
            raise TruthTableError(
                f"line {number}: row {source} has {len(marks)} cell(s) but the header names "
                f"{len(destinations)} destination(s); "
                f"write one '{ALLOWED}' or '{BLOCKED}' per column"
            )
        for destination, mark in zip(destinations, marks, strict=True):
            if mark not in (ALLOWED, BLOCKED):
                raise TruthTableError(
                    f"line {number}: cell {source} -> {destination} is {mark!r}; "
                    f"use '{ALLOWED}' (allowed) or '{BLOCKED}' (blocked)"
                )
            cells[(source, destination)] = mark == ALLOWED
        sources.append(source)
    if not sources:
        raise TruthTableError(f"line {header_line}: the table has a header but no rows")
    return TruthTable(tuple(sources), destinations, cells)


def render_table(table: TruthTable, indent: str = "") -> str:
    width = max(len(name) for name in (*table.sources, *table.destinations, "-"))
    header = indent + " ".join(n.rjust(width) for n in ("-", *table.destinations))
    lines = [header]
    for source in table.sources:
        marks = (ALLOWED if table.cells[(source, d)] else BLOCKED for d in table.destinations)
        lines.append(indent + " ".join(x.rjust(width) for x in (source, *marks)))
    return "\n".join(lines)


@dataclass(frozen=True)
class Mismatch:
    source: str
    destination: str
    expected: bool
    observed: bool

    def __str__(self) -> str:
        word = {True: "allowed", False: "blocked"}
        hole = "  <-- SECURITY HOLE" if self.observed and not self.expected else ""
        return (
            f"{self.source} -> {self.destination}: expected {word[self.expected]}, "
            f"observed {word[self.observed]}{hole}"
        )


def compare(
    expected: TruthTable, observed: TruthTable, ignore_loopback: bool = True
) -> list[Mismatch]:
    """Every cell where ``observed`` differs from ``expected``.

    Loopback (a pod to itself) is skipped by default, as upstream does: its semantics
    are undefined (kubernetes/kubernetes#95879). The pods of the two tables must agree.
    """
    if set(expected.sources) != set(observed.sources) or set(expected.destinations) != set(
        observed.destinations
    ):
        raise TruthTableError(
            "expected and observed tables cover different pods: "
            f"expected sources {list(expected.sources)} "
            f"destinations {list(expected.destinations)}, "
            f"observed sources {list(observed.sources)} destinations {list(observed.destinations)}"
        )
    out: list[Mismatch] = []
    for s in expected.sources:
        for d in expected.destinations:
            if ignore_loopback and s == d:
                continue
            want, got = expected.cells[(s, d)], observed.cells[(s, d)]
            if want != got:
                out.append(Mismatch(s, d, want, got))
    return out


def render_diff(
    expected: TruthTable,
    observed: TruthTable,
    title: str = "",
    ignore_loopback: bool = True,
) -> str:
    """Expected, observed, and a grid marking differences, for an assertion message.

    In the grid ``+`` is allowed-but-should-be-blocked, ``-`` blocked-but-should-be-allowed,
    ``~`` an ignored loopback cell, and a blank an agreeing cell.
    """
    mismatches = compare(expected, observed, ignore_loopback)
    wrong = {(m.source, m.destination): m for m in mismatches}
    width = max(len(n) for n in (*expected.sources, *expected.destinations, "-"))
    grid = [" ".join(n.rjust(width) for n in ("-", *expected.destinations))]
    for s in expected.sources:
        marks = []
        for d in expected.destinations:
            m = wrong.get((s, d))
            if ignore_loopback and s == d:
                marks.append("~")
            elif m is None:
                marks.append(" ")
            else:
                marks.append("+" if m.observed else "-")
        grid.append(" ".join(x.rjust(width) for x in (s, *marks)))
    parts = [
        f"{title}: {len(mismatches)} cell(s) differ"
        if title
        else f"{len(mismatches)} cell(s) differ",
        "expected:",
        render_table(expected, "  "),
        "observed (ovn-trace; loopback and external-to-external cells are not probed "
        "and copy the expected value):",
        render_table(observed, "  "),
        "difference (+ allowed but expected blocked, - blocked but expected allowed):",
        "\n".join("  " + g for g in grid),
        *("  " + str(m) for m in mismatches),
    ]
    return "\n".join(parts)
