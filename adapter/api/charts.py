"""Bar charts as geometry for inline SVG, computed on the server: the page needs no script and
nothing from elsewhere. Each chart also carries its numbers as a table, for screen readers and
for anyone who wants the figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 40


@dataclass(frozen=True)
class Bar:
    series: int  # index into Chart.series: picks the colour
    x: float
    y: float
    width: float
    height: float
    value: float
    title: str  # tooltip and accessible name: "v. 47, Median: 1,5 dagar"


@dataclass(frozen=True)
class Gap:
    """A category a series has no value for: marked, so that no data never looks like zero."""

    x: float
    title: str  # "v. 47, Median: inga data"


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    unit: str
    series: tuple[str, ...]
    categories: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the table: one row per category, one column per series
    bars: tuple[Bar, ...]
    gaps: tuple[Gap, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    values: tuple[tuple[float | None, ...], ...] = ()  # per series, one per category
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def has_data(self) -> bool:
        return bool(self.bars)

    def to_json(self) -> dict[str, Any]:
        """The chart's numbers for scripts: null where a series has no value (no data, not 0)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "unit": self.unit,
            "categories": list(self.categories),
            "series": [{"name": n, "values": list(v)} for n, v in zip(self.series, self.values, strict=True)],
        }


NO_DATA = "inga data"
# Units whose singular differs: "1 dag", "1,5 dagar", "0 dagar".
_SINGULAR = {"dagar": "dag", "möten": "möte", "avvikelser": "avvikelse"}
# A bar for zero is this tall (in the chart's units of 1/WIDTH), so that 0 % reads as a value.
ZERO_BAR = 2.0


def number(value: float | None, decimals: int = 1) -> str:
    """Swedish number format: decimal comma, a (non-breaking) space between thousands, − for minus,
    – for no value."""
    if value is None:
        return "–"
    text = f"{value:,.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", "-0."):
        text = "0"
    return text.replace(",", "\u00a0").replace(".", ",").replace("-", "−")


def quantity(value: float | None, unit: str, decimals: int = 1) -> str:
    """A number with its unit in the right form: "1 dag", "2 dagar", "9 300 kr"."""
    if value is None:
        return "–"
    text = number(value, decimals)
    return f"{text}\u00a0{_SINGULAR.get(unit, unit) if text == '1' else unit}"


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    categories: list[str],
    series: list[tuple[str, list[float | None]]],
    unit: str,
    *,
    maximum: float | None = None,
    whole: bool = False,
) -> Chart:
    """Grouped bars: one group per category, one bar per series; None is no bar but a gap mark (no
    data), zero a low bar. `maximum` fixes the axis (100 for a share); `whole`: the values are
    counts, so the axis has no fractional ticks."""
    values = [v for _, vs in series for v in vs if v is not None]
    top, step = axis(max(values, default=0.0) if maximum is None else maximum, whole=whole)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    bars, gaps = [], []
    for ci, category in enumerate(categories):
        for si, (name, vs) in enumerate(series):
            value = vs[ci]
            if value is None:
                x = LEFT + ci * group_w + group_w * 0.1 + (si + 0.5) * bar_w
                gaps.append(Gap(x=round(x, 2), title=f"{category}, {name}: {NO_DATA}"))
                continue
            h = max(plot_h * (value / top), ZERO_BAR)
            bars.append(
                Bar(
                    series=si,
                    x=round(LEFT + ci * group_w + group_w * 0.1 + si * bar_w, 2),
                    y=round(TOP + plot_h - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    value=value,
                    title=f"{category}, {name}: {quantity(value, unit)}",
                )
            )
    every = max(1, math.ceil(len(categories) / 12))  # keep axis labels from overlapping
    x_ticks = tuple(
        Tick(round(LEFT + (i + 0.5) * group_w, 2), c) for i, c in enumerate(categories) if i % every == 0
    )
    decimals = max(0, -math.floor(math.log10(step)))
    y_ticks = tuple(
        Tick(round(TOP + plot_h * (1 - n * step / top), 2), number(n * step, decimals))
        for n in range(round(top / step) + 1)
    )
    rows = tuple((category, *(number(vs[ci]) for _, vs in series)) for ci, category in enumerate(categories))
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        unit=unit,
        series=tuple(name for name, _ in series),
        categories=tuple(categories),
        rows=rows,
        bars=tuple(bars),
        gaps=tuple(gaps),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        values=tuple(tuple(vs) for _, vs in series),
    )


def axis(largest: float, *, whole: bool = False, intervals: int = 5) -> tuple[float, float]:
    """(top, step) of a value axis from 0: a round step (1, 2 or 5 × 10ⁿ; at least 1 for counts)
    giving at most `intervals` intervals, and the first multiple of it at or above `largest`."""
    if largest <= 0:
        return 1.0, 1.0
    magnitude = 10 ** math.floor(math.log10(largest / intervals))
    step = next(m * magnitude for m in (1, 2, 5, 10) if largest / (m * magnitude) <= intervals)
    if whole:
        step = max(step, 1)
    step = float(f"{step:.12g}")  # 0.1, not 0.1000000000000000055…
    return float(f"{math.ceil(largest / step - 1e-9) * step:.12g}"), step
