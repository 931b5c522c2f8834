"""The dashboard's numbers and charts as geometry: Swedish number forms, round axis ticks, and a
zero that never looks like no data."""

from __future__ import annotations

import itertools

import pytest

from adapter.api.charts import ZERO_BAR, axis, bar_chart, number, quantity

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (9300, 0, f"9{NBSP}300"),
        (18600.0, 0, f"18{NBSP}600"),
        (1234567, 0, f"1{NBSP}234{NBSP}567"),
        (1.5, 1, "1,5"),
        (2.0, 1, "2"),
        (0.0, 1, "0"),
        (-0.04, 1, "0"),
        (-2.5, 1, "−2,5"),
        (1250.25, 1, f"1{NBSP}250,2"),
        (None, 1, "–"),
    ],
)
def test_numbers_in_swedish_form(value: float | None, decimals: int, text: str) -> None:
    assert number(value, decimals) == text


def test_quantities_agree_in_number() -> None:
    assert quantity(1, "dagar", 0) == f"1{NBSP}dag"
    assert quantity(1.0, "dagar") == f"1{NBSP}dag"
    assert quantity(2, "dagar", 0) == f"2{NBSP}dagar"
    assert quantity(0, "dagar", 0) == f"0{NBSP}dagar"
    assert quantity(1.5, "dagar") == f"1,5{NBSP}dagar"
    assert quantity(9300, "kr", 0) == f"9{NBSP}300{NBSP}kr"


@pytest.mark.parametrize(
    ("largest", "whole", "top", "step"),
    [
        (5, False, 5, 1),  # 0, 1, 2, 3, 4, 5 — never 1,25 / 2,5 / 3,75
        (3.8, False, 4, 1),
        (7, False, 8, 2),
        (12, False, 15, 5),
        (100, False, 100, 20),
        (0.42, False, 0.5, 0.1),
        (0.42, True, 1, 1),  # counts: no fractional ticks
        (2, True, 2, 1),
        (0, False, 1, 1),
    ],
)
def test_axes_have_round_steps(largest: float, whole: bool, top: float, step: float) -> None:
    assert axis(largest, whole=whole) == (top, step)


def test_ticks_are_round_and_even() -> None:
    chart = bar_chart("c", "T", "D", ["v. 1", "v. 2"], [("Median", [1.2, 5.0])], "dagar")
    assert [t.text for t in chart.y_ticks] == ["0", "1", "2", "3", "4", "5"]
    gaps = {round(b.position - a.position, 2) for a, b in itertools.pairwise(chart.y_ticks)}
    assert len(gaps) == 1
    share = bar_chart("s", "T", "D", ["v. 1"], [("Andel", [50.0])], "%", maximum=100.0)
    assert [t.text for t in share.y_ticks] == ["0", "20", "40", "60", "80", "100"]
    fine = bar_chart("f", "T", "D", ["v. 1"], [("Median", [0.42])], "dagar")
    assert [t.text for t in fine.y_ticks] == ["0", "0,1", "0,2", "0,3", "0,4", "0,5"]


def test_a_zero_is_a_low_bar_and_no_data_a_gap() -> None:
    chart = bar_chart(
        "s", "T", "D", ["v. 1", "v. 2", "v. 3"], [("Andel", [0.0, None, 100.0])], "%", maximum=100
    )
    zero, full = chart.bars
    assert zero.value == 0 and zero.height == ZERO_BAR > 0
    assert full.height > zero.height
    [gap] = chart.gaps
    assert gap.title == "v. 2, Andel: inga data"
    assert chart.rows == (("v. 1", "0"), ("v. 2", "–"), ("v. 3", "100"))
    assert zero.title == f"v. 1, Andel: 0{NBSP}%"
    days = bar_chart("d", "T", "D", ["v. 1"], [("Median", [1.0])], "dagar")
    assert days.bars[0].title == f"v. 1, Median: 1{NBSP}dag"
    nothing = bar_chart("n", "T", "D", ["v. 1"], [("Andel", [None])], "%", maximum=100)
    assert not nothing.has_data  # a chart without any value says so in words
