"""Bar charts as geometry for inline SVG, computed on the server: the page needs no script and
nothing from elsewhere. Each chart also carries its numbers as a table, for screen readers and
for anyone who wants the figures."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def has_data(self) -> bool:
        return bool(self.bars)


def number(value: float | None, decimals: int = 1) -> str:
    """Swedish number format: decimal comma, – for no value."""
    if value is None:
        return "–"
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
    return text.replace(".", ",").replace("-", "−")


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    categories: list[str],
    series: list[tuple[str, list[float | None]]],
    unit: str,
    *,
    maximum: float | None = None,
) -> Chart:
    """Grouped bars: one group per category, one bar per series; None is no bar (no data)."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = maximum if maximum is not None else _nice_top(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    bars = []
    for ci, category in enumerate(categories):
        for si, (name, vs) in enumerate(series):
            value = vs[ci]
            if value is None:
                continue
            h = plot_h * (value / top) if top else 0.0
            bars.append(
                Bar(
                    series=si,
                    x=round(LEFT + ci * group_w + group_w * 0.1 + si * bar_w, 2),
                    y=round(TOP + plot_h - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    value=value,
                    title=f"{category}, {name}: {number(value)} {unit}",
                )
            )
    every = max(1, math.ceil(len(categories) / 12))  # keep axis labels from overlapping
    x_ticks = tuple(
        Tick(round(LEFT + (i + 0.5) * group_w, 2), c) for i, c in enumerate(categories) if i % every == 0
    )
    y_ticks = tuple(Tick(round(TOP + plot_h * (1 - f / 4), 2), number(top * f / 4)) for f in range(5))
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
        x_ticks=x_ticks,
        y_ticks=y_ticks,
    )


def _nice_top(value: float) -> float:
    """A round axis maximum at or above the largest value (1, 2, 2.5, 5 × 10ⁿ)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)
